/* The document layer of the TOML parser: lines, [table] and [[array]]
 * headers, key/value pairs with dotted keys, and the rules that say which
 * table may be defined or extended where; plus the public entry points.
 *
 * The table rules (TOML 1.0, as toml-test reads them) are kept as flags on
 * the tables themselves:
 *   DEFINED   made by [a] or [[a]]: [a] again is an error, and dotted keys
 *             from another section cannot add to it;
 *   IMPLICIT  made as a parent by [a.b]: a later [a] may define it once;
 *   DOTTED    made or extended by dotted keys (a.b = 1): [a] is an error,
 *             but [a.c] may add a sub-table;
 *   FROZEN    an inline table or a static array: complete where written.
 * A dotted key can only traverse tables that no header defined, so it can
 * never reach back into an earlier section. */
#include "workloads/toml/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

const char *weft__toml_key_repr(const char *key, size_t len, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(buf + o, size - o, "\\u%04X", c);
        else
            buf[o++] = (char)c;
        if (o + 8 >= size && i + 1 < len) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
    }
    buf[o < size ? o : size - 1] = '\0';
    return buf;
}

#define KEY(k, n) weft__toml_key_repr((k), (n), (char[80]){0}, 80)
#define SEGKEY(p, g) KEY((p)->keybuf + (g)->off, (g)->len)

static uint32_t key_col(const weft_toml_value_t *v)
{
    return v->flags & TOML_F_KEYED ? weft__toml_keyed(v)->kcol : v->col;
}

static const char *what(const weft_toml_value_t *v)
{
    if (v->type == WEFT_TOML_TABLE && (v->flags & TOML_F_FROZEN))
        return "an inline table";
    if (v->type == WEFT_TOML_ARRAY)
        return v->flags & TOML_F_AOT ? "an array of tables" : "an array";
    switch (v->type) {
    case WEFT_TOML_TABLE: return "a table";
    case WEFT_TOML_STRING: return "a string";
    case WEFT_TOML_INTEGER: return "an integer";
    case WEFT_TOML_FLOAT: return "a float";
    case WEFT_TOML_BOOL: return "a boolean";
    case WEFT_TOML_DATETIME: return "an offset date-time";
    case WEFT_TOML_DATETIME_LOCAL: return "a local date-time";
    case WEFT_TOML_DATE_LOCAL: return "a local date";
    default: return "a local time";
    }
}

/* A new table entry named by segment g, at g's position. */
static weft_toml_value_t *entry_new(weft__toml_parser_t *p, const weft__toml_seg_t *g, uint8_t type)
{
    weft_toml_value_t *v = weft__toml_keyed_new(p->doc, type, p->keybuf + g->off, g->len);
    if (!v)
        return NULL;
    weft__toml_keyed_t *k = weft__toml_keyed(v);
    v->line = g->line;
    k->kcol = v->col = g->col;
    return v;
}

static weft_toml_value_t *table_new(weft__toml_parser_t *p, const weft__toml_seg_t *g, uint8_t flags)
{
    weft_toml_value_t *v = entry_new(p, g, WEFT_TOML_TABLE);
    if (!v || !(v->u.c = weft__toml_container_new(p->doc)))
        return NULL;
    v->flags |= flags;
    return v;
}

/* ==== key = value ========================================================= */

