/* From templates to tasks: names expanded and checked for uniqueness,
 * `after` patterns resolved to edges (exact names, {name} fan-in over the
 * values a task does not fix, globs), kernel arguments checked, cycles
 * refused, and --only applied. */
#include "workloads/workflow/internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

/* FNV-1a, then a finalizer: names of a sweep differ in their last bytes,
 * and without the mixing their slots cluster (long probes, each a string
 * compared). */
static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* A slot of f->hash: the task's index + 1 in the low 27 bits (tasks are
 * fewer than 2^27), and 5 bits of its name's hash above them, so that a
 * probe past another name compares its string only once in 32. */
#define SLOT_BITS 27
#define SLOT_INDEX(e) ((e) & ((1u << SLOT_BITS) - 1))
#define SLOT_TAG(h) ((h) >> SLOT_BITS)
_Static_assert(WF_MAX_TASKS < (1u << SLOT_BITS), "a task index fits its slot");

uint32_t weft__wf_find(const weft__flow_t *f, const char *name)
{
    uint32_t h = hash_name(name), tag = SLOT_TAG(h);
    for (uint32_t i = h & f->hmask;; i = (i + 1) & f->hmask) {
        uint32_t e = f->hash[i];
        if (e == 0)
            return UINT32_MAX;
        if (e >> SLOT_BITS == tag && strcmp(f->tasks[SLOT_INDEX(e) - 1].name, name) == 0)
            return SLOT_INDEX(e) - 1;
    }
}

static bool name_ok(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 200)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("._-+=,@:%", *s)))
            return false;
    return true;
}

/* Paths (stdout, stderr, cwd) longer than the system takes would be cut
 * or refused at run time: refuse them now. A bound from the longest sweep
 * value settles most templates without expanding each task. */
static int check_paths(weft__flow_t *f, const wf_tmpl_t *t, size_t maxval)
{
    const weft_toml_value_t *vs[] = {t->out, t->err, t->cwd};
    const char *keys[] = {"stdout", "stderr", "cwd"};
    for (size_t k = 0; k < 3; k++) {
        const char *s;
        if (!vs[k] || weft_toml_get_string(vs[k], NULL, &s, NULL) != 0)
            continue;
        size_t braces = 0;
        for (const char *p = s; *p; p++)
            braces += *p == '{';
        if (strlen(s) + braces * maxval < PATH_MAX)
            continue;
        for (uint32_t c = 0; c < t->count; c++) {
            size_t len = weft__wf_expand(f, t, c, NULL, s, NULL, 0);
            if (len >= PATH_MAX)
                return weft__wf_error(f, AT(vs[k]), t->name, keys[k],
                                      "expands to a path of %zu bytes for its task number %" PRIu32 " (at most %d)",
                                      len, c, PATH_MAX - 1);
        }
    }
    return 0;
}

