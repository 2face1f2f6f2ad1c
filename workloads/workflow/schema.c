/* The workflow schema: [workflow], [sweep] (lists, ranges, zipped lists,
 * --set overrides) and [[task]] tables, every key checked for its type and
 * range, unknown keys refused, each error with its file position. */
#include "workloads/workflow/internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/runtime.h"

int weft__wf_error(weft__flow_t *f, unsigned line, unsigned col, const char *task, const char *key, const char *fmt,
                   ...)
{
    size_t n = line ? (size_t)snprintf(f->err, f->errlen, "%s:%u:%u: ", f->path, line, col)
                    : (size_t)snprintf(f->err, f->errlen, "%s: ", f->path);
    if (task && n < f->errlen)
        n += (size_t)snprintf(f->err + n, f->errlen - n, "task '%s': ", task);
    if (key && n < f->errlen)
        n += (size_t)snprintf(f->err + n, f->errlen - n, "key '%s': ", key);
    if (n < f->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->err + n, f->errlen - n, fmt, ap);
        va_end(ap);
    }
    return WEFT_EPARSE;
}

/* "a string", "an integer", ... for messages */
static const char *tname(const weft_toml_value_t *v)
{
    switch (weft_toml_type(v)) {
    case WEFT_TOML_TABLE: return "a table";
    case WEFT_TOML_ARRAY: return "an array";
    case WEFT_TOML_STRING: return "a string";
    case WEFT_TOML_INTEGER: return "an integer";
    case WEFT_TOML_FLOAT: return "a float";
    case WEFT_TOML_BOOL: return "a boolean";
    default: return "a date/time";
    }
}

static char *arena_strdup(weft__flow_t *f, const char *s, size_t len)
{
    char *d = weft__arena_alloc(&f->arena, len + 1, 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* ---- small typed readers ---------------------------------------------------- */

static int want_string(weft__flow_t *f, const weft_toml_value_t *v, const char *task, const char *key, const char **out)
{
    size_t len;
    if (weft_toml_get_string(v, NULL, out, &len) != 0)
        return weft__wf_error(f, AT(v), task, key, "expected a string, got %s", tname(v));
    if (len == 0)
        return weft__wf_error(f, AT(v), task, key, "must not be empty");
    if (strlen(*out) != len)
        return weft__wf_error(f, AT(v), task, key, "must not contain a NUL character");
    return 0;
}

static int want_int(weft__flow_t *f, const weft_toml_value_t *v, const char *task, const char *key, int64_t lo,
                    int64_t hi, int *out)
{
    int64_t i;
    if (weft_toml_get_int(v, NULL, &i) != 0)
        return weft__wf_error(f, AT(v), task, key, "expected an integer, got %s", tname(v));
    if (i < lo || i > hi)
        return weft__wf_error(f, AT(v), task, key, "must be from %" PRId64 " to %" PRId64 ", got %" PRId64, lo, hi, i);
    *out = (int)i;
    return 0;
}

/* Durations are at most this (about 31 years: the nanoseconds fit). */
#define MAX_DURATION_S 1e9

int weft__wf_duration(const weft_toml_value_t *v, uint64_t *ns)
{
    double secs = 0;
    const char *s;
    if (weft_toml_get_number(v, NULL, &secs) == 0) {
        if (secs >= MAX_DURATION_S)
            return WEFT_ENOTSUP; /* too long */
        if (!(secs > 0))
            return WEFT_EINVAL;
        *ns = (uint64_t)(secs * 1e9);
        return 0;
    }
    if (weft_toml_get_string(v, NULL, &s, NULL) != 0)
        return WEFT_ETYPE;
    const char *p = s;
    if (!*p)
        return WEFT_EINVAL;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return WEFT_EINVAL;
        double x = strtod(p, &end);
        if (end == p)
            return WEFT_EINVAL;
        p = end;
        double unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1e-3;
            p += 2;
        } else if (*p == 's' || *p == 'm' || *p == 'h' || *p == 'd') {
            unit = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 86400;
            p++;
        } else {
            return WEFT_EINVAL;
        }
        secs += x * unit;
    }
    if (secs >= MAX_DURATION_S)
        return WEFT_ENOTSUP;
    if (!(secs > 0))
        return WEFT_EINVAL;
    *ns = (uint64_t)(secs * 1e9 + 0.5);
    return 0;
}

static int want_duration(weft__flow_t *f, const weft_toml_value_t *v, const char *task, const char *key, uint64_t *ns)
{
    int rc = weft__wf_duration(v, ns);
    if (rc == WEFT_ETYPE)
        return weft__wf_error(f, AT(v), task, key,
                              "expected a duration (\"90s\", \"10m\", \"1h30m\", "
                              "\"250ms\" or a number of seconds), got %s",
                              tname(v));
    if (rc) {
        char text[64];
        if (weft__wf_format(v, text, sizeof text) != 0)
            text[0] = '\0';
        if (rc == WEFT_ENOTSUP)
            return weft__wf_error(f, AT(v), task, key, "%s is too long: at most %.0f seconds (about 31 years)", text,
                                  MAX_DURATION_S);
        return weft__wf_error(f, AT(v), task, key,
                              "expected a positive duration (\"90s\", \"10m\", "
                              "\"1h30m\", \"250ms\" or a number of seconds), got \"%s\"",
                              text);
    }
    return 0;
}

