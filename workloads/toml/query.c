/* Reading a parsed document: accessors, iteration, lookup by path and the
 * typed getters. */
#include "workloads/toml/internal.h"

const weft_toml_value_t *weft_toml_root(const weft_toml_doc_t *doc)
{
    return doc ? &doc->root : NULL;
}

const char *weft_toml_name(const weft_toml_doc_t *doc)
{
    return doc ? doc->name : NULL;
}

weft_toml_type_t weft_toml_type(const weft_toml_value_t *v)
{
    return v ? (weft_toml_type_t)v->type : WEFT_TOML_NONE;
}

const char *weft_toml_type_name(weft_toml_type_t type)
{
    switch (type) {
    case WEFT_TOML_TABLE: return "table";
    case WEFT_TOML_ARRAY: return "array";
    case WEFT_TOML_STRING: return "string";
    case WEFT_TOML_INTEGER: return "integer";
    case WEFT_TOML_FLOAT: return "float";
    case WEFT_TOML_BOOL: return "boolean";
    case WEFT_TOML_DATETIME: return "offset date-time";
    case WEFT_TOML_DATETIME_LOCAL: return "local date-time";
    case WEFT_TOML_DATE_LOCAL: return "local date";
    case WEFT_TOML_TIME_LOCAL: return "local time";
    default: return "none";
    }
}