int weft__wf_expand_tasks(weft__flow_t *f)
{
    f->tasks = weft__malloc((size_t)(f->ntasks ? f->ntasks : 1) * sizeof *f->tasks);
    uint32_t cap = 16;
    while (cap < 2 * (uint64_t)f->ntasks)
        cap *= 2;
    f->hash = weft__calloc(cap, sizeof *f->hash);
    f->hmask = cap - 1;
    if (!f->tasks || !f->hash)
        return WEFT_ENOMEM;
    size_t maxval = 20; /* the longest value a placeholder stands for ({index}: 20 digits at most) */
    for (uint32_t i = 0; i < f->nparams; i++)
        for (uint32_t j = 0; j < f->params[i].nvalues; j++) {
            size_t len = strlen(f->params[i].values[j]);
            maxval = len > maxval ? len : maxval;
        }
    uint32_t n = 0;
    for (uint32_t ti = 0; ti < f->ntmpls; ti++) {
        wf_tmpl_t *t = &f->tmpls[ti];
        int rc = check_paths(f, t, maxval);
        if (rc)
            return rc;
        /* names go into the index a batch at a time: their slots are
         * prefetched while the next names are expanded (a 1M-task sweep's
         * index is 8 MB: each first touch a cache miss) */
        enum { BATCH = 16 };
        struct {
            const char *s;
            uint32_t h, n;
        } pend[BATCH];
        uint32_t np = 0;
        for (uint32_t c = 0; c < t->count; c++, n++) {
            char buf[256];
            size_t len = weft__wf_expand(f, t, c, NULL, t->name, buf, sizeof buf);
            if (len >= sizeof buf || !name_ok(buf))
                return weft__wf_error(f, AT(t->name_v), t->name, "name",
                                      "'%s' is not a valid task name (1 to 200 letters, digits and . _ - + = , @ "
                                      ": %%, not starting with '.')",
                                      buf);
            char *s = weft__arena_alloc(&f->arena, len + 1, 1);
            if (!s)
                return WEFT_ENOMEM;
            memcpy(s, buf, len + 1);
            f->tasks[n] = (wf_task_t){.tmpl = t, .name = s, .combo = c, .keep = 1};
            uint32_t h = hash_name(s);
            __builtin_prefetch(&f->hash[h & f->hmask], 1);
            pend[np].s = s;
            pend[np].h = h;
            pend[np++].n = n;
            if (np < BATCH && c + 1 < t->count)
                continue;
            for (uint32_t k = 0; k < np; k++) {
                uint32_t i = pend[k].h & f->hmask;
                for (; f->hash[i]; i = (i + 1) & f->hmask) {
                    const wf_task_t *o = &f->tasks[SLOT_INDEX(f->hash[i]) - 1];
                    if (f->hash[i] >> SLOT_BITS == SLOT_TAG(pend[k].h) && strcmp(o->name, pend[k].s) == 0)
                        return weft__wf_error(f, AT(t->name_v), t->name, "name",
                                              "the task name '%s' is already used by the task at line %u", pend[k].s,
                                              weft_toml_line(o->tmpl->name_v));
                }
                f->hash[i] = SLOT_TAG(pend[k].h) << SLOT_BITS | (pend[k].n + 1);
            }
            np = 0;
        }
    }
    return 0;
}

/* ---- dependencies ------------------------------------------------------------------ */

typedef struct edges {
    uint32_t *v;
    size_t n, cap;
} edges_t;

static int push_edge(edges_t *e, uint32_t dep)
{
    if (WEFT__GROW(e->v, e->cap, e->n + 1, 256))
        return WEFT_ENOMEM;
    e->v[e->n++] = dep;
    return 0;
}

/* One expanded pattern of task ti: its edges. */
static int add_matches(weft__flow_t *f, uint32_t ti, const weft_toml_value_t *pv, const char *pat, edges_t *e)
{
    const wf_task_t *t = &f->tasks[ti];
    if (weft__wf_is_glob(pat)) {
        size_t before = e->n;
        for (uint32_t j = 0; j < f->ntasks; j++) {
            if (j != ti && weft__wf_glob(pat, f->tasks[j].name)) {
                int rc = push_edge(e, j);
                if (rc)
                    return rc;
            }
        }
        if (e->n == before)
            return weft__wf_error(f, AT(pv), t->name, "after", "'%s' matches no task", pat);
        return 0;
    }
    uint32_t j = weft__wf_find(f, pat);
    if (j == UINT32_MAX)
        return weft__wf_error(f, AT(pv), t->name, "after", "there is no task '%s'", pat);
    if (j == ti)
        return weft__wf_error(f, AT(pv), t->name, "after", "a task cannot run after itself");
    return push_edge(e, j);
}

/* Pattern pv of task ti, for every value of the dimensions the task does
 * not fix (a fan-in: "report" after "solve-{n}" waits for every n). */
static int resolve_pattern(weft__flow_t *f, uint32_t ti, const weft_toml_value_t *pv, edges_t *e)
{
    const wf_task_t *t = &f->tasks[ti];
    const char *pat;
    weft_toml_get_string(pv, NULL, &pat, NULL);
    uint64_t used = 0;
    weft__wf_refs(f, pv, t->tmpl, "after", &used);
    for (uint32_t m = 0; m < t->tmpl->ndims; m++)
        used &= ~(UINT64_C(1) << t->tmpl->dims[m]);
    uint32_t extra[64] = {0};
    char buf[512];
    for (;;) {
        size_t len = weft__wf_expand(f, t->tmpl, t->combo, extra, pat, buf, sizeof buf);
        if (len >= sizeof buf)
            return weft__wf_error(f, AT(pv), t->name, "after", "the name is too long");
        int rc = add_matches(f, ti, pv, buf, e);
        if (rc)
            return rc;
        /* next combination of the free dimensions (odometer) */
        uint32_t d = 64;
        for (uint32_t k = f->ndims; k-- > 0;) {
            if (!(used >> k & 1))
                continue;
            if (++extra[k] < f->dims[k].len) {
                d = k;
                break;
            }
            extra[k] = 0;
        }
        if (d == 64)
            return 0;
    }
}