static bool is_ident(const char *s, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* ---- [workflow] ------------------------------------------------------------------ */

static int workflow_table(weft__flow_t *f, const weft_toml_value_t *w)
{
    for (const weft_toml_value_t *v = weft_toml_first(w); v; v = weft_toml_next(v)) {
        const char *k = weft_toml_key(v, NULL), *s;
        int rc = 0;
        if (strcmp(k, "name") == 0) {
            if (!(rc = want_string(f, v, NULL, "workflow.name", &s))) {
                for (const char *p = s; *p && !rc; p++)
                    if (!(isalnum((unsigned char)*p) || strchr("._-+", *p)))
                        rc = weft__wf_error(f, AT(v), NULL, "workflow.name",
                                            "may contain only letters, digits and . _ - + (it names the "
                                            "run directory), got \"%s\"",
                                            s);
                if (!rc && s[0] == '.')
                    rc = weft__wf_error(f, AT(v), NULL, "workflow.name", "must not start with '.'");
                if (!rc && !(f->name = weft__strdup(s)))
                    rc = WEFT_ENOMEM;
            }
        } else if (strcmp(k, "threads") == 0) {
            rc = want_int(f, v, NULL, "workflow.threads", 0, 4096, &f->threads);
        } else if (strcmp(k, "gpus") == 0) {
            f->gpus_v = v;
            rc = want_int(f, v, NULL, "workflow.gpus", 0, 64, &f->gpus);
        } else if (strcmp(k, "pin") == 0) {
            if (!(rc = want_string(f, v, NULL, "workflow.pin", &s))) {
                if (strcmp(s, "none") == 0)
                    f->pin = WEFT_PIN_NONE;
                else if (strcmp(s, "core") == 0)
                    f->pin = WEFT_PIN_CORE;
                else if (strcmp(s, "pu") == 0)
                    f->pin = WEFT_PIN_PU;
                else
                    rc = weft__wf_error(f, AT(v), NULL, "workflow.pin",
                                        "expected \"none\", \"core\" or \"pu\", got \"%s\"", s);
            }
        } else if (strcmp(k, "keep_going") == 0) {
            if (weft_toml_get_bool(v, NULL, &f->keep_going) != 0)
                rc = weft__wf_error(f, AT(v), NULL, "workflow.keep_going", "expected a boolean, got %s", tname(v));
        } else if (strcmp(k, "workdir") == 0) {
            if (!(rc = want_string(f, v, NULL, "workflow.workdir", &s)) && !(f->workdir = weft__strdup(s)))
                rc = WEFT_ENOMEM;
        } else if (strcmp(k, "grace") == 0) {
            rc = want_duration(f, v, NULL, "workflow.grace", &f->grace_ns);
        } else {
            rc = weft__wf_error(f, KEY_AT(v), NULL, NULL,
                                "unknown key 'workflow.%s' ([workflow] takes name, threads, gpus, "
                                "pin, keep_going, workdir, grace)",
                                k);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- [sweep] --------------------------------------------------------------------- */

static int add_values(weft__flow_t *f, wf_param_t *p, uint32_t n)
{
    p->values = weft__arena_alloc(&f->arena, (n ? n : 1) * sizeof *p->values, sizeof(void *));
    p->nvalues = 0;
    return p->values ? 0 : WEFT_ENOMEM;
}

static int push_value(weft__flow_t *f, wf_param_t *p, const char *text)
{
    char *s = arena_strdup(f, text, strlen(text));
    if (!s)
        return WEFT_ENOMEM;
    p->values[p->nvalues++] = s;
    return 0;
}

static int range_values(weft__flow_t *f, wf_param_t *p, const weft_toml_value_t *v)
{
    char key[300];
    snprintf(key, sizeof key, "sweep.%s", p->name);
    const weft_toml_value_t *start = NULL, *stop = NULL, *step = NULL;
    for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e)) {
        const char *k = weft_toml_key(e, NULL);
        const weft_toml_value_t **slot = strcmp(k, "start") == 0  ? &start
                                         : strcmp(k, "stop") == 0 ? &stop
                                         : strcmp(k, "step") == 0 ? &step
                                                                  : NULL;
        if (!slot)
            return weft__wf_error(f, KEY_AT(e), NULL, key,
                                  "unknown key '%s' in a range (a range is { start = 1, stop = 10, step = 1 })", k);
        double d;
        if (weft_toml_get_number(e, NULL, &d) != 0 || !isfinite(d))
            return weft__wf_error(f, AT(e), NULL, key, "'%s' must be a finite number, got %s", k, tname(e));
        *slot = e;
    }
    if (!start || !stop)
        return weft__wf_error(f, AT(v), NULL, key, "a range needs start and stop (and optionally step)");
    bool ints = weft_toml_type(start) == WEFT_TOML_INTEGER && weft_toml_type(stop) == WEFT_TOML_INTEGER &&
                (!step || weft_toml_type(step) == WEFT_TOML_INTEGER);
    p->vtype = ints ? WF_V_INT : WF_V_FLOAT;
    double a, b, s = 1;
    weft_toml_get_number(start, NULL, &a);
    weft_toml_get_number(stop, NULL, &b);
    if (step)
        weft_toml_get_number(step, NULL, &s);
    if (s == 0 || (b - a) / s < 0)
        return weft__wf_error(f, AT(step ? step : v), NULL, key, "step %g never gets from %g to %g", s, a, b);
    double count = floor((b - a) / s + 1e-9) + 1;
    if (count > 10000000)
        return weft__wf_error(f, AT(v), NULL, key, "the range has %.0f values (at most 10000000)", count);
    int rc = add_values(f, p, (uint32_t)count);
    int64_t i0 = 0, st = 1;
    if (ints) {
        weft_toml_get_int(start, NULL, &i0);
        if (step)
            weft_toml_get_int(step, NULL, &st);
    }
    for (uint32_t i = 0; !rc && i < (uint32_t)count; i++) {
        char text[64];
        if (ints) { /* decimal, without printf (a 10^6-value range) */
            int64_t v = i0 + (int64_t)i * st;
            uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            char digits[24], *d = digits + sizeof digits;
            *--d = '\0';
            do
                *--d = (char)('0' + u % 10);
            while ((u /= 10) != 0);
            if (v < 0)
                *--d = '-';
            memcpy(text, d, (size_t)(digits + sizeof digits - d));
        } else {
            /* a + i*s (no accumulated rounding), printed shortest */
            weft__wf_format_double(a + (double)i * s, text, sizeof text);
        }
        rc = push_value(f, p, text);
    }
    return rc;
}

/* The WF_V_* of one TOML value, and of two together. */
static int value_type(const weft_toml_value_t *e)
{
    switch (weft_toml_type(e)) {
    case WEFT_TOML_INTEGER: return WF_V_INT;
    case WEFT_TOML_FLOAT: return WF_V_FLOAT;
    case WEFT_TOML_BOOL: return WF_V_BOOL;
    case WEFT_TOML_STRING: return WF_V_STRING;
    default: return WF_V_MIXED;
    }
}

static int join_types(int a, int b)
{
    if (a == b)
        return a;
    bool na = a == WF_V_INT || a == WF_V_FLOAT || a == WF_V_NUMBER;
    bool nb = b == WF_V_INT || b == WF_V_FLOAT || b == WF_V_NUMBER;
    return na && nb ? WF_V_NUMBER : WF_V_MIXED;
}

static int list_values(weft__flow_t *f, wf_param_t *p, const weft_toml_value_t *v)
{
    char key[300];
    snprintf(key, sizeof key, "sweep.%s", p->name);
    size_t n = weft_toml_count(v);
    if (n == 0)
        return weft__wf_error(f, AT(v), NULL, key, "the list is empty (a sweep parameter needs at least one value)");
    if (n > 10000000)
        return weft__wf_error(f, AT(v), NULL, key, "the list has %zu values (at most 10000000)", n);
    int rc = add_values(f, p, (uint32_t)n);
    size_t i = 0;
    p->vtype = value_type(weft_toml_first(v));
    for (const weft_toml_value_t *e = weft_toml_first(v); e && !rc; e = weft_toml_next(e), i++) {
        p->vtype = join_types(p->vtype, value_type(e));
        const char *str;
        size_t slen;
        if (weft_toml_get_string(e, NULL, &str, &slen) == 0) { /* kept whole, however long */
            if (strlen(str) != slen)
                return weft__wf_error(f, AT(e), NULL, key, "element %zu must not contain a NUL character", i + 1);
            rc = push_value(f, p, str);
            continue;
        }
        char text[64]; /* a number or a boolean, written shortest */
        if (weft__wf_format(e, text, sizeof text) != 0)
            return weft__wf_error(f, AT(e), NULL, key,
                                  "element %zu must be a string, integer, float or boolean, got %s", i + 1, tname(e));
        rc = push_value(f, p, text);
    }
    return rc;
}

/* One --set value checked against the type of the sweep's values in the
 * file and written as a value from the file would be (*s may be
 * replaced by a new arena string). */
static int set_value(weft__flow_t *f, const wf_param_t *p, const char *set, char **s)
{
    static const char *const what[] = {"", "an integer", "a float", "a number", "true or false", ""};
    const char *v = *s;
    char *end = NULL, text[64];
    bool ok = true;
    errno = 0;
    if (p->vtype == WF_V_INT || p->vtype == WF_V_NUMBER) {
        long long i = strtoll(v, &end, 10);
        if (*v && !*end && errno == 0 && !isspace((unsigned char)*v)) {
            snprintf(text, sizeof text, "%lld", i);
        } else if (p->vtype == WF_V_INT) {
            ok = false;
        } else {
            end = NULL;
        }
    }
    if (ok && (p->vtype == WF_V_FLOAT || (p->vtype == WF_V_NUMBER && !end))) {
        errno = 0;
        double d = strtod(v, &end);
        ok = *v && !*end && !isspace((unsigned char)*v) && errno != ERANGE;
        if (ok)
            weft__wf_format_double(d, text, sizeof text);
    }
    if (p->vtype == WF_V_BOOL) {
        ok = strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
        snprintf(text, sizeof text, "%s", v);
    }
    if (!ok)
        return weft__wf_error(f, 0, 0, NULL, NULL, "--set %s: '%s' is not %s (the file's %s values are)", set, v,
                              what[p->vtype], p->name);
    if (p->vtype == WF_V_STRING || p->vtype == WF_V_MIXED || strcmp(text, v) == 0)
        return 0;
    return (*s = arena_strdup(f, text, strlen(text))) ? 0 : WEFT_ENOMEM;
}

static int set_override(weft__flow_t *f, const char *set)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return weft__wf_error(f, 0, 0, NULL, NULL, "--set '%s': expected name=value (or name=v1,v2,...)", set);
    size_t nlen = (size_t)(eq - set);
    wf_param_t *p = NULL;
    for (uint32_t i = 0; i < f->nparams; i++)
        if (strlen(f->params[i].name) == nlen && memcmp(f->params[i].name, set, nlen) == 0)
            p = &f->params[i];
    if (!p)
        return weft__wf_error(f, 0, 0, NULL, NULL, "--set %s: the sweep has no parameter '%.*s'", set, (int)nlen, set);
    uint32_t n = 1;
    for (const char *c = eq + 1; *c; c++)
        n += *c == ',';
    int rc = add_values(f, p, n);
    for (const char *c = eq + 1; !rc;) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == 0)
            return weft__wf_error(f, 0, 0, NULL, NULL, "--set %s: empty value", set);
        char *s = arena_strdup(f, c, len);
        if (!s)
            return WEFT_ENOMEM;
        if ((rc = set_value(f, p, set, &s)) != 0)
            return rc;
        p->values[p->nvalues++] = s;
        if (!end)
            break;
        c = end + 1;
    }
    return rc;
}

