/* The lexical layer of the TOML parser: positions and error messages,
 * whitespace, newlines and comments, UTF-8, keys and the four kinds of
 * strings.
 *
 * Strings are read in two passes: the first validates the body (UTF-8,
 * control characters, escapes) and measures the decoded length, the second
 * decodes into memory of exactly that size. The common string without
 * escapes is one validating scan and one memcpy. */
#include "workloads/toml/internal.h"

#include <stdarg.h>
#include <stdio.h>

/* ==== positions and errors ============================================== */

uint32_t weft__toml_column(weft__toml_parser_t *p, const char *at)
{
    const char *from = p->line_start;
    uint32_t col = 1;
    if (p->col_at >= p->line_start && at >= p->col_at) {
        from = p->col_at;
        col = p->col;
    }
    for (; from < at; from++)
        col += ((unsigned char)*from & 0xC0) != 0x80 && col != UINT32_MAX;
    p->col_at = at;
    p->col = col;
    return col;
}

/* Line and column of any position, by counting from the start: only used
 * for errors, which end the parse. */
static void locate(const weft__toml_parser_t *p, const char *at, unsigned *line, unsigned *col)
{
    const char *ls = p->begin;
    unsigned l = 1;
    for (const char *q = p->begin; q < at;) {
        const char *nl = memchr(q, '\n', (size_t)(at - q));
        if (!nl)
            break;
        l += l != UINT32_MAX;
        q = ls = nl + 1;
    }
    unsigned c = 1;
    for (const char *q = ls; q < at; q++)
        c += ((unsigned char)*q & 0xC0) != 0x80 && c != UINT32_MAX;
    *line = l;
    *col = c;
}

static void set_error(weft__toml_parser_t *p, int code, unsigned line, unsigned col, const char *msg)
{
    weft_toml_error_t *e = p->err;
    if (e->code)
        return; /* the first error wins */
    e->code = code;
    e->line = line;
    e->column = col;
    snprintf(e->message, sizeof e->message, "%s", msg);
    if (line)
        snprintf(e->text, sizeof e->text, "%s:%u:%u: %s", p->doc->name, line, col, msg);
    else
        snprintf(e->text, sizeof e->text, "%s: %s", p->doc->name, msg);
}

int weft__toml_fail(weft__toml_parser_t *p, const char *at, const char *fmt, ...)
{
    char msg[sizeof p->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at > p->end)
        at = p->end;
    unsigned line, col;
    locate(p, at, &line, &col);
    set_error(p, WEFT_EPARSE, line, col, msg);
    return WEFT_EPARSE;
}

int weft__toml_nomem(weft__toml_parser_t *p)
{
    set_error(p, WEFT_ENOMEM, 0, 0, "out of memory");
    return WEFT_ENOMEM;
}