int weft__wf_kargs(const weft__flow_t *f, const wf_task_t *t, const char **keys, const char **vals, char *buf,
                   size_t cap, size_t *nargs)
{
    const wf_tmpl_t *tm = t->tmpl;
    size_t n = 0, used = 0;
    for (const weft_toml_value_t *a = weft_toml_first(tm->args); a; a = weft_toml_next(a), n++) {
        if (n == WEFT_KERNEL_MAX_ARGS)
            return WEFT_EINVAL;
        keys[n] = weft_toml_key(a, NULL);
        const char *s;
        char text[512];
        if (weft_toml_get_string(a, NULL, &s, NULL) != 0) {
            weft__wf_format(a, text, sizeof text);
            s = text;
        }
        size_t len = weft__wf_expand(f, tm, t->combo, NULL, s, buf + used, cap - used);
        if (used + len + 1 > cap)
            return WEFT_ENOMEM;
        vals[n] = buf + used;
        used += len + 1;
    }
    *nargs = n;
    return 0;
}

static int check_kernel(weft__flow_t *f, const wf_task_t *t)
{
    const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
    char buf[8192];
    weft__kctx_t k = {.checking = true, .cpus = t->tmpl->cpus, .keys = keys, .vals = vals, .bad_arg = -1};
    if (weft__wf_kargs(f, t, keys, vals, buf, sizeof buf, &k.nargs) != 0)
        return weft__wf_error(f, AT(t->tmpl->args), t->name, "args", "too many or too long arguments (at most %d)",
                              WEFT_KERNEL_MAX_ARGS);
    if (t->tmpl->kernel->fn(&k) >= 0)
        return 0;
    if (k.bad_arg >= 0) {
        const weft_toml_value_t *a = weft_toml_first(t->tmpl->args);
        for (int i = 0; i < k.bad_arg; i++)
            a = weft_toml_next(a);
        char key[300];
        snprintf(key, sizeof key, "args.%s", keys[k.bad_arg]);
        return weft__wf_error(f, AT(a), t->name, key, "%s", k.error);
    }
    return weft__wf_error(f, AT(t->tmpl->args ? t->tmpl->args : t->tmpl->run), t->name,
                          t->tmpl->args ? "args" : "kernel", "%s", k.error);
}