int weft__toml_keyval(weft__toml_parser_t *p, weft_toml_value_t *table)
{
    int rc = weft__toml_key(p);
    if (rc)
        return rc;
    weft_toml_value_t *t = table;
    for (size_t i = 0; i + 1 < p->nsegs; i++) {
        const weft__toml_seg_t *g = &p->segs[i];
        weft_toml_value_t *child = weft__toml_table_find(t->u.c, p->keybuf + g->off, g->len);
        if (!child) {
            if (!(child = table_new(p, g, TOML_F_DOTTED)))
                return weft__toml_nomem(p);
            if (weft__toml_table_insert(p->doc, t->u.c, child))
                return weft__toml_nomem(p);
        } else if (child->type == WEFT_TOML_TABLE && !(child->flags & (TOML_F_DEFINED | TOML_F_FROZEN))) {
            child->flags |= TOML_F_DOTTED;
        } else if (child->type == WEFT_TOML_TABLE && (child->flags & TOML_F_FROZEN)) {
            return weft__toml_fail(
                p, g->at,
                "cannot add keys to the inline table \"%s\" defined at %u:%u (an inline table is complete where it is written)",
                SEGKEY(p, g), child->line, key_col(child));
        } else if (child->type == WEFT_TOML_TABLE) {
            return weft__toml_fail(
                p, g->at,
                "cannot add keys to the table \"%s\" with a dotted key: it was defined by the header at %u:%u",
                SEGKEY(p, g), child->line, child->col);
        } else {
            return weft__toml_fail(p, g->at, "key \"%s\" is already %s (defined at %u:%u), not a table", SEGKEY(p, g),
                                   what(child), child->line, key_col(child));
        }
        t = child;
    }
    const weft__toml_seg_t *g = &p->segs[p->nsegs - 1];
    weft_toml_value_t *dup = weft__toml_table_find(t->u.c, p->keybuf + g->off, g->len);
    if (dup)
        return weft__toml_fail(p, g->at, "duplicate key \"%s\" (first defined at %u:%u)", SEGKEY(p, g), dup->line,
                               key_col(dup));
    if (p->cur >= p->end || *p->cur != '=')
        return weft__toml_fail(p, p->cur, "expected '=' after the key \"%s\", found %s", SEGKEY(p, g),
                               FOUND(p, p->cur));
    p->cur++;
    weft__toml_skip_ws(p);
    /* The key is copied now: the value may be an inline table, whose keys
     * reuse the parser's key buffer. */
    weft_toml_value_t *v = entry_new(p, g, 0);
    if (!v)
        return weft__toml_nomem(p);
    v->line = p->line;
    v->col = weft__toml_column(p, p->cur);
    if ((rc = weft__toml_value_into(p, v)))
        return rc;
    if (weft__toml_table_insert(p->doc, t->u.c, v))
        return weft__toml_nomem(p);
    return 0;
}

/* ==== [table] and [[array of tables]] ===================================== */