static int sweep_table(weft__flow_t *f, const weft_toml_value_t *sw, const weft__flow_opts_t *o)
{
    size_t n = weft_toml_count(sw);
    f->params = weft__arena_alloc(&f->arena, (n ? n : 1) * sizeof *f->params, sizeof(void *));
    f->dims = weft__arena_alloc(&f->arena, (n ? n : 1) * sizeof *f->dims, sizeof(void *));
    if (!f->params || !f->dims)
        return WEFT_ENOMEM;
    memset(f->params, 0, (n ? n : 1) * sizeof *f->params);
    const weft_toml_value_t *zip = NULL;
    int rc = 0;
    for (const weft_toml_value_t *v = weft_toml_first(sw); v && !rc; v = weft_toml_next(v)) {
        size_t klen;
        const char *k = weft_toml_key(v, &klen);
        if (strcmp(k, "zip") == 0) {
            zip = v;
            continue;
        }
        if (!is_ident(k, klen) || strcmp(k, "index") == 0)
            return weft__wf_error(f, KEY_AT(v), NULL, NULL,
                                  "sweep parameter '%s': a name is letters, digits and _, not starting with "
                                  "a digit, and not 'index' (that one is built in)",
                                  k);
        if (klen > 200)
            return weft__wf_error(f, KEY_AT(v), NULL, NULL,
                                  "sweep parameter '%.20s...': the name is %zu "
                                  "characters long (at most 200)",
                                  k, klen);
        wf_param_t *p = &f->params[f->nparams++];
        p->name = arena_strdup(f, k, klen);
        if (!p->name)
            return WEFT_ENOMEM;
        if (weft_toml_type(v) == WEFT_TOML_ARRAY)
            rc = list_values(f, p, v);
        else if (weft_toml_type(v) == WEFT_TOML_TABLE)
            rc = range_values(f, p, v);
        else
            rc = weft__wf_error(f, AT(v), NULL, NULL,
                                "sweep parameter '%s': expected a list of values or a range "
                                "{ start, stop, step }, got %s",
                                k, tname(v));
    }
    for (size_t i = 0; i < o->nsets && !rc; i++)
        rc = set_override(f, o->sets[i]);
    if (rc)
        return rc;
    /* Dimensions: one per parameter, or one per zipped group. */
    for (uint32_t i = 0; i < f->nparams; i++)
        f->params[i].dim = UINT32_MAX;
    if (zip) {
        if (weft_toml_type(zip) != WEFT_TOML_ARRAY)
            return weft__wf_error(f, AT(zip), NULL, "sweep.zip",
                                  "expected a list of lists of parameter names, like [[\"n\", \"steps\"]], got %s",
                                  tname(zip));
        for (const weft_toml_value_t *g = weft_toml_first(zip); g; g = weft_toml_next(g)) {
            if (weft_toml_type(g) != WEFT_TOML_ARRAY || weft_toml_count(g) < 2)
                return weft__wf_error(f, AT(g), NULL, "sweep.zip",
                                      "each group is a list of two or more parameter names, like [\"n\", \"steps\"]");
            wf_dim_t *d = &f->dims[f->ndims];
            memset(d, 0, sizeof *d);
            for (const weft_toml_value_t *e = weft_toml_first(g); e; e = weft_toml_next(e)) {
                const char *name;
                if (weft_toml_get_string(e, NULL, &name, NULL) != 0)
                    return weft__wf_error(f, AT(e), NULL, "sweep.zip", "expected a parameter name, got %s", tname(e));
                uint32_t pi = UINT32_MAX;
                for (uint32_t i = 0; i < f->nparams; i++)
                    if (strcmp(f->params[i].name, name) == 0)
                        pi = i;
                if (pi == UINT32_MAX)
                    return weft__wf_error(f, AT(e), NULL, "sweep.zip", "the sweep has no parameter '%s'", name);
                if (f->params[pi].dim != UINT32_MAX)
                    return weft__wf_error(f, AT(e), NULL, "sweep.zip", "'%s' is zipped twice", name);
                wf_param_t *first = d->nparams ? &f->params[d->params[0]] : NULL;
                if (first && first->nvalues != f->params[pi].nvalues)
                    return weft__wf_error(f, AT(e), NULL, "sweep.zip",
                                          "zipped lists must have the same length: '%s' has %" PRIu32
                                          " values, '%s' has %" PRIu32,
                                          first->name, first->nvalues, name, f->params[pi].nvalues);
                if (d->nparams == WF_MAX_DIMS)
                    return weft__wf_error(f, AT(e), NULL, "sweep.zip", "at most %d names in one group", WF_MAX_DIMS);
                f->params[pi].dim = f->ndims;
                d->params[d->nparams++] = pi;
                d->len = f->params[pi].nvalues;
            }
            f->ndims++;
        }
    }
    for (uint32_t i = 0; i < f->nparams; i++) {
        if (f->params[i].dim != UINT32_MAX)
            continue;
        wf_dim_t *d = &f->dims[f->ndims];
        memset(d, 0, sizeof *d);
        d->len = f->params[i].nvalues;
        d->params[d->nparams++] = i;
        f->params[i].dim = f->ndims++;
    }
    if (f->ndims > 64)
        return weft__wf_error(f, AT(sw), NULL, "sweep", "at most 64 sweep dimensions");
    return 0;
}