/* ==== UTF-8 =============================================================== */

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at s, or 0 when it
 * is invalid: overlong, a surrogate, past U+10FFFF or cut short. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *e)
{
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0;
    else if (c < 0xE0)
        n = 2;
    else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(e - s) < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static unsigned utf8_decode(const unsigned char *s, size_t n)
{
    if (n == 2)
        return (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu);
    if (n == 3)
        return (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu);
    return (s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu);
}

static size_t utf8_len(unsigned cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static char *utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

const char *weft__toml_found(const weft__toml_parser_t *p, const char *at, char *buf, size_t size)
{
    if (at >= p->end)
        return "end of file";
    unsigned char c = (unsigned char)*at;
    if (c == '\n' || (c == '\r' && at + 1 < p->end && at[1] == '\n'))
        return "end of line";
    if (c == '\r')
        return "a carriage return without a line feed";
    if (c == '\t')
        return "a tab";
    if (c >= 0x20 && c < 0x7F)
        snprintf(buf, size, "'%c'", c);
    else if (c < 0x80)
        snprintf(buf, size, "control character U+%04X", c);
    else {
        size_t n = utf8_seq((const unsigned char *)at, (const unsigned char *)p->end);
        if (n)
            snprintf(buf, size, "'%.*s' (U+%04X)", (int)n, at, utf8_decode((const unsigned char *)at, n));
        else
            snprintf(buf, size, "invalid UTF-8 byte 0x%02X", c);
    }
    return buf;
}

/* ==== whitespace, newlines, comments ===================================== */

void weft__toml_skip_ws(weft__toml_parser_t *p)
{
    const char *s = p->cur;
    while (s < p->end && (*s == ' ' || *s == '\t'))
        s++;
    p->cur = s;
}

static void next_line(weft__toml_parser_t *p, const char *start)
{
    p->line += p->line != UINT32_MAX;
    p->line_start = start;
}

bool weft__toml_newline(weft__toml_parser_t *p)
{
    const char *s = p->cur;
    if (s < p->end && *s == '\n')
        s++;
    else if (p->end - s >= 2 && s[0] == '\r' && s[1] == '\n')
        s += 2;
    else
        return false;
    p->cur = s;
    next_line(p, s);
    return true;
}

int weft__toml_comment(weft__toml_parser_t *p)
{
    const unsigned char *s = (const unsigned char *)p->cur + 1; /* past '#' */
    const unsigned char *e = (const unsigned char *)p->end;
    for (;;) {
        while (s < e && ((*s >= 0x20 && *s < 0x7F) || *s == '\t'))
            s++;
        if (s >= e || *s == '\n' || (*s == '\r' && s + 1 < e && s[1] == '\n'))
            break;
        if (*s >= 0x80) {
            size_t n = utf8_seq(s, e);
            if (!n)
                return weft__toml_fail(p, (const char *)s, "invalid UTF-8 byte 0x%02X in a comment", *s);
            s += n;
            continue;
        }
        if (*s == '\r')
            return weft__toml_fail(p, (const char *)s, "a carriage return without a line feed in a comment");
        return weft__toml_fail(p, (const char *)s, "control character U+%04X is not allowed in a comment", *s);
    }
    p->cur = (const char *)s;
    return 0;
}

int weft__toml_skip_ws_nl(weft__toml_parser_t *p)
{
    for (;;) {
        weft__toml_skip_ws(p);
        if (p->cur < p->end && *p->cur == '#') {
            int rc = weft__toml_comment(p);
            if (rc)
                return rc;
        }
        if (!weft__toml_newline(p))
            return 0;
    }
}

/* ==== strings: pass 1, validate and measure ============================== */

typedef struct str_scan {
    const char *body, *body_end; /* the raw bytes between the quotes */
    size_t len;                  /* decoded length */
    bool escapes;                /* the body needs decoding (basic strings) */
} str_scan_t;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX or \UXXXXXXXX at s ('\\'); the code point, or -1 (error set). */
static long scan_unicode(weft__toml_parser_t *p, const char *s)
{
    int digits = s[1] == 'u' ? 4 : 8;
    unsigned long cp = 0;
    for (int i = 0; i < digits; i++) {
        const char *d = s + 2 + i;
        int h = d < p->end ? hexval((unsigned char)*d) : -1;
        if (h < 0) {
            weft__toml_fail(p, d, "expected %d hex digits after \"\\%c\", found %s", digits, s[1], FOUND(p, d));
            return -1;
        }
        cp = cp << 4 | (unsigned)h;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        weft__toml_fail(p, s, "\"\\%c%.*s\" is not a Unicode scalar value (a surrogate or past U+10FFFF)", s[1], digits,
                        s + 2);
        return -1;
    }
    return (long)cp;
}

/* After `\` + whitespace in a multi-line basic string: the rest of the line
 * must be blank; then all whitespace and newlines are trimmed. Returns the
 * first byte kept, or NULL (error set). */
static const char *line_ending_backslash(weft__toml_parser_t *p, const char *s)
{
    const char *t = s + 1;
    while (t < p->end && (*t == ' ' || *t == '\t'))
        t++;
    if (!(t < p->end && (*t == '\n' || (*t == '\r' && t + 1 < p->end && t[1] == '\n')))) {
        weft__toml_fail(p, s, "a line-ending backslash must be followed by end of line, found %s", FOUND(p, t));
        return NULL;
    }
    for (;;) {
        if (t < p->end && (*t == ' ' || *t == '\t'))
            t++;
        else if (t < p->end && *t == '\n')
            next_line(p, ++t);
        else if (p->end - t >= 2 && t[0] == '\r' && t[1] == '\n')
            next_line(p, t += 2);
        else
            return t;
    }
}

/* Scans a string body after its opening quotes (and, for multi-line
 * strings, the trimmed first newline). q is '"' or '\''. */
static int scan_string(weft__toml_parser_t *p, const char *open, char q, bool multi, str_scan_t *out)
{
    const unsigned char *s = (const unsigned char *)p->cur;
    const unsigned char *e = (const unsigned char *)p->end;
    const char *kind =
        q == '"' ? (multi ? "multi-line string" : "string") : (multi ? "multi-line literal string" : "literal string");
    size_t n = 0;
    out->body = p->cur;
    out->escapes = false;
    for (;;) {
        const unsigned char *run = s;
        while (s < e && ((*s >= 0x20 && *s < 0x7F && *s != q && *s != '\\') || *s == '\t'))
            s++;
        n += (size_t)(s - run);
        if (s >= e) {
            unsigned line, col;
            locate(p, open, &line, &col);
            return weft__toml_fail(p, (const char *)s, "expected %s to close the %s opened at %u:%u, found end of file",
                                   q == '"' ? (multi ? "'\"\"\"'" : "'\"'") : (multi ? "\"'''\"" : "\"'\""), kind, line,
                                   col);
        }
        unsigned c = *s;
        if (c == (unsigned char)q) {
            if (!multi) {
                out->body_end = (const char *)s;
                s++;
                break;
            }
            size_t k = 0;
            while (s + k < e && s[k] == (unsigned char)q && k < 6)
                k++;
            if (k < 3) {
                n += k;
                s += k;
                continue;
            }
            if (k > 5)
                return weft__toml_fail(p, (const char *)s + 5, "too many quotes at the end of a %s", kind);
            n += k - 3;
            out->body_end = (const char *)s + k - 3;
            s += k;
            break;
        }
        if (c == '\\' && q == '"') {
            out->escapes = true;
            const char *b = (const char *)s;
            int c2 = s + 1 < e ? s[1] : -1;
            switch (c2) {
            case 'b':
            case 't':
            case 'n':
            case 'f':
            case 'r':
            case '"':
            case '\\':
                n++;
                s += 2;
                continue;
            case 'u':
            case 'U': {
                long cp = scan_unicode(p, b);
                if (cp < 0)
                    return WEFT_EPARSE;
                n += utf8_len((unsigned)cp);
                s += c2 == 'u' ? 6 : 10;
                continue;
            }
            case ' ':
            case '\t':
            case '\n':
            case '\r':
                if (multi) {
                    const char *t = line_ending_backslash(p, b);
                    if (!t)
                        return WEFT_EPARSE;
                    s = (const unsigned char *)t;
                    continue;
                }
                break;
            default: break;
            }
            if (c2 >= 0x21 && c2 < 0x7F)
                return weft__toml_fail(p, b, "invalid escape sequence \"\\%c\" in a %s", c2, kind);
            return weft__toml_fail(p, b, "expected an escape sequence after '\\', found %s", FOUND(p, b + 1));
        }
        if (c == '\\') { /* in a literal string: an ordinary character */
            n++;
            s++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s, e);
            if (!k)
                return weft__toml_fail(p, (const char *)s, "invalid UTF-8 byte 0x%02X in a %s", c, kind);
            n += k;
            s += k;
            continue;
        }
        if (c == '\n' || (c == '\r' && s + 1 < e && s[1] == '\n')) {
            if (!multi) {
                unsigned line, col;
                locate(p, open, &line, &col);
                return weft__toml_fail(p, (const char *)s,
                                       "expected %s to close the %s opened at %u:%u, found end of line",
                                       q == '"' ? "'\"'" : "\"'\"", kind, line, col);
            }
            size_t k = c == '\n' ? 1 : 2;
            n += k;
            s += k;
            next_line(p, (const char *)s);
            continue;
        }
        if (c == '\r')
            return weft__toml_fail(p, (const char *)s, "a carriage return without a line feed in a %s", kind);
        return weft__toml_fail(p, (const char *)s, "control character U+%04X must be escaped in a %s", c, kind);
    }
    p->cur = (const char *)s;
    out->len = n;
    return 0;
}

/* ==== strings: pass 2, decode ============================================ */

static char *decode(const str_scan_t *sc, char *o)
{
    const char *s = sc->body, *e = sc->body_end;
    if (!sc->escapes) {
        memcpy(o, s, (size_t)(e - s));
        return o + (e - s);
    }
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        if (!bs)
            bs = e;
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs;
        if (s >= e)
            break;
        char c = s[1];
        switch (c) {
        case 'b':
            *o++ = '\b';
            s += 2;
            break;
        case 't':
            *o++ = '\t';
            s += 2;
            break;
        case 'n':
            *o++ = '\n';
            s += 2;
            break;
        case 'f':
            *o++ = '\f';
            s += 2;
            break;
        case 'r':
            *o++ = '\r';
            s += 2;
            break;
        case '"':
            *o++ = '"';
            s += 2;
            break;
        case '\\':
            *o++ = '\\';
            s += 2;
            break;
        case 'u':
        case 'U': {
            int digits = c == 'u' ? 4 : 8;
            unsigned cp = 0;
            for (int i = 0; i < digits; i++)
                cp = cp << 4 | (unsigned)hexval((unsigned char)s[2 + i]);
            o = utf8_put(o, cp);
            s += 2 + digits;
            break;
        }
        default: /* line-ending backslash (validated in pass 1) */
            s++;
            while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
                s++;
            break;
        }
    }
    return o;
}