static int header(weft__toml_parser_t *p, weft_toml_value_t **current)
{
    const char *open = p->cur;
    uint32_t line = p->line, col = weft__toml_column(p, open);
    bool aot = p->end - open >= 2 && open[1] == '[';
    p->cur += aot ? 2 : 1;
    int rc = weft__toml_key(p);
    if (rc)
        return rc;
    const char *name = p->segs[0].at;
    int nlen = (int)(p->segs[p->nsegs - 1].end - name);
    if (p->cur >= p->end || *p->cur != ']' || (aot && (p->end - p->cur < 2 || p->cur[1] != ']'))) {
        const char *at = p->cur < p->end && *p->cur == ']' ? p->cur + 1 : p->cur;
        if (aot)
            return weft__toml_fail(p, at, "expected ']]' to close the array-of-tables header [[%.*s]], found %s", nlen,
                                   name, FOUND(p, at));
        return weft__toml_fail(p, at, "expected ']' to close the table header [%.*s], found %s", nlen, name,
                               FOUND(p, at));
    }
    p->cur += aot ? 2 : 1;

    weft_toml_value_t *t = &p->doc->root;
    for (size_t i = 0; i + 1 < p->nsegs; i++) {
        const weft__toml_seg_t *g = &p->segs[i];
        weft_toml_value_t *child = weft__toml_table_find(t->u.c, p->keybuf + g->off, g->len);
        if (!child) {
            if (!(child = table_new(p, g, TOML_F_IMPLICIT)))
                return weft__toml_nomem(p);
            if (weft__toml_table_insert(p->doc, t->u.c, child))
                return weft__toml_nomem(p);
        } else if (child->type == WEFT_TOML_ARRAY && (child->flags & TOML_F_AOT)) {
            child = child->u.c->last; /* the last table of [[...]] */
        } else if (child->type == WEFT_TOML_TABLE && (child->flags & TOML_F_FROZEN)) {
            return weft__toml_fail(
                p, g->at,
                "cannot add to the inline table \"%s\" defined at %u:%u (an inline table is complete where it is written)",
                SEGKEY(p, g), child->line, key_col(child));
        } else if (child->type != WEFT_TOML_TABLE) {
            return weft__toml_fail(p, g->at, "key \"%s\" is already %s (defined at %u:%u), not a table", SEGKEY(p, g),
                                   what(child), child->line, key_col(child));
        }
        t = child;
    }
    const weft__toml_seg_t *g = &p->segs[p->nsegs - 1];
    weft_toml_value_t *child = weft__toml_table_find(t->u.c, p->keybuf + g->off, g->len);
    if (!aot) {
        if (!child) {
            if (!(child = table_new(p, g, TOML_F_DEFINED)))
                return weft__toml_nomem(p);
            if (weft__toml_table_insert(p->doc, t->u.c, child))
                return weft__toml_nomem(p);
        } else if (child->type == WEFT_TOML_TABLE &&
                   (child->flags & (TOML_F_DEFINED | TOML_F_DOTTED | TOML_F_FROZEN)) == 0) {
            /* defined here now: positions move to this header */
            child->flags = (uint8_t)((child->flags & ~TOML_F_IMPLICIT) | TOML_F_DEFINED);
            weft__toml_keyed(child)->kcol = g->col;
        } else if (child->type == WEFT_TOML_TABLE && (child->flags & TOML_F_DEFINED)) {
            return weft__toml_fail(p, open, "table [%.*s] is defined twice (first at %u:%u)", nlen, name, child->line,
                                   child->col);
        } else if (child->type == WEFT_TOML_TABLE && (child->flags & TOML_F_FROZEN)) {
            return weft__toml_fail(p, open, "table [%.*s] was already defined as an inline table at %u:%u", nlen, name,
                                   child->line, key_col(child));
        } else if (child->type == WEFT_TOML_TABLE) {
            return weft__toml_fail(p, open, "table [%.*s] was already defined by dotted keys at %u:%u", nlen, name,
                                   child->line, key_col(child));
        } else if (child->flags & TOML_F_AOT) {
            return weft__toml_fail(p, open, "table [%.*s] conflicts with the array of tables [[%.*s]] at %u:%u", nlen,
                                   name, nlen, name, child->line, child->col);
        } else {
            return weft__toml_fail(p, open, "table [%.*s] conflicts with key \"%s\", already %s (defined at %u:%u)",
                                   nlen, name, SEGKEY(p, g), what(child), child->line, key_col(child));
        }
        child->line = line;
        child->col = col;
        *current = child;
        return 0;
    }
    if (!child) {
        if (!(child = entry_new(p, g, WEFT_TOML_ARRAY)) || !(child->u.c = weft__toml_container_new(p->doc)))
            return weft__toml_nomem(p);
        child->flags |= TOML_F_AOT;
        child->line = line;
        child->col = col;
        if (weft__toml_table_insert(p->doc, t->u.c, child))
            return weft__toml_nomem(p);
    } else if (!(child->type == WEFT_TOML_ARRAY && (child->flags & TOML_F_AOT))) {
        if (child->type == WEFT_TOML_ARRAY)
            return weft__toml_fail(p, open, "cannot append with [[%.*s]] to the static array \"%s\" defined at %u:%u",
                                   nlen, name, SEGKEY(p, g), child->line, key_col(child));
        return weft__toml_fail(p, open,
                               "array of tables [[%.*s]] conflicts with key \"%s\", already %s (defined at %u:%u)",
                               nlen, name, SEGKEY(p, g), what(child), child->line, key_col(child));
    }
    weft__toml_container_t *arr = child->u.c;
    if (arr->count == UINT32_MAX)
        return weft__toml_nomem(p);
    weft_toml_value_t *item = weft__toml_value_new(p->doc, WEFT_TOML_TABLE);
    if (!item || !(item->u.c = weft__toml_container_new(p->doc)))
        return weft__toml_nomem(p);
    item->flags = TOML_F_DEFINED;
    item->line = line;
    item->col = col;
    weft__toml_array_append(arr, item);
    *current = item;
    return 0;
}

/* ==== the document ======================================================== */

static int document(weft__toml_parser_t *p)
{
    weft_toml_value_t *current = &p->doc->root;
    for (;;) {
        weft__toml_skip_ws(p);
        if (p->cur >= p->end)
            return 0;
        const char *after = "the value";
        int rc = 0;
        switch (*p->cur) {
        case '#':
        case '\n':
        case '\r': after = NULL; break;
        case '[':
            after = "the table header";
            rc = header(p, &current);
            break;
        default: rc = weft__toml_keyval(p, current); break;
        }
        if (rc)
            return rc;
        weft__toml_skip_ws(p);
        if (p->cur < p->end && *p->cur == '#' && (rc = weft__toml_comment(p)))
            return rc;
        if (p->cur >= p->end)
            return 0;
        if (!weft__toml_newline(p)) {
            if (after)
                return weft__toml_fail(p, p->cur, "expected end of line after %s, found %s", after, FOUND(p, p->cur));
            return weft__toml_fail(p, p->cur, "expected end of line, found %s", FOUND(p, p->cur));
        }
    }
}