/* ---- [[task]] ---------------------------------------------------------------------- */

static const char *const task_keys = "name, command, shell, kernel, args, device, after, cpus, gpus, "
                                     "when, timeout, retries, retry_on, retry_delay, retry_backoff, env, cwd, "
                                     "stdout, stderr, inputs, outputs, shard";

static int string_list(weft__flow_t *f, const weft_toml_value_t *v, const wf_tmpl_t *t, const char *key,
                       bool allow_single)
{
    const char *s;
    if (allow_single && weft_toml_type(v) == WEFT_TOML_STRING)
        return want_string(f, v, t->name, key, &s);
    if (weft_toml_type(v) != WEFT_TOML_ARRAY)
        return weft__wf_error(f, AT(v), t->name, key, "expected %s, got %s",
                              allow_single ? "a task name or a list of them" : "a list of strings", tname(v));
    size_t i = 0;
    for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e), i++)
        if (weft_toml_type(e) != WEFT_TOML_STRING)
            return weft__wf_error(f, AT(e), t->name, key, "element %zu must be a string, got %s", i + 1, tname(e));
    return 0;
}

static int scalar_table(weft__flow_t *f, const weft_toml_value_t *v, const wf_tmpl_t *t, const char *key, bool env)
{
    if (weft_toml_type(v) != WEFT_TOML_TABLE)
        return weft__wf_error(f, AT(v), t->name, key, "expected a table, got %s", tname(v));
    for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e)) {
        char text[8];
        size_t klen;
        const char *k = weft_toml_key(e, &klen);
        if (env && (!is_ident(k, klen)))
            return weft__wf_error(f, KEY_AT(e), t->name, key,
                                  "'%s' is not a valid environment variable name (letters, digits and _)", k);
        if (weft_toml_type(e) != WEFT_TOML_STRING && weft__wf_format(e, text, sizeof text) == WEFT_ETYPE)
            return weft__wf_error(f, AT(e), t->name, key, "'%s' must be a string, number or boolean, got %s", k,
                                  tname(e));
        if (klen > 200)
            return weft__wf_error(f, KEY_AT(e), t->name, key, "the name '%.20s...' is too long", k);
    }
    return 0;
}