const char *weft_toml_key(const weft_toml_value_t *v, size_t *len)
{
    if (!v || !(v->flags & TOML_F_KEYED)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = weft__toml_keyed(v)->keylen;
    return weft__toml_keyed(v)->key;
}

unsigned weft_toml_line(const weft_toml_value_t *v)
{
    return v ? v->line : 0;
}

unsigned weft_toml_column(const weft_toml_value_t *v)
{
    return v ? v->col : 0;
}

unsigned weft_toml_key_line(const weft_toml_value_t *v)
{
    return v ? v->line : 0; /* a key is always on its value's line */
}

unsigned weft_toml_key_column(const weft_toml_value_t *v)
{
    return !v ? 0 : v->flags & TOML_F_KEYED ? weft__toml_keyed(v)->kcol : v->col;
}

static bool is_container(const weft_toml_value_t *v)
{
    return v && (v->type == WEFT_TOML_TABLE || v->type == WEFT_TOML_ARRAY);
}

size_t weft_toml_count(const weft_toml_value_t *v)
{
    return is_container(v) ? v->u.c->count : 0;
}

const weft_toml_value_t *weft_toml_first(const weft_toml_value_t *v)
{
    return is_container(v) ? v->u.c->first : NULL;
}

const weft_toml_value_t *weft_toml_next(const weft_toml_value_t *v)
{
    return v ? v->next : NULL;
}

const weft_toml_value_t *weft_toml_at(const weft_toml_value_t *v, size_t i)
{
    if (!v || v->type != WEFT_TOML_ARRAY || i >= v->u.c->count)
        return NULL;
    if (i == (size_t)v->u.c->count - 1)
        return v->u.c->last;
    const weft_toml_value_t *e = v->u.c->first;
    while (i--)
        e = e->next;
    return e;
}

const weft_toml_value_t *weft_toml_get(const weft_toml_value_t *v, const char *key)
{
    if (!v || !key || v->type != WEFT_TOML_TABLE)
        return NULL;
    return weft__toml_table_find(v->u.c, key, strlen(key));
}

/* ==== paths =============================================================== */

/* Only bare-key characters and single dots between non-empty parts. */
static bool bare_only(const char *s)
{
    if (*s == '.')
        return false;
    for (; *s; s++) {
        if (*s == '.' && (s[1] == '.' || s[1] == '\0'))
            return false;
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    }
    return true;
}

/* One step down; WEFT_ENOENT or WEFT_ETYPE when it cannot be taken. */
static int step(const weft_toml_value_t **v, const char *key, size_t len)
{
    if ((*v)->type != WEFT_TOML_TABLE)
        return WEFT_ETYPE;
    const weft_toml_value_t *c = weft__toml_table_find((*v)->u.c, key, len);
    if (!c)
        return WEFT_ENOENT;
    *v = c;
    return 0;
}

int weft_toml_find(const weft_toml_value_t *v, const char *path, const weft_toml_value_t **out)
{
    if (!v || !out)
        return WEFT_EINVAL;
    if (!path || !*path) {
        *out = v;
        return 0;
    }
    if (bare_only(path)) {
        /* the common case, without the parser: a.b.c */
        const char *s = path;
        for (;;) {
            const char *dot = strchr(s, '.');
            size_t n = dot ? (size_t)(dot - s) : strlen(s);
            int rc = step(&v, s, n);
            if (rc)
                return rc;
            if (!dot)
                break;
            s = dot + 1;
        }
        *out = v;
        return 0;
    }
    /* quoted parts or whitespace: read it with the key grammar */
    weft_toml_error_t err;
    weft_toml_doc_t none = {.name = "path"};
    weft__toml_parser_t p;
    weft__toml_parser_init(&p, path, strlen(path), &none, &err);
    int rc = weft__toml_key(&p);
    if (rc == 0 && p.cur != p.end)
        rc = WEFT_EINVAL;
    for (size_t i = 0; rc == 0 && i < p.nsegs; i++)
        rc = step(&v, p.keybuf + p.segs[i].off, p.segs[i].len);
    weft__toml_parser_fini(&p);
    if (rc == WEFT_EPARSE)
        rc = WEFT_EINVAL;
    if (rc == 0)
        *out = v;
    return rc;
}

/* find + a type check */
static int get(const weft_toml_value_t *v, const char *path, weft_toml_type_t type, const weft_toml_value_t **out)
{
    int rc = weft_toml_find(v, path, out);
    if (rc == 0 && (*out)->type != type)
        return WEFT_ETYPE;
    return rc;
}

/* The getters that copy one field of a value of one type. */
#define SIMPLE_GETTER(fname, ctype, ttype, expr)                                                                       \
    int fname(const weft_toml_value_t *v, const char *path, ctype *out)                                                \
    {                                                                                                                  \
        const weft_toml_value_t *f;                                                                                    \
        if (!out)                                                                                                      \
            return WEFT_EINVAL;                                                                                        \
        int rc = get(v, path, ttype, &f);                                                                              \
        if (rc == 0)                                                                                                   \
            *out = (expr);                                                                                             \
        return rc;                                                                                                     \
    }

SIMPLE_GETTER(weft_toml_get_table, const weft_toml_value_t *, WEFT_TOML_TABLE, f)
SIMPLE_GETTER(weft_toml_get_array, const weft_toml_value_t *, WEFT_TOML_ARRAY, f)
SIMPLE_GETTER(weft_toml_get_int, int64_t, WEFT_TOML_INTEGER, f->u.i)
SIMPLE_GETTER(weft_toml_get_float, double, WEFT_TOML_FLOAT, f->u.f)
SIMPLE_GETTER(weft_toml_get_bool, bool, WEFT_TOML_BOOL, f->u.b != 0)

int weft_toml_get_string(const weft_toml_value_t *v, const char *path, const char **out, size_t *len)
{
    const weft_toml_value_t *f;
    if (!out)
        return WEFT_EINVAL;
    int rc = get(v, path, WEFT_TOML_STRING, &f);
    if (rc == 0) {
        *out = f->u.s;
        if (len)
            *len = weft__toml_strlen(f);
    }
    return rc;
}

int weft_toml_get_number(const weft_toml_value_t *v, const char *path, double *out)
{
    const weft_toml_value_t *f;
    if (!out)
        return WEFT_EINVAL;
    int rc = weft_toml_find(v, path, &f);
    if (rc)
        return rc;
    if (f->type == WEFT_TOML_FLOAT)
        *out = f->u.f;
    else if (f->type == WEFT_TOML_INTEGER)
        *out = (double)f->u.i;
    else
        return WEFT_ETYPE;
    return 0;
}

int weft_toml_get_datetime(const weft_toml_value_t *v, const char *path, weft_toml_datetime_t *out)
{
    const weft_toml_value_t *f;
    if (!out)
        return WEFT_EINVAL;
    int rc = weft_toml_find(v, path, &f);
    if (rc)
        return rc;
    if (f->type < WEFT_TOML_DATETIME || f->type > WEFT_TOML_TIME_LOCAL)
        return WEFT_ETYPE;
    const weft__toml_dt_t *d = f->u.dt;
    memset(out, 0, sizeof *out);
    out->type = (weft_toml_type_t)f->type;
    out->year = d->year;
    out->month = d->month;
    out->day = d->day;
    out->hour = d->hour;
    out->minute = d->minute;
    out->second = d->second;
    out->nanosecond = (int)d->nanosecond;
    out->offset_minutes = d->offset;
    return 0;
}
