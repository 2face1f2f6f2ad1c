/* Values: integers, floats, booleans, dates and times, arrays and inline
 * tables (strings are in scan.c). */
#include "workloads/toml/internal.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The characters a number or a date/time can be made of; the token ends at
 * the first other one (',', ']', '}', whitespace, '#', end of line). */
static bool token_char(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '+' ||
           c == '-' || c == ':';
}

/* ==== integers ============================================================ */

static int digit_in(int c, int base)
{
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : 99;
    return d < base ? d : -1;
}

/* Digits in `base` with single underscores between them, s..e exactly. */
static int digits(weft__toml_parser_t *p, const char *tok, const char *s, const char *e, int base, uint64_t limit,
                  uint64_t *out)
{
    uint64_t v = 0;
    int len = (int)(e - tok);
    if (s == e)
        return weft__toml_fail(p, s, "expected a digit in \"%.*s\", found %s", len, tok, FOUND(p, s));
    for (const char *q = s; q < e; q++) {
        if (*q == '_') {
            if (q == s || q + 1 == e || q[1] == '_' || q[-1] == '_')
                return weft__toml_fail(p, q, "an underscore must sit between two digits in \"%.*s\"", len, tok);
            continue;
        }
        int d = digit_in((unsigned char)*q, base);
        if (d < 0)
            return weft__toml_fail(p, q, "invalid digit '%c' in the base-%d integer \"%.*s\"", *q, base, len, tok);
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            return weft__toml_fail(p, tok, "integer \"%.*s\" does not fit in 64 bits", len, tok);
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int parse_int(weft__toml_parser_t *p, const char *s, const char *e, weft_toml_value_t *v)
{
    const char *tok = s;
    int len = (int)(e - s);
    uint64_t u;
    int rc;
    if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        if ((rc = digits(p, tok, s + 2, e, base, INT64_MAX, &u)))
            return rc;
        v->u.i = (int64_t)u;
    } else {
        bool neg = *s == '-';
        if (*s == '+' || *s == '-')
            s++;
        if (e - s > 1 && s[0] == '0')
            return weft__toml_fail(p, tok, "leading zeros are not allowed in \"%.*s\"", len, tok);
        if ((rc = digits(p, tok, s, e, 10, neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &u)))
            return rc;
        v->u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
    }
    v->type = WEFT_TOML_INTEGER;
    return 0;
}

/* ==== floats ============================================================== */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A decimal float: [+-] int [. frac] [e [+-] digits], at least one of the
 * two optional parts. Small ones are computed exactly (Clinger's fast
 * path: an integer below 2^53 times or over an exact power of ten rounds
 * once); the rest go to strtod_l in the C locale, which rounds correctly. */
static int parse_float(weft__toml_parser_t *p, const char *s, const char *e, weft_toml_value_t *v)
{
    const char *tok = s;
    int len = (int)(e - s);
    bool neg = *s == '-';
    if (*s == '+' || *s == '-')
        s++;
    /* integer part */
    const char *ip = s;
    while (s < e && (is_digit(*s) || *s == '_'))
        s++;
    const char *ipe = s;
    if (ip == ipe)
        return weft__toml_fail(p, ip, "expected a digit in \"%.*s\", found %s", len, tok, FOUND(p, ip));
    if (ipe - ip > 1 && ip[0] == '0')
        return weft__toml_fail(p, tok, "leading zeros are not allowed in \"%.*s\"", len, tok);
    const char *fp = NULL, *fpe = NULL, *xp = NULL, *xpe = NULL;
    if (s < e && *s == '.') {
        fp = ++s;
        while (s < e && (is_digit(*s) || *s == '_'))
            s++;
        fpe = s;
        if (fp == fpe)
            return weft__toml_fail(p, fp, "expected a digit after the decimal point in \"%.*s\", found %s", len, tok,
                                   s < e ? FOUND(p, s) : "the end of the number");
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        xp = s;
        while (s < e && (is_digit(*s) || *s == '_'))
            s++;
        xpe = s;
        if (xp == xpe)
            return weft__toml_fail(p, xp, "expected a digit in the exponent of \"%.*s\", found %s", len, tok,
                                   s < e ? FOUND(p, s) : "the end of the number");
    }
    if (s != e)
        return weft__toml_fail(p, s, "unexpected %s in the float \"%.*s\"", FOUND(p, s), len, tok);
    /* underscores: between digits only, in each part */
    const char *parts[3][2] = {{ip, ipe}, {fp, fpe}, {xp, xpe}};
    for (int k = 0; k < 3; k++)
        for (const char *q = parts[k][0]; q && q < parts[k][1]; q++)
            if (*q == '_' && (q == parts[k][0] || q + 1 == parts[k][1] || q[1] == '_'))
                return weft__toml_fail(p, q, "an underscore must sit between two digits in \"%.*s\"", len, tok);

    /* fast path */
    uint64_t mant = 0;
    int nd = 0, scale = 0;
    bool exact = true;
    for (int k = 0; k < 2 && exact; k++)
        for (const char *q = parts[k][0]; q && q < parts[k][1]; q++) {
            if (*q == '_')
                continue;
            if (nd == 0 && *q == '0') {
                scale -= k; /* leading zeros: only the scale counts */
                continue;
            }
            if (++nd > 15) {
                exact = false;
                break;
            }
            mant = mant * 10 + (uint64_t)(*q - '0');
            scale -= k;
        }
    if (exact) {
        long x = 0;
        for (const char *q = xp; q && q < xpe && x < 100000; q++)
            if (*q != '_')
                x = x * 10 + (*q - '0');
        if (xp && xp[-1] == '-')
            x = -x;
        long tot = x + scale;
        if (mant == 0) {
            v->u.f = neg ? -0.0 : 0.0;
            v->type = WEFT_TOML_FLOAT;
            return 0;
        }
        if (tot >= -22 && tot <= 22) {
            double d = (double)mant;
            d = tot < 0 ? d / pow10_exact[-tot] : d * pow10_exact[tot];
            v->u.f = neg ? -d : d;
            v->type = WEFT_TOML_FLOAT;
            return 0;
        }
    }

    /* slow path: strtod_l on the digits without underscores */
    if ((size_t)len + 1 > p->cap_numbuf) {
        char *nb = weft__realloc(p->numbuf, (size_t)len + 1);
        if (!nb)
            return weft__toml_nomem(p);
        p->numbuf = nb;
        p->cap_numbuf = (size_t)len + 1;
    }
    char *o = p->numbuf;
    for (const char *q = tok; q < e; q++)
        if (*q != '_')
            *o++ = *q;
    *o = '\0';
    if (!p->c_locale) {
        /* LC_ALL_MASK with "C" returns glibc's static C locale object, so
         * this normally allocates nothing; freed by the parser's cleanup. */
        locale_t loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!loc)
            return weft__toml_nomem(p);
        p->c_locale = loc;
    }
    v->u.f = strtod_l(p->numbuf, NULL, (locale_t)p->c_locale);
    v->type = WEFT_TOML_FLOAT;
    return 0;
}

