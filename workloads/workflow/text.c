/* Template strings: {name} references to sweep parameters, their
 * expansion for one task, values as text, and globs. */
#include "workloads/workflow/internal.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int param_index(const weft__flow_t *f, const char *name, size_t len)
{
    for (uint32_t i = 0; i < f->nparams; i++)
        if (strlen(f->params[i].name) == len && memcmp(f->params[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static bool is_index(const char *name, size_t len)
{
    return len == 5 && memcmp(name, "index", 5) == 0;
}

/* When p starts a placeholder — {name} or {name:raw}: an identifier in
 * braces, not after '$' (${HOME} and awk's { print } stay as they are) —
 * the length of the name, with *end at its closing brace and *raw set
 * for the :raw form; else 0. */
static size_t placeholder(const char *s, const char *p, const char **end, bool *raw)
{
    if (*p != '{' || (p > s && p[-1] == '$'))
        return 0;
    const char *q = p + 1;
    if (!(isalpha((unsigned char)*q) || *q == '_'))
        return 0;
    while (isalnum((unsigned char)*q) || *q == '_')
        q++;
    size_t len = (size_t)(q - p - 1);
    *raw = strncmp(q, ":raw}", 5) == 0;
    if (*raw)
        q += 4;
    if (*q != '}')
        return 0;
    *end = q;
    return len;
}

int weft__wf_refs(weft__flow_t *f, const weft_toml_value_t *v, const wf_tmpl_t *t, const char *key, uint64_t *dims)
{
    const char *s;
    if (weft_toml_get_string(v, NULL, &s, NULL) != 0)
        return 0;
    const char *task = t ? t->name : NULL;
    for (const char *p = s; *p; p++) {
        if ((*p == '{' || *p == '}') && p[1] == *p) {
            p++;
            continue;
        }
        const char *end;
        bool raw;
        size_t len = placeholder(s, p, &end, &raw);
        if (!len)
            continue;
        int i = param_index(f, p + 1, len);
        if (i >= 0)
            *dims |= UINT64_C(1) << f->params[i].dim;
        else if (!is_index(p + 1, len)) {
            char names[256] = "";
            size_t n = 0;
            for (uint32_t j = 0; j < f->nparams && n < sizeof names; j++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", j ? ", " : "", f->params[j].name);
            if (f->nparams)
                return weft__wf_error(f, AT(v), task, key,
                                      "{%.*s} is not a sweep parameter (the sweep defines %s, and {index}; "
                                      "write {{%.*s}} for the text itself)",
                                      (int)len, p + 1, names, (int)len, p + 1);
            return weft__wf_error(f, AT(v), task, key,
                                  "{%.*s} is not a sweep parameter (there is no [sweep] table; {index} is "
                                  "the only name; write {{%.*s}} for the text itself)",
                                  (int)len, p + 1, (int)len, p + 1);
        }
        p = end;
    }
    return 0;
}

uint32_t weft__wf_digit(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, uint32_t d)
{
    for (uint32_t m = t->ndims; m-- > 0;) {
        uint32_t len = f->dims[t->dims[m]].len;
        if (t->dims[m] == d)
            return combo % len;
        combo /= len;
    }
    return UINT32_MAX;
}

/* A value the shell reads as itself in any position (1e-6, out/64.txt):
 * it needs no quotes. */
static bool shell_plain(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (!isalnum((unsigned char)*v) && !strchr("_-+.,/:@%", *v))
            return false;
    return true;
}

/* Where a shell string's text stands: outside quotes, in '...' or in
 * "..." (after a backslash, one character is taken as it is). */
enum { SH_BARE, SH_SINGLE, SH_DOUBLE };

size_t weft__wf_expand_ex(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const uint32_t *extra,
                          const char *s, unsigned flags, char *buf, size_t cap)
{
    size_t n = 0;
    int sh = SH_BARE;
    bool escaped = false;
#define PUT(c)                                                                                                         \
    do {                                                                                                               \
        if (n + 1 < cap)                                                                                               \
            buf[n] = (c);                                                                                              \
        n++;                                                                                                           \
    } while (0)
    for (const char *p = s; *p; p++) {
        if ((*p == '{' || *p == '}') && p[1] == *p) {
            PUT(*p);
            p++;
            escaped = false;
            continue;
        }
        const char *close;
        bool raw;
        size_t len = placeholder(s, p, &close, &raw);
        if (!len) {
            PUT(*p);
            if (!(flags & WF_EXPAND_SHELL))
                continue;
            /* follow the shell's quoting, to quote values for where they land */
            if (escaped)
                escaped = false;
            else if (*p == '\\' && sh != SH_SINGLE)
                escaped = true;
            else if (*p == '\'' && sh != SH_DOUBLE)
                sh = sh == SH_SINGLE ? SH_BARE : SH_SINGLE;
            else if (*p == '"' && sh != SH_SINGLE)
                sh = sh == SH_DOUBLE ? SH_BARE : SH_DOUBLE;
            continue;
        }
        escaped = false;
        char num[16];
        const char *val = "";
        int i = param_index(f, p + 1, len);
        if (i >= 0) {
            uint32_t d = f->params[i].dim;
            uint32_t digit = weft__wf_digit(f, t, combo, d);
            if (digit == UINT32_MAX && extra)
                digit = extra[d];
            if (digit != UINT32_MAX)
                val = f->params[i].values[digit];
        } else if (is_index(p + 1, len)) {
            snprintf(num, sizeof num, "%" PRIu32, combo);
            val = num;
        }
        if (!(flags & WF_EXPAND_SHELL) || raw || shell_plain(val)) {
            for (; *val; val++)
                PUT(*val);
        } else if (sh == SH_DOUBLE) { /* in "...": \ before what stays special there */
            for (; *val; val++) {
                if (*val == '$' || *val == '`' || *val == '"' || *val == '\\')
                    PUT('\\');
                PUT(*val);
            }
        } else { /* bare: one '...' word; in '...': the value between its quotes */
            if (sh == SH_BARE)
                PUT('\'');
            for (; *val; val++) {
                if (*val == '\'') { /* close, an escaped quote, reopen */
                    PUT('\'');
                    PUT('\\');
                    PUT('\'');
                }
                PUT(*val);
            }
            if (sh == SH_BARE)
                PUT('\'');
        }
        p = close;
    }
#undef PUT
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

size_t weft__wf_expand(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const uint32_t *extra, const char *s,
                       char *buf, size_t cap)
{
    return weft__wf_expand_ex(f, t, combo, extra, s, 0, buf, cap);
}

char *weft__wf_expand_dup_ex(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const char *s, unsigned flags)
{
    char small[256];
    size_t n = weft__wf_expand_ex(f, t, combo, NULL, s, flags, small, sizeof small);
    char *out = weft__malloc(n + 1);
    if (!out)
        return NULL;
    if (n < sizeof small)
        memcpy(out, small, n + 1);
    else
        weft__wf_expand_ex(f, t, combo, NULL, s, flags, out, n + 1);
    return out;
}

char *weft__wf_expand_dup(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const char *s)
{
    return weft__wf_expand_dup_ex(f, t, combo, s, 0);
}

/* The shortest text that reads back as the same double, in %g or %e
 * style (the exponent form only when it is shorter: 1e-6, 0.5, 100),
 * with a short exponent (1e-6, not 1e-06). */
static void shortest(double d, char conv, char *out, size_t cap)
{
    char tmp[64];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, conv == 'g' ? "%.*g" : "%.*e", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    char *e = strchr(tmp, 'e');
    if (e) {
        char *digits = e + 1;
        if (*digits == '+')
            memmove(digits, digits + 1, strlen(digits));
        if (*digits == '-')
            digits++;
        while (digits[0] == '0' && digits[1])
            memmove(digits, digits + 1, strlen(digits));
    }
    snprintf(out, cap, "%s", tmp);
}

void weft__wf_format_double(double d, char *buf, size_t cap)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, cap, "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
        return;
    }
    char g[64], e[64];
    shortest(d, 'g', g, sizeof g);
    shortest(d, 'e', e, sizeof e);
    snprintf(buf, cap, "%s", strlen(e) < strlen(g) ? e : g);
}

int weft__wf_format(const weft_toml_value_t *v, char *buf, size_t cap)
{
    const char *s;
    int64_t i;
    double d;
    bool b;
    if (weft_toml_get_string(v, NULL, &s, NULL) == 0) {
        snprintf(buf, cap, "%s", s);
    } else if (weft_toml_get_int(v, NULL, &i) == 0) {
        snprintf(buf, cap, "%" PRId64, i);
    } else if (weft_toml_get_float(v, NULL, &d) == 0) {
        weft__wf_format_double(d, buf, cap);
    } else if (weft_toml_get_bool(v, NULL, &b) == 0) {
        snprintf(buf, cap, "%s", b ? "true" : "false");
    } else {
        return WEFT_ETYPE;
    }
    return 0;
}

bool weft__wf_is_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

bool weft__wf_glob(const char *pat, const char *s)
{
    return fnmatch(pat, s, 0) == 0;
}

bool weft__wf_has_placeholder(const weft_toml_value_t *v)
{
    const char *s;
    if (weft_toml_type(v) == WEFT_TOML_ARRAY || weft_toml_type(v) == WEFT_TOML_TABLE) {
        for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e))
            if (weft__wf_has_placeholder(e))
                return true;
        return false;
    }
    return weft_toml_get_string(v, NULL, &s, NULL) == 0 && strchr(s, '{') != NULL;
}