/* Reads the opening quotes at p->cur and scans the string. */
static int scan_any(weft__toml_parser_t *p, bool allow_multi, str_scan_t *sc)
{
    const char *open = p->cur;
    char q = *open;
    bool multi = p->end - open >= 3 && open[1] == q && open[2] == q;
    if (multi) {
        if (!allow_multi)
            return weft__toml_fail(p, open, "a key cannot be a multi-line string");
        p->cur += 3;
        weft__toml_newline(p); /* a newline right after the quotes is trimmed */
    } else {
        p->cur += 1;
    }
    return scan_string(p, open, q, multi, sc);
}

int weft__toml_string(weft__toml_parser_t *p, weft_toml_value_t *out)
{
    str_scan_t sc;
    int rc = scan_any(p, true, &sc);
    if (rc)
        return rc;
    char *s = weft__toml_string_new(p->doc, out, sc.len);
    if (!s)
        return weft__toml_nomem(p);
    decode(&sc, s);
    return 0;
}

/* ==== keys ================================================================ */

static bool bare_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int key_reserve(weft__toml_parser_t *p, size_t n)
{
    if (p->keylen + n < p->keylen)
        return weft__toml_nomem(p);
    if (p->keybuf && p->keylen + n <= p->cap_keybuf) /* a buffer even for "" */
        return 0;
    size_t cap = p->cap_keybuf ? p->cap_keybuf : 256;
    while (cap < p->keylen + n) {
        if (cap > SIZE_MAX / 2)
            return weft__toml_nomem(p);
        cap *= 2;
    }
    char *nb = weft__realloc(p->keybuf, cap);
    if (!nb)
        return weft__toml_nomem(p);
    p->keybuf = nb;
    p->cap_keybuf = cap;
    return 0;
}