void weft__toml_parser_init(weft__toml_parser_t *p, const char *data, size_t len, weft_toml_doc_t *doc,
                            weft_toml_error_t *err)
{
    memset(p, 0, sizeof *p);
    if (!data)
        data = "";
    p->begin = p->cur = data;
    p->end = data + len;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        p->begin = p->cur = data + 3;
    p->line_start = p->col_at = p->begin;
    p->line = 1;
    p->col = 1;
    p->doc = doc;
    p->err = err;
    memset(err, 0, sizeof *err);
}

void weft__toml_parser_fini(weft__toml_parser_t *p)
{
    weft__free(p->segs);
    weft__free(p->keybuf);
    weft__free(p->numbuf);
    if (p->c_locale)
        freelocale((locale_t)p->c_locale);
}

static void arg_error(weft_toml_error_t *err, int code, const char *name, const char *msg)
{
    memset(err, 0, sizeof *err);
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", msg);
    snprintf(err->text, sizeof err->text, "%s: %s", name ? name : "<input>", msg);
}

int weft_toml_parse(const char *data, size_t len, const char *name, unsigned flags, weft_toml_doc_t **out,
                    weft_toml_error_t *err)
{
    weft_toml_error_t local;
    if (!err)
        err = &local;
    if (out)
        *out = NULL;
    if (!out || (!data && len) || flags) {
        arg_error(err, WEFT_EINVAL, name,
                  !out    ? "weft_toml_parse: out is NULL"
                  : flags ? "weft_toml_parse: unknown flags"
                          : "weft_toml_parse: data is NULL");
        return WEFT_EINVAL;
    }
    /* The first arena block grows with the input, so that a small workflow
     * file costs one small block and a big document few large ones. */
    size_t first = len < 2048 ? 4096 : len > ((size_t)1 << 20) ? (size_t)2 << 20 : len * 2;
    weft_toml_doc_t *doc;
    int rc = weft__toml_doc_create(name, first, &doc);
    if (rc) {
        arg_error(err, rc, name, "out of memory");
        return rc;
    }
    weft__toml_parser_t p;
    weft__toml_parser_init(&p, data, len, doc, err);
    rc = document(&p);
    weft__toml_parser_fini(&p);
    if (rc) {
        weft_toml_destroy(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

/* Reads all of fd into a new buffer (regular files in one read; pipes and
 * the like by doubling). */
static int read_all(int fd, char **buf, size_t *len)
{
    struct stat st;
    size_t cap = 64 * 1024;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    char *b = weft__malloc(cap);
    if (!b)
        return WEFT_ENOMEM;
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) {
                weft__free(b);
                return WEFT_ENOMEM;
            }
            char *nb = weft__realloc(b, cap * 2);
            if (!nb) {
                weft__free(b);
                return WEFT_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            weft__free(b);
            errno = e;
            return WEFT_ESYS;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return 0;
}

int weft_toml_parse_file(const char *path, unsigned flags, weft_toml_doc_t **out, weft_toml_error_t *err)
{
    weft_toml_error_t local;
    if (!err)
        err = &local;
    if (out)
        *out = NULL;
    if (!path || !out || flags) {
        arg_error(err, WEFT_EINVAL, path,
                  !path  ? "weft_toml_parse_file: path is NULL"
                  : !out ? "weft_toml_parse_file: out is NULL"
                         : "weft_toml_parse_file: unknown flags");
        return WEFT_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char msg[256];
        snprintf(msg, sizeof msg, "cannot open the file: %s", strerror(e));
        arg_error(err, e == ENOENT ? WEFT_ENOENT : WEFT_ESYS, path, msg);
        return err->code;
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(fd, &buf, &len);
    int e = errno;
    close(fd);
    if (rc) {
        char msg[256];
        if (rc == WEFT_ESYS)
            snprintf(msg, sizeof msg, "cannot read the file: %s", strerror(e));
        else
            snprintf(msg, sizeof msg, "out of memory");
        arg_error(err, rc, path, msg);
        return rc;
    }
    rc = weft_toml_parse(buf, len, path, 0, out, err);
    weft__free(buf);
    return rc;
}