/* ==== dates and times ===================================================== */

static int two(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* n digits at s (bounds checked against the parser's end). */
static bool has_digits(const weft__toml_parser_t *p, const char *s, int n)
{
    if (p->end - s < n)
        return false;
    for (int i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return false;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* HH:MM:SS[.frac] at s; returns the end or NULL (error set). */
static const char *parse_time(weft__toml_parser_t *p, const char *s, weft__toml_dt_t *dt)
{
    if (!has_digits(p, s, 2) || p->end - s < 3 || s[2] != ':' || !has_digits(p, s + 3, 2)) {
        weft__toml_fail(p, s, "expected a time HH:MM:SS, found %s", FOUND(p, s));
        return NULL;
    }
    if (p->end - s < 6 || s[5] != ':' || !has_digits(p, s + 6, 2)) {
        weft__toml_fail(p, s + 5, "expected ':' and two digits of seconds (TOML 1.0 times have seconds), found %s",
                        FOUND(p, s + 5));
        return NULL;
    }
    int h = two(s), mi = two(s + 3), sec = two(s + 6);
    if (h > 23) {
        weft__toml_fail(p, s, "hour %02d is out of range (00-23)", h);
        return NULL;
    }
    if (mi > 59) {
        weft__toml_fail(p, s + 3, "minute %02d is out of range (00-59)", mi);
        return NULL;
    }
    if (sec > 60) {
        weft__toml_fail(p, s + 6, "second %02d is out of range (00-60)", sec);
        return NULL;
    }
    dt->hour = (uint8_t)h;
    dt->minute = (uint8_t)mi;
    dt->second = (uint8_t)sec;
    dt->nanosecond = 0;
    s += 8;
    if (s < p->end && *s == '.') {
        const char *f = ++s;
        uint32_t ns = 0;
        int n = 0;
        while (s < p->end && is_digit((unsigned char)*s)) {
            if (n++ < 9)
                ns = ns * 10 + (uint32_t)(*s - '0');
            s++;
        }
        if (s == f) {
            weft__toml_fail(p, f, "expected digits after the decimal point of the seconds, found %s", FOUND(p, f));
            return NULL;
        }
        for (; n < 9; n++)
            ns *= 10;
        dt->nanosecond = ns;
    }
    return s;
}

static int parse_datetime(weft__toml_parser_t *p, const char *s, weft_toml_value_t *v)
{
    weft__toml_dt_t *dt = weft__arena_alloc(&p->doc->arena, sizeof *dt, _Alignof(weft__toml_dt_t));
    if (!dt)
        return weft__toml_nomem(p);
    memset(dt, 0, sizeof *dt);
    v->u.dt = dt;
    if (has_digits(p, s, 2) && p->end - s > 2 && s[2] == ':') {
        const char *t = parse_time(p, s, dt);
        if (!t)
            return WEFT_EPARSE;
        v->type = WEFT_TOML_TIME_LOCAL;
        p->cur = t;
        return 0;
    }
    /* YYYY-MM-DD */
    if (!(has_digits(p, s, 4) && p->end - s > 4 && s[4] == '-' && has_digits(p, s + 5, 2) && p->end - s > 7 &&
          s[7] == '-' && has_digits(p, s + 8, 2)) ||
        (p->end - s > 10 && is_digit((unsigned char)s[10])))
        return weft__toml_fail(p, s, "expected a date YYYY-MM-DD or a time HH:MM:SS, found \"%.*s\"", (int)(p->cur - s),
                               s);
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + two(s + 2), m = two(s + 5), d = two(s + 8);
    if (m < 1 || m > 12)
        return weft__toml_fail(p, s + 5, "month %02d is out of range (01-12)", m);
    if (d < 1 || d > days_in_month(y, m))
        return weft__toml_fail(p, s + 8, "day %02d is out of range for %04d-%02d (01-%02d)", d, y, m,
                               days_in_month(y, m));
    dt->year = (int16_t)y;
    dt->month = (uint8_t)m;
    dt->day = (uint8_t)d;
    s += 10;
    /* 'T', 't', or a space followed by a time */
    bool time = s < p->end && (*s == 'T' || *s == 't');
    if (!time && p->end - s > 1 && *s == ' ' && is_digit((unsigned char)s[1]))
        time = true;
    if (!time) {
        v->type = WEFT_TOML_DATE_LOCAL;
        p->cur = s;
        return 0;
    }
    const char *t = parse_time(p, s + 1, dt);
    if (!t)
        return WEFT_EPARSE;
    s = t;
    if (s < p->end && (*s == 'Z' || *s == 'z')) {
        v->type = WEFT_TOML_DATETIME;
        p->cur = s + 1;
        return 0;
    }
    if (s < p->end && (*s == '+' || *s == '-')) {
        if (!(has_digits(p, s + 1, 2) && p->end - s > 3 && s[3] == ':' && has_digits(p, s + 4, 2))) {
            const char *q = s + 1;
            while (q < p->end && q - s < 6 && (is_digit((unsigned char)*q) || *q == ':'))
                q++;
            return weft__toml_fail(p, s, "expected a UTC offset like +HH:MM, found \"%.*s\"", (int)(q - s), s);
        }
        int oh = two(s + 1), om = two(s + 4);
        if (oh > 23)
            return weft__toml_fail(p, s + 1, "offset hour %02d is out of range (00-23)", oh);
        if (om > 59)
            return weft__toml_fail(p, s + 4, "offset minute %02d is out of range (00-59)", om);
        dt->offset = (int16_t)((*s == '-' ? -1 : 1) * (oh * 60 + om));
        v->type = WEFT_TOML_DATETIME;
        p->cur = s + 6;
        return 0;
    }
    v->type = WEFT_TOML_DATETIME_LOCAL;
    p->cur = s;
    return 0;
}

/* ==== numbers, booleans, inf/nan: the token ================================ */

static bool tok_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && memcmp(s, word, n) == 0;
}

static int parse_scalar(weft__toml_parser_t *p, weft_toml_value_t *v)
{
    const char *s = p->cur, *e = s;
    while (e < p->end && token_char((unsigned char)*e))
        e++;
    if (e == s) {
        return weft__toml_fail(p, s, "expected a value, found %s", FOUND(p, s));
    }
    /* Dates and times start with a digit and have a ':' or a '-' after a
     * digit (a float's exponent has it after 'e'). */
    if (is_digit((unsigned char)s[0]))
        for (const char *q = s + 1; q < e; q++)
            if (*q == ':' || (*q == '-' && is_digit((unsigned char)q[-1]))) {
                p->cur = e;
                return parse_datetime(p, s, v);
            }
    p->cur = e;
    if (tok_is(s, e, "true") || tok_is(s, e, "false")) {
        v->type = WEFT_TOML_BOOL;
        v->u.b = *s == 't';
        return 0;
    }
    const char *u = s + (*s == '+' || *s == '-');
    if (tok_is(u, e, "inf") || tok_is(u, e, "nan")) {
        v->type = WEFT_TOML_FLOAT;
        double d = *u == 'i' ? INFINITY : NAN;
        v->u.f = *s == '-' ? -d : d;
        return 0;
    }
    if (u == e || !is_digit((unsigned char)*u)) {
        if ((*s == 't' || *s == 'f' || *s == 'i' || *s == 'n' || *s == 'T' || *s == 'F' || *s == 'I' || *s == 'N'))
            return weft__toml_fail(
                p, s,
                "expected a value, found \"%.*s\" (booleans are true/false, special floats inf/nan, all lowercase; strings need quotes)",
                (int)(e - s), s);
        return weft__toml_fail(p, s, "expected a value, found \"%.*s\" (strings need quotes)", (int)(e - s), s);
    }
    bool prefixed = e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b');
    if (!prefixed)
        for (const char *q = s; q < e; q++)
            if (*q == '.' || *q == 'e' || *q == 'E')
                return parse_float(p, s, e, v);
    return parse_int(p, s, e, v);
}

/* ==== arrays and inline tables ============================================= */

/* Opens an array or inline table at p->cur ('[' or '{'): one level deeper,
 * v gets its container, the bracket is consumed. */
static int open_container(weft__toml_parser_t *p, weft_toml_value_t *v, uint8_t type)
{
    if (p->depth >= WEFT_TOML_MAX_DEPTH)
        return weft__toml_fail(p, p->cur, "arrays and inline tables are nested deeper than %d levels",
                               WEFT_TOML_MAX_DEPTH);
    if (!(v->u.c = weft__toml_container_new(p->doc)))
        return weft__toml_nomem(p);
    v->type = type;
    p->depth++;
    p->cur++;
    return 0;
}

static int parse_array(weft__toml_parser_t *p, weft_toml_value_t *v)
{
    int rc = open_container(p, v, WEFT_TOML_ARRAY);
    if (rc)
        return rc;
    weft__toml_container_t *c = v->u.c;
    for (;;) {
        if ((rc = weft__toml_skip_ws_nl(p)))
            return rc;
        if (p->cur < p->end && *p->cur == ']')
            break;
        weft_toml_value_t *item;
        if ((rc = weft__toml_value(p, &item)))
            return rc;
        if (c->count == UINT32_MAX)
            return weft__toml_nomem(p);
        weft__toml_array_append(c, item);
        if ((rc = weft__toml_skip_ws_nl(p)))
            return rc;
        if (p->cur < p->end && *p->cur == ',') {
            p->cur++;
            continue;
        }
        if (p->cur < p->end && *p->cur == ']')
            break;
        return weft__toml_fail(p, p->cur, "expected ',' or ']' in the array, found %s", FOUND(p, p->cur));
    }
    p->cur++; /* ']' */
    v->flags |= TOML_F_FROZEN;
    p->depth--;
    return 0;
}

static int parse_inline_table(weft__toml_parser_t *p, weft_toml_value_t *v)
{
    int rc = open_container(p, v, WEFT_TOML_TABLE);
    if (rc)
        return rc;
    weft__toml_skip_ws(p);
    if (p->cur < p->end && *p->cur == '}') {
        p->cur++;
    } else {
        for (;;) {
            if ((rc = weft__toml_keyval(p, v)))
                return rc;
            weft__toml_skip_ws(p);
            if (p->cur < p->end && *p->cur == ',') {
                p->cur++;
                weft__toml_skip_ws(p);
                if (p->cur < p->end && *p->cur == '}')
                    return weft__toml_fail(
                        p, p->cur,
                        "expected a key after ',' in the inline table, found '}' (TOML 1.0 allows no trailing comma)");
                continue;
            }
            if (p->cur < p->end && *p->cur == '}') {
                p->cur++;
                break;
            }
            return weft__toml_fail(p, p->cur, "expected ',' or '}' in the inline table, found %s%s", FOUND(p, p->cur),
                                   p->cur < p->end && (*p->cur == '\n' || *p->cur == '\r')
                                       ? " (an inline table must stay on one line)"
                                       : "");
        }
    }
    v->flags |= TOML_F_FROZEN;
    p->depth--;
    return 0;
}

int weft__toml_value(weft__toml_parser_t *p, weft_toml_value_t **out)
{
    weft_toml_value_t *v = weft__toml_value_new(p->doc, 0);
    if (!v)
        return weft__toml_nomem(p);
    v->line = p->line;
    v->col = weft__toml_column(p, p->cur);
    *out = v;
    return weft__toml_value_into(p, v);
}

int weft__toml_value_into(weft__toml_parser_t *p, weft_toml_value_t *v)
{
    if (p->cur >= p->end)
        return weft__toml_fail(p, p->cur, "expected a value, found end of file");
    switch (*p->cur) {
    case '"':
    case '\'': return weft__toml_string(p, v);
    case '[': return parse_array(p, v);
    case '{': return parse_inline_table(p, v);
    default: return parse_scalar(p, v);
    }
}