static int seg_push(weft__toml_parser_t *p, const char *at, const char *end, size_t off, size_t len)
{
    if (p->nsegs == p->cap_segs) {
        size_t cap = p->cap_segs ? p->cap_segs * 2 : 8;
        weft__toml_seg_t *ns = weft__realloc(p->segs, cap * sizeof *ns);
        if (!ns)
            return weft__toml_nomem(p);
        p->segs = ns;
        p->cap_segs = cap;
    }
    weft__toml_seg_t *g = &p->segs[p->nsegs++];
    g->off = off;
    g->len = len;
    g->at = at;
    g->end = end;
    g->line = p->line;
    g->col = weft__toml_column(p, at);
    return 0;
}

int weft__toml_key(weft__toml_parser_t *p)
{
    p->nsegs = 0;
    p->keylen = 0;
    for (;;) {
        weft__toml_skip_ws(p);
        const char *at = p->cur;
        size_t off = p->keylen;
        int rc;
        if (at < p->end && bare_key_char((unsigned char)*at)) {
            const char *s = at;
            while (s < p->end && bare_key_char((unsigned char)*s))
                s++;
            size_t n = (size_t)(s - at);
            if ((rc = key_reserve(p, n)))
                return rc;
            memcpy(p->keybuf + off, at, n);
            p->keylen += n;
            p->cur = s;
        } else if (at < p->end && (*at == '"' || *at == '\'')) {
            str_scan_t sc;
            if ((rc = scan_any(p, false, &sc)) || (rc = key_reserve(p, sc.len)))
                return rc;
            decode(&sc, p->keybuf + off);
            p->keylen += sc.len;
        } else {
            if (p->nsegs)
                return weft__toml_fail(p, at, "expected a key after '.', found %s", FOUND(p, at));
            return weft__toml_fail(p, at, "expected a key, found %s", FOUND(p, at));
        }
        if ((rc = seg_push(p, at, p->cur, off, p->keylen - off)))
            return rc;
        weft__toml_skip_ws(p);
        if (p->cur < p->end && *p->cur == '.') {
            p->cur++;
            continue;
        }
        return 0;
    }
}