/* Depth-first search for a cycle; reports it as "a -> b -> a". */
static int find_cycle(weft__flow_t *f)
{
    uint8_t *color = weft__calloc(f->ntasks ? f->ntasks : 1, 1); /* 0 new, 1 on stack, 2 done */
    uint32_t *stack = weft__malloc((size_t)(f->ntasks ? f->ntasks : 1) * sizeof *stack);
    uint32_t *pos = weft__malloc((size_t)(f->ntasks ? f->ntasks : 1) * sizeof *pos);
    if (!color || !stack || !pos) {
        weft__free(color);
        weft__free(stack);
        weft__free(pos);
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (uint32_t s = 0; s < f->ntasks && !rc; s++) {
        if (color[s])
            continue;
        uint32_t sp = 0;
        stack[sp] = s;
        pos[sp++] = f->dep_off[s];
        color[s] = 1;
        while (sp && !rc) {
            uint32_t v = stack[sp - 1];
            if (pos[sp - 1] == f->dep_off[v + 1]) {
                color[v] = 2;
                sp--;
                continue;
            }
            uint32_t w = f->deps[pos[sp - 1]++];
            if (color[w] == 0) {
                color[w] = 1;
                stack[sp] = w;
                pos[sp++] = f->dep_off[w];
            } else if (color[w] == 1) {
                /* the cycle is stack[k..sp) where stack[k] == w; print it
                 * in running order: each task runs after the next */
                uint32_t k = sp;
                while (stack[k - 1] != w)
                    k--;
                k--;
                char msg[900];
                size_t n = (size_t)snprintf(msg, sizeof msg, "%s -> %s", f->tasks[w].name, f->tasks[v].name);
                for (uint32_t i = sp - 1; i-- > k + 1 && n < sizeof msg;)
                    n += (size_t)snprintf(msg + n, sizeof msg - n, " -> %s", f->tasks[stack[i]].name);
                if (n < sizeof msg && v != w)
                    snprintf(msg + n, sizeof msg - n, " -> %s", f->tasks[w].name);
                const wf_task_t *t = &f->tasks[w];
                rc = weft__wf_error(f, AT(t->tmpl->after), t->name, "after",
                                    "dependency cycle: %s (each runs after the one before it)", msg);
            }
        }
    }
    weft__free(color);
    weft__free(stack);
    weft__free(pos);
    return rc;
}

static int apply_only(weft__flow_t *f, const weft__flow_opts_t *o)
{
    if (!o->nonly)
        return 0;
    uint32_t *stack = weft__malloc((size_t)f->ntasks * sizeof *stack);
    if (!stack)
        return WEFT_ENOMEM;
    for (uint32_t i = 0; i < f->ntasks; i++)
        f->tasks[i].keep = 0;
    uint32_t sp = 0;
    for (size_t g = 0; g < o->nonly; g++) {
        bool any = false;
        for (uint32_t i = 0; i < f->ntasks; i++) {
            if (!weft__wf_glob(o->only[g], f->tasks[i].name))
                continue;
            any = true;
            if (!f->tasks[i].keep) {
                f->tasks[i].keep = 1;
                stack[sp++] = i;
            }
        }
        if (!any) {
            weft__free(stack);
            return weft__wf_error(f, 0, 0, NULL, NULL, "--only '%s' matches no task", o->only[g]);
        }
    }
    while (sp) {
        uint32_t v = stack[--sp];
        for (uint32_t e = f->dep_off[v]; e < f->dep_off[v + 1]; e++) {
            uint32_t w = f->deps[e];
            if (!f->tasks[w].keep) {
                f->tasks[w].keep = 1;
                stack[sp++] = w;
            }
        }
    }
    weft__free(stack);
    return 0;
}

int weft__wf_resolve(weft__flow_t *f, const weft__flow_opts_t *o)
{
    f->dep_off = weft__malloc(((size_t)f->ntasks + 1) * sizeof *f->dep_off);
    if (!f->dep_off)
        return WEFT_ENOMEM;
    edges_t e = {0};
    int rc = 0;
    const wf_tmpl_t *tm = NULL;
    bool args_vary = false;
    for (uint32_t i = 0; i < f->ntasks && !rc; i++) {
        const wf_task_t *t = &f->tasks[i];
        f->dep_off[i] = (uint32_t)e.n;
        const weft_toml_value_t *after = t->tmpl->after;
        /* a kernel's arguments are checked for each task when they have
         * placeholders; else once, with its template's first task (its
         * tasks lie together) */
        bool first = t->tmpl != tm;
        if (first) {
            tm = t->tmpl;
            args_vary = tm->args && weft__wf_has_placeholder(tm->args);
        }
        if (t->tmpl->kernel && (first || args_vary))
            rc = check_kernel(f, t);
        if (!after || rc)
            continue;
        if (weft_toml_type(after) == WEFT_TOML_STRING)
            rc = resolve_pattern(f, i, after, &e);
        for (const weft_toml_value_t *p = weft_toml_first(after); p && !rc; p = weft_toml_next(p))
            rc = resolve_pattern(f, i, p, &e);
        if (e.n > UINT32_MAX - 1)
            rc = weft__wf_error(f, AT(after), t->name, "after", "too many dependencies in the workflow");
    }
    f->dep_off[f->ntasks] = (uint32_t)e.n;
    f->deps = e.v;
    f->nedges = e.n;
    if (rc)
        return rc;
    rc = find_cycle(f);
    if (!rc)
        rc = apply_only(f, o);
    return rc;
}