/* The dimensions used by the strings of value v (arrays and tables too). */
static int refs_deep(weft__flow_t *f, const weft_toml_value_t *v, const wf_tmpl_t *t, const char *key, uint64_t *dims)
{
    if (weft_toml_type(v) == WEFT_TOML_ARRAY || weft_toml_type(v) == WEFT_TOML_TABLE) {
        for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e)) {
            int rc = refs_deep(f, e, t, key, dims);
            if (rc)
                return rc;
        }
        return 0;
    }
    return weft__wf_refs(f, v, t, key, dims);
}

static int task_table(weft__flow_t *f, const weft_toml_value_t *tv, wf_tmpl_t *t)
{
    memset(t, 0, sizeof *t);
    t->flow = f;
    t->table = tv;
    t->cpus = 1;
    t->kind = -1;
    const weft_toml_value_t *name = weft_toml_get(tv, "name");
    if (!name)
        return weft__wf_error(f, AT(tv), NULL, NULL, "a [[task]] needs a name");
    int rc = want_string(f, name, NULL, "name", &t->name);
    if (rc)
        return rc;
    t->name_v = name;
    for (const weft_toml_value_t *v = weft_toml_first(tv); v && !rc; v = weft_toml_next(v)) {
        const char *k = weft_toml_key(v, NULL), *s;
        if (strcmp(k, "name") == 0)
            continue;
        if (strcmp(k, "command") == 0 || strcmp(k, "shell") == 0 || strcmp(k, "kernel") == 0) {
            int kind = k[0] == 'c' ? WF_CMD : k[0] == 's' ? WF_SHELL : WF_KERNEL;
            if (t->kind >= 0)
                return weft__wf_error(f, KEY_AT(v), t->name, k,
                                      "a task runs exactly one of command, shell or kernel; it already has %s",
                                      t->kind == WF_CMD     ? "command"
                                      : t->kind == WF_SHELL ? "shell"
                                                            : "kernel");
            t->kind = kind;
            t->run = v;
            if (kind == WF_CMD) {
                rc = string_list(f, v, t, k, false);
                if (!rc && weft_toml_count(v) == 0)
                    rc = weft__wf_error(f, AT(v), t->name, k, "the command is empty");
                for (const weft_toml_value_t *e = weft_toml_first(v); e && !rc; e = weft_toml_next(e)) {
                    size_t len;
                    const char *arg;
                    weft_toml_get_string(e, NULL, &arg, &len);
                    if (strlen(arg) != len)
                        rc = weft__wf_error(f, AT(e), t->name, k, "an argument must not contain a NUL character");
                }
                if (!rc) {
                    const char *a0;
                    weft_toml_get_string(weft_toml_at(v, 0), NULL, &a0, NULL);
                    if (!a0[0])
                        rc = weft__wf_error(f, AT(weft_toml_at(v, 0)), t->name, k, "the program name is empty");
                }
            } else if (kind == WF_SHELL) {
                rc = want_string(f, v, t->name, k, &s);
            } else if (!(rc = want_string(f, v, t->name, k, &s))) {
                if (!(t->kernel = weft__kernel_find(s))) {
                    char names[256];
                    weft__kernel_names(names, sizeof names);
                    rc = weft__wf_error(f, AT(v), t->name, k, "no built-in kernel '%s' (there are: %s)", s, names);
                }
            }
        } else if (strcmp(k, "args") == 0) {
            t->args = v;
            rc = scalar_table(f, v, t, k, false);
        } else if (strcmp(k, "after") == 0) {
            t->after = v;
            rc = string_list(f, v, t, k, true);
        } else if (strcmp(k, "cpus") == 0) {
            rc = want_int(f, v, t->name, k, 1, 4096, &t->cpus);
        } else if (strcmp(k, "gpus") == 0) {
            t->gpus_v = v;
            rc = want_int(f, v, t->name, k, 0, 64, &t->gpus);
        } else if (strcmp(k, "device") == 0) {
            t->device_v = v;
            if (!(rc = want_string(f, v, t->name, k, &s))) {
                if (strcmp(s, "cpu") == 0)
                    t->device = WF_DEV_CPU;
                else if (strcmp(s, "gpu") == 0)
                    t->device = WF_DEV_GPU;
                else if (strcmp(s, "auto") == 0)
                    t->device = WF_DEV_AUTO;
                else
                    rc = weft__wf_error(f, AT(v), t->name, k, "expected \"cpu\", \"gpu\" or \"auto\", got \"%s\"", s);
            }
        } else if (strcmp(k, "timeout") == 0) {
            rc = want_duration(f, v, t->name, k, &t->timeout_ns);
        } else if (strcmp(k, "retries") == 0) {
            rc = want_int(f, v, t->name, k, 0, 100, &t->retries);
        } else if (strcmp(k, "retry_on") == 0) {
            t->retry_on_v = v;
            if (weft_toml_type(v) != WEFT_TOML_ARRAY || weft_toml_count(v) == 0 || weft_toml_count(v) > 64)
                rc = weft__wf_error(f, AT(v), t->name, k, "expected a list of 1 to 64 exit codes, got %s",
                                    weft_toml_type(v) == WEFT_TOML_ARRAY ? "a list of another length" : tname(v));
            for (const weft_toml_value_t *e = rc ? NULL : weft_toml_first(v); e && !rc; e = weft_toml_next(e))
                rc = want_int(f, e, t->name, k, 0, 255, &t->retry_on[t->nretry_on++]);
        } else if (strcmp(k, "when") == 0) {
            if (!(rc = want_string(f, v, t->name, k, &s))) {
                if (strcmp(s, "always") == 0)
                    t->always = true;
                else if (strcmp(s, "success") != 0)
                    rc = weft__wf_error(f, AT(v), t->name, k,
                                        "expected \"success\" (the default: after its dependencies succeeded) or "
                                        "\"always\" (after they finished, whatever their outcome), got \"%s\"",
                                        s);
            }
        } else if (strcmp(k, "shard") == 0) {
            t->shard_v = v;
            if (!(rc = want_string(f, v, t->name, k, &s))) {
                if (strcmp(s, "each") == 0)
                    t->shard = WF_SHARD_EACH;
                else if (strcmp(s, "skip") == 0)
                    t->shard = WF_SHARD_SKIP;
                else if (strcmp(s, "point") != 0)
                    rc = weft__wf_error(f, AT(v), t->name, k,
                                        "expected \"point\" (the default: with the other tasks of its sweep "
                                        "point), \"each\" (in every shard) or \"skip\" (in no shard: for a run "
                                        "of the whole workflow), got \"%s\"",
                                        s);
            }
        } else if (strcmp(k, "retry_delay") == 0) {
            rc = want_duration(f, v, t->name, k, &t->retry_delay_ns);
        } else if (strcmp(k, "retry_backoff") == 0) {
            if (weft_toml_get_number(v, NULL, &t->retry_backoff) != 0)
                rc = weft__wf_error(f, AT(v), t->name, k, "expected a number, got %s", tname(v));
            else if (!(t->retry_backoff >= 1 && t->retry_backoff <= 100))
                rc = weft__wf_error(f, AT(v), t->name, k, "must be from 1 to 100 (the factor each delay grows by)");
        } else if (strcmp(k, "env") == 0) {
            t->env = v;
            rc = scalar_table(f, v, t, k, true);
        } else if (strcmp(k, "cwd") == 0 || strcmp(k, "stdout") == 0 || strcmp(k, "stderr") == 0) {
            *(k[0] == 'c' ? &t->cwd : k[3] == 'o' ? &t->out : &t->err) = v;
            rc = want_string(f, v, t->name, k, &s);
        } else if (strcmp(k, "inputs") == 0 || strcmp(k, "outputs") == 0) {
            *(k[0] == 'i' ? &t->inputs : &t->outputs) = v;
            rc = string_list(f, v, t, k, false);
            size_t i = 0;
            for (const weft_toml_value_t *e = rc ? NULL : weft_toml_first(v); e && !rc; e = weft_toml_next(e), i++)
                if (weft_toml_get_string(e, NULL, &s, NULL) == 0 && !s[0])
                    rc = weft__wf_error(f, AT(e), t->name, k, "element %zu is an empty path", i + 1);
        } else {
            rc = weft__wf_error(f, KEY_AT(v), t->name, NULL, "unknown key '%s' (a task takes %s)", k, task_keys);
        }
    }
    if (rc)
        return rc;
    if (t->kind < 0)
        return weft__wf_error(f, AT(name), t->name, NULL, "needs one of command, shell or kernel");
    if (t->retry_on_v && t->kind == WF_KERNEL)
        return weft__wf_error(f, KEY_AT(t->retry_on_v), t->name, "retry_on",
                              "for command and shell tasks only (a kernel has no exit code)");
    if (t->device_v && t->kind != WF_KERNEL)
        return weft__wf_error(f, KEY_AT(t->device_v), t->name, "device",
                              "device is for kernel tasks (a %s task runs on the CPU)",
                              t->kind == WF_CMD ? "command" : "shell");
    if (t->gpus_v && t->kind == WF_KERNEL)
        return weft__wf_error(f, KEY_AT(t->gpus_v), t->name, "gpus",
                              "gpus is for command and shell tasks (a kernel task with device = \"gpu\" "
                              "takes one GPU)");
    if (t->device != WF_DEV_CPU && !t->kernel->gpu) {
        char gnames[128];
        weft__kernel_gpu_names(gnames, sizeof gnames);
        return weft__wf_error(f, AT(t->device_v), t->name, "device",
                              "kernel '%s' has no GPU version (kernels with one: %s)", t->kernel->name, gnames);
    }
    if (t->args && t->kind != WF_KERNEL)
        return weft__wf_error(f, KEY_AT(t->args), t->name, "args",
                              "args are for kernel tasks; a %s task takes "
                              "its arguments in %s",
                              t->kind == WF_CMD ? "command" : "shell",
                              t->kind == WF_CMD ? "the command list" : "the shell string");

    /* Which sweep dimensions it expands over: those its strings use. */
    uint64_t name_dims = 0, all = 0, after_dims = 0;
    rc = weft__wf_refs(f, name, t, "name", &name_dims);
    struct {
        const weft_toml_value_t *v;
        const char *key;
    } strs[] = {
        {t->run, t->kind == WF_CMD     ? "command"
                 : t->kind == WF_SHELL ? "shell"
                                       : "kernel"},
        {t->args, "args"},
        {t->env, "env"},
        {t->cwd, "cwd"},
        {t->out, "stdout"},
        {t->err, "stderr"},
        {t->inputs, "inputs"},
        {t->outputs, "outputs"},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !rc; i++)
        if (strs[i].v)
            rc = refs_deep(f, strs[i].v, t, strs[i].key, &all);
    if (!rc && t->after)
        rc = refs_deep(f, t->after, t, "after", &after_dims);
    if (rc)
        return rc;
    const char *nm;
    weft_toml_get_string(name, NULL, &nm, NULL);
    bool name_has_index = strstr(nm, "{index}") != NULL;
    uint64_t missing = all & ~name_dims;
    if (missing && !name_has_index) {
        uint32_t d = (uint32_t)__builtin_ctzll(missing);
        return weft__wf_error(f, AT(name), t->name, "name",
                              "the task uses {%s} but its name does not, so its %" PRIu32
                              " expansions would share one name (add {%s} or {index} to the name)",
                              f->params[f->dims[d].params[0]].name, f->dims[d].len,
                              f->params[f->dims[d].params[0]].name);
    }
    all |= name_dims;
    uint64_t count = 1;
    for (uint32_t d = 0; d < f->ndims; d++) {
        if (!(all >> d & 1))
            continue;
        t->dims[t->ndims++] = d;
        count *= f->dims[d].len;
        if (count > WF_MAX_TASKS)
            return weft__wf_error(f, AT(name), t->name, NULL, "expands to more than %u tasks", WF_MAX_TASKS);
    }
    t->count = (uint32_t)count;
    return 0;
}

int weft__wf_schema(weft__flow_t *f, const weft__flow_opts_t *o)
{
    const weft_toml_value_t *root = weft_toml_root(f->doc), *tasks = NULL, *sweep = NULL;
    int rc = 0;
    for (const weft_toml_value_t *v = weft_toml_first(root); v && !rc; v = weft_toml_next(v)) {
        const char *k = weft_toml_key(v, NULL);
        if (strcmp(k, "workflow") == 0) {
            rc = weft_toml_type(v) == WEFT_TOML_TABLE
                     ? workflow_table(f, v)
                     : weft__wf_error(f, AT(v), NULL, "workflow", "expected a table ([workflow]), got %s", tname(v));
        } else if (strcmp(k, "sweep") == 0) {
            if (weft_toml_type(v) != WEFT_TOML_TABLE)
                rc = weft__wf_error(f, AT(v), NULL, "sweep", "expected a table ([sweep]), got %s", tname(v));
            sweep = v;
        } else if (strcmp(k, "task") == 0) {
            tasks = v;
            const weft_toml_value_t *first = weft_toml_first(v);
            if (weft_toml_type(v) != WEFT_TOML_ARRAY || (first && weft_toml_type(first) != WEFT_TOML_TABLE))
                rc = weft__wf_error(f, AT(v), NULL, "task", "expected an array of tables ([[task]]), got %s",
                                    weft_toml_type(v) == WEFT_TOML_TABLE ? "a table ([task])" : tname(v));
            for (const weft_toml_value_t *e = first; e && !rc; e = weft_toml_next(e))
                if (weft_toml_type(e) != WEFT_TOML_TABLE)
                    rc = weft__wf_error(f, AT(e), NULL, "task", "every element must be a table, got %s", tname(e));
        } else {
            rc = weft__wf_error(f, KEY_AT(v), NULL, NULL,
                                "unknown key '%s' (a workflow file has [workflow], [sweep] and [[task]])", k);
        }
    }
    if (rc)
        return rc;
    if (sweep)
        rc = sweep_table(f, sweep, o);
    else if (o->nsets)
        rc = weft__wf_error(f, 0, 0, NULL, NULL, "--set %s: the workflow has no [sweep] table", o->sets[0]);
    if (rc)
        return rc;
    size_t n = tasks ? weft_toml_count(tasks) : 0;
    if (n == 0)
        return weft__wf_error(f, 0, 0, NULL, NULL, "no tasks (add a [[task]] table)");
    f->tmpls = weft__calloc(n, sizeof *f->tmpls);
    if (!f->tmpls)
        return WEFT_ENOMEM;
    uint64_t total = 0;
    for (const weft_toml_value_t *e = weft_toml_first(tasks); e && !rc; e = weft_toml_next(e)) {
        wf_tmpl_t *t = &f->tmpls[f->ntmpls];
        if (!(rc = task_table(f, e, t))) {
            t->first = (uint32_t)total;
            total += t->count;
            f->ntmpls++;
            if (total > WF_MAX_TASKS)
                rc = weft__wf_error(f, AT(t->name_v), t->name, NULL, "the workflow expands to more than %u tasks",
                                    WF_MAX_TASKS);
        }
    }
    if (rc)
        return rc;
    f->ntasks = (uint32_t)total;
    return 0;
}
