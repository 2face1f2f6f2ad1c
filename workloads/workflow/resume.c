/* The plan of a run: every task's definition hash, and — resuming —
 * which tasks ran before with the same definition (not run again:
 * "cached") and why each of the others runs.
 *
 * A task's definition is a list of parts, each hashed: what it runs
 * (command: each argument as expanded; shell: the script as expanded;
 * kernel: its name, and `args` as expanded), each `env` entry, `cwd`,
 * `stdout`, `stderr`, each sweep value it uses, each declared input (its
 * path, size and modification time; "missing" when it does not exist),
 * its declared outputs' paths, and the definition hashes of the tasks it
 * runs after, in order. Not parts: cpus, gpus, timeout, retries, the
 * inherited environment (they decide how a task runs, not what it
 * computes). The task's hash is that of its parts' names and hashes. */
#include "workloads/workflow/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "weft/error.h"
#include "workloads/workflow/store.h"

/* Kahn's order of all tasks (file order among the ready ones). */
uint32_t *weft__wf_topo(const weft__flow_t *f)
{
    uint32_t n = f->ntasks;
    uint32_t *indeg = weft__calloc(n ? n : 1, sizeof *indeg);
    uint32_t *succ_off = weft__calloc((size_t)n + 1, sizeof *succ_off);
    uint32_t *succ = weft__malloc((f->nedges ? f->nedges : 1) * sizeof *succ);
    uint32_t *queue = weft__malloc((size_t)(n ? n : 1) * sizeof *queue);
    if (!indeg || !succ_off || !succ || !queue) {
        weft__free(queue);
        queue = NULL;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1]; e++)
            succ_off[f->deps[e] + 1]++;
    for (uint32_t i = 0; i < n; i++)
        succ_off[i + 1] += succ_off[i];
    uint32_t *fill = indeg; /* a cursor first */
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1]; e++)
            succ[succ_off[f->deps[e]] + fill[f->deps[e]]++] = i;
    for (uint32_t i = 0; i < n; i++)
        indeg[i] = f->dep_off[i + 1] - f->dep_off[i];
    uint32_t qh = 0, qt = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!indeg[i])
            queue[qt++] = i;
    while (qh < qt) {
        uint32_t i = queue[qh++];
        for (uint32_t e = succ_off[i]; e < succ_off[i + 1]; e++)
            if (--indeg[succ[e]] == 0)
                queue[qt++] = succ[e];
    }
done:
    weft__free(indeg);
    weft__free(succ_off);
    weft__free(succ);
    return queue;
}

/* ---- the parts of a definition ------------------------------------------------------------- */

typedef struct parts {
    const weft__flow_t *f;
    const wf_task_t *t;
    bool names_only; /* the names, not the hashes (all 0) */
    bool skip_const; /* parts the same for every task of the template: not hashed (0) */
    /* each part: its name (NULL when hashing: the template has their
     * hashes), its value's hash, and whether it may differ between the
     * template's tasks (its text has a placeholder, or it is a sweep value
     * or what the task runs after) */
    void (*fn)(void *ud, const char *name, uint64_t h, bool varies);
    void *ud;
} parts_t;

/* Whether a template value's text may expand differently per task. */

static uint64_t hash_expanded(const parts_t *p, uint64_t h, const char *s, unsigned flags)
{
    char buf[4096];
    size_t n = weft__wf_expand_ex(p->f, p->t->tmpl, p->t->combo, NULL, s, flags, buf, sizeof buf);
    if (n < sizeof buf)
        return weft__hash_str(h, buf);
    char *x = weft__wf_expand_dup_ex(p->f, p->t->tmpl, p->t->combo, s, flags);
    h = weft__hash_str(h, x ? x : "");
    weft__free(x);
    return h;
}

static const char *str_of(const weft_toml_value_t *v, char *text, size_t cap)
{
    const char *s;
    if (weft_toml_get_string(v, NULL, &s, NULL) == 0)
        return s;
    weft__wf_format(v, text, cap);
    return text;
}

/* A template string's hash (0 when only the names are wanted, or when
 * it is the same for every task and those are skipped). */
static uint64_t part_str(const parts_t *p, const weft_toml_value_t *v, unsigned flags)
{
    if (p->names_only || (p->skip_const && !weft__wf_has_placeholder(v)))
        return 0;
    char text[512];
    return weft__hash_final(hash_expanded(p, WEFT__HASH_INIT, str_of(v, text, sizeof text), flags));
}

/* Task t's parts, in a fixed order for its template, to p->fn. */
static void parts_of(const parts_t *p)
{
    const weft__flow_t *f = p->f;
    const wf_task_t *t = p->t;
    const wf_tmpl_t *tm = t->tmpl;
    char name[300];
    bool skip = p->names_only; /* no hashing at all */
    if (tm->kind == WF_CMD) {
        bool v = weft__wf_has_placeholder(tm->run);
        uint64_t h = WEFT__HASH_INIT;
        for (const weft_toml_value_t *a = weft_toml_first(tm->run); a && !skip && (v || !p->skip_const);
             a = weft_toml_next(a))
            h = hash_expanded(p, h, str_of(a, name, sizeof name), 0);
        p->fn(p->ud, "command", skip ? 0 : weft__hash_final(h), v);
    } else if (tm->kind == WF_SHELL) {
        p->fn(p->ud, "shell", part_str(p, tm->run, WF_EXPAND_SHELL), weft__wf_has_placeholder(tm->run));
    } else {
        const char *kn = tm->kernel->name;
        p->fn(p->ud, "kernel", skip || p->skip_const ? 0 : weft__hash_final(weft__hash_str(WEFT__HASH_INIT, kn)),
              false);
        bool v = tm->args && weft__wf_has_placeholder(tm->args);
        uint64_t h = WEFT__HASH_INIT;
        if (!skip && tm->args && (v || !p->skip_const)) {
            const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
            char buf[8192];
            size_t na = 0;
            if (weft__wf_kargs(f, t, keys, vals, buf, sizeof buf, &na) == 0)
                for (size_t a = 0; a < na; a++)
                    h = weft__hash_str(weft__hash_str(h, keys[a]), vals[a]);
        }
        p->fn(p->ud, "args", skip ? 0 : weft__hash_final(h), v);
    }
    for (const weft_toml_value_t *e = tm->env ? weft_toml_first(tm->env) : NULL; e; e = weft_toml_next(e)) {
        if (p->names_only) /* hashing, the template's name hashes stand for the names */
            snprintf(name, sizeof name, "env.%s", weft_toml_key(e, NULL));
        p->fn(p->ud, p->names_only ? name : NULL, part_str(p, e, 0), weft__wf_has_placeholder(e));
    }
    if (tm->cwd)
        p->fn(p->ud, "cwd", part_str(p, tm->cwd, 0), weft__wf_has_placeholder(tm->cwd));
    if (tm->out)
        p->fn(p->ud, "stdout", part_str(p, tm->out, 0), weft__wf_has_placeholder(tm->out));
    if (tm->err)
        p->fn(p->ud, "stderr", part_str(p, tm->err, 0), weft__wf_has_placeholder(tm->err));
    for (uint32_t m = 0; m < tm->ndims; m++) {
        const wf_dim_t *d = &f->dims[tm->dims[m]];
        uint32_t digit = weft__wf_digit(f, tm, t->combo, tm->dims[m]);
        for (uint32_t k = 0; k < d->nparams; k++) {
            const wf_param_t *pa = &f->params[d->params[k]];
            if (p->names_only)
                snprintf(name, sizeof name, "sweep.%s", pa->name);
            p->fn(p->ud, p->names_only ? name : NULL,
                  skip ? 0 : weft__hash_final(weft__hash_str(WEFT__HASH_INIT, pa->values[digit])), true);
        }
    }
    uint32_t k = 0;
    for (const weft_toml_value_t *e = tm->inputs ? weft_toml_first(tm->inputs) : NULL; e; e = weft_toml_next(e), k++) {
        if (p->names_only)
            snprintf(name, sizeof name, "input.%" PRIu32, k);
        bool v = weft__wf_has_placeholder(e);
        uint64_t h = 0;
        if (!skip && (v || !p->skip_const)) { /* a file all its tasks read is looked at once */
            char path[PATH_MAX];
            const char *s;
            weft_toml_get_string(e, NULL, &s, NULL);
            weft__wf_expand(f, tm, t->combo, NULL, s, path, sizeof path);
            h = weft__hash_str(WEFT__HASH_INIT, path);
            struct stat st;
            if (stat(path, &st) == 0) {
                h = weft__hash_u64(h, (uint64_t)st.st_size);
                h = weft__hash_u64(h, (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
            } else {
                h = weft__hash_str(h, "missing");
            }
            h = weft__hash_final(h);
        }
        p->fn(p->ud, p->names_only ? name : NULL, h, v);
    }
    if (tm->outputs) {
        bool v = weft__wf_has_placeholder(tm->outputs);
        uint64_t h = WEFT__HASH_INIT;
        for (const weft_toml_value_t *e = weft_toml_first(tm->outputs); e && !skip && (v || !p->skip_const);
             e = weft_toml_next(e))
            h = hash_expanded(p, h, str_of(e, name, sizeof name), 0);
        p->fn(p->ud, "outputs", skip ? 0 : weft__hash_final(h), v);
    }
    if (tm->after) {
        uint32_t ti = (uint32_t)(t - f->tasks);
        uint64_t h = WEFT__HASH_INIT;
        for (uint32_t e = f->dep_off[ti]; e < f->dep_off[ti + 1] && !skip; e++)
            h = weft__hash_u64(h, f->dhash[f->deps[e]]);
        p->fn(p->ud, "after", skip ? 0 : weft__hash_final(h), true);
    }
}

/* The template's parts: how many, which vary (tm->part_slot: a varying
 * part's place among a task's stored hashes, or -1). */
typedef struct shape {
    wf_tmpl_t *tm;
    uint32_t n, nvary;
} shape_t;

static void count_part(void *ud, const char *name, uint64_t h, bool varies)
{
    shape_t *x = ud;
    (void)name, (void)h;
    if (x->tm->part_slot)
        x->tm->part_slot[x->n] = varies ? (int32_t)x->nvary : -1;
    x->n++;
    x->nvary += varies;
}

typedef struct collect {
    uint64_t *out; /* the task's varying parts' hashes */
    wf_tmpl_t *tm;
    uint32_t k; /* the part */
    bool first; /* the template's first task: its constant parts are computed and kept */
    uint64_t hash;
} collect_t;

static void collect_part(void *ud, const char *name, uint64_t h, bool varies)
{
    collect_t *c = ud;
    (void)name; /* NULL: its hash is the template's */
    if (varies)
        *c->out++ = h;
    else if (c->first)
        c->tm->part_const[c->k] = h;
    else
        h = c->tm->part_const[c->k];
    c->hash = weft__hash_u64(weft__hash_u64(c->hash, c->tm->part_names[c->k]), h);
    c->k++;
}

/* Part k's hash of task ti as planned. */
static uint64_t part_hash(const weft__flow_t *f, uint32_t ti, uint32_t k)
{
    const wf_tmpl_t *tm = f->tasks[ti].tmpl;
    int32_t slot = tm->part_slot[k];
    return slot < 0 ? tm->part_const[k] : f->phash[tm->part0 + (size_t)(ti - tm->first) * tm->nvary + (size_t)slot];
}

/* Task ti's parts as planned, as the store keeps them: per part, the hash
 * of its name then the hash of its value (little-endian u64 each). */
size_t weft__wf_parts_blob(const weft__flow_t *f, uint32_t ti, void *buf, size_t cap)
{
    const wf_tmpl_t *tm = f->tasks[ti].tmpl;
    size_t n = (size_t)tm->nparts * 16;
    if (n > cap)
        return 0;
    unsigned char *b = buf;
    for (uint32_t k = 0; k < tm->nparts; k++) {
        uint64_t h = part_hash(f, ti, k);
        memcpy(b + 16 * k, &tm->part_names[k], 8);
        memcpy(b + 16 * k + 8, &h, 8);
    }
    return n;
}

typedef struct names {
    const char **out;
    weft__arena_t *arena;
} names_t;

static void name_part(void *ud, const char *name, uint64_t h, bool varies)
{
    names_t *x = ud;
    (void)h, (void)varies;
    size_t n = strlen(name) + 1;
    char *s = weft__arena_alloc(x->arena, n, 1);
    if (s)
        memcpy(s, name, n);
    *x->out++ = s;
}

/* ---- the plan ------------------------------------------------------------------------------- */

typedef struct prev {
    int64_t run;
    uint64_t hash;
    double end;
    uint8_t status; /* 0 none, then PREV_* */
} prev_t;

enum { PREV_NONE = 0, PREV_OK, PREV_FAILED, PREV_STOPPED, PREV_SKIPPED };

typedef struct blob {
    size_t len;
    unsigned char data[];
} blob_t;

typedef struct load {
    weft__flow_t *f;
    uint32_t last; /* the task of the row before (rows come in about the order tasks finished) */
    prev_t *prev;
    blob_t **old_parts; /* per task, for changed ones */
    int rc;
} load_t;

static int load_row(void *ud, const weft__wf_attempt_row_t *a)
{
    load_t *l = ud;
    /* the tasks near the last one first: a sweep's rows come about in its
     * order, and a name compared costs less than one hashed */
    uint32_t ti = UINT32_MAX;
    static const int near[] = {-1, 1, -2, 2, -3, 3};
    for (size_t k = 0; k < sizeof near / sizeof near[0] && ti == UINT32_MAX; k++) {
        int64_t c = (int64_t)l->last + near[k];
        if (c >= 0 && c < (int64_t)l->f->ntasks && strcmp(l->f->tasks[c].name, a->task) == 0)
            ti = (uint32_t)c;
    }
    if (ti == UINT32_MAX)
        ti = weft__wf_find(l->f, a->task);
    if (ti != UINT32_MAX)
        l->last = ti;
    if (ti == UINT32_MAX || l->prev[ti].status)
        return 0; /* not in this workflow now, or a newer row seen */
    prev_t *p = &l->prev[ti];
    p->run = a->run;
    p->hash = a->hash;
    p->end = a->end;
    const char *s = a->status ? a->status : "";
    p->status = strcmp(s, "ok") == 0                                     ? PREV_OK
                : strcmp(s, "stopped") == 0                              ? PREV_STOPPED
                : strcmp(s, "skipped") == 0 || strcmp(s, "not-run") == 0 ? PREV_SKIPPED
                                                                         : PREV_FAILED;
    if (p->status == PREV_OK && p->hash != l->f->dhash[ti] && a->parts) {
        blob_t *b = weft__malloc(sizeof *b + a->parts_len);
        if (b) {
            b->len = a->parts_len;
            memcpy(b->data, a->parts, a->parts_len);
        }
        l->old_parts[ti] = b;
        if (!b)
            l->rc = WEFT_ENOMEM;
    }
    return l->rc != 0;
}

static const char *arena_printf(weft__flow_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *arena_printf(weft__flow_t *f, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t n = strlen(buf) + 1;
    char *s = weft__arena_alloc(&f->arena, n, 1);
    if (s)
        memcpy(s, buf, n);
    return s;
}

/* A part's name as the user knows it: "env SCALE", "sweep value n",
 * "input data/3.csv" (its path now), "a task it runs after". */
static void shown_name(const weft__flow_t *f, uint32_t ti, const char *nm, char *out, size_t cap)
{
    if (strncmp(nm, "env.", 4) == 0) {
        snprintf(out, cap, "env %s", nm + 4);
    } else if (strncmp(nm, "sweep.", 6) == 0) {
        snprintf(out, cap, "sweep value %s", nm + 6);
    } else if (strncmp(nm, "input.", 6) == 0) {
        const weft_toml_value_t *e = weft_toml_at(f->tasks[ti].tmpl->inputs, (size_t)atoi(nm + 6));
        const char *s = "?";
        char path[PATH_MAX];
        if (e && weft_toml_get_string(e, NULL, &s, NULL) == 0) {
            weft__wf_expand(f, f->tasks[ti].tmpl, f->tasks[ti].combo, NULL, s, path, sizeof path);
            s = path;
        }
        snprintf(out, cap, "input %.380s", s);
    } else if (strcmp(nm, "after") == 0) {
        snprintf(out, cap, "a task it runs after");
    } else {
        snprintf(out, cap, "%s", nm);
    }
}

/* What differs between the parts an earlier attempt stored (old, n bytes)
 * and task ti's now: "env SCALE, sweep value n" (changed or new parts by
 * name; parts gone since are counted). */
static const char *what_changed(weft__flow_t *f, uint32_t ti, const unsigned char *old, size_t n)
{
    const wf_tmpl_t *tm = f->tasks[ti].tmpl;
    char out[512];
    size_t len = 0, gone = 0;
    out[0] = '\0';
    for (uint32_t k = 0; k < tm->nparts; k++) {
        bool same = false;
        for (size_t o = 0; o + 16 <= n && !same; o += 16) {
            uint64_t nh, vh;
            memcpy(&nh, old + o, 8);
            memcpy(&vh, old + o + 8, 8);
            same = nh == tm->part_names[k] && vh == part_hash(f, ti, k);
        }
        if (same || len + 64 >= sizeof out)
            continue;
        char nm[400];
        shown_name(f, ti, tm->part_text[k] ? tm->part_text[k] : "?", nm, sizeof nm);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? ", " : "", nm);
    }
    for (size_t o = 0; o + 16 <= n; o += 16) {
        uint64_t nh;
        memcpy(&nh, old + o, 8);
        bool here = false;
        for (uint32_t k = 0; k < tm->nparts && !here; k++)
            here = tm->part_names[k] == nh;
        gone += !here;
    }
    if (gone && len + 48 < sizeof out)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%zu part%s removed", len ? ", " : "", gone,
                                gone == 1 ? "" : "s");
    return arena_printf(f, "%s", len ? out : "its definition");
}

/* An output of task ti missing, or written after `end` (a later attempt
 * that did not finish): its path, else NULL. */
static const char *output_gone(weft__flow_t *f, uint32_t ti, double end, bool *missing)
{
    const wf_task_t *t = &f->tasks[ti];
    for (const weft_toml_value_t *e = t->tmpl->outputs ? weft_toml_first(t->tmpl->outputs) : NULL; e;
         e = weft_toml_next(e)) {
        char path[PATH_MAX];
        const char *s;
        weft_toml_get_string(e, NULL, &s, NULL);
        weft__wf_expand(f, t->tmpl, t->combo, NULL, s, path, sizeof path);
        struct stat st;
        if (stat(path, &st) != 0) {
            *missing = true;
            return arena_printf(f, "%s", path);
        }
        double mt = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
        if (mt > end + 0.001) {
            *missing = false;
            return arena_printf(f, "%s", path);
        }
    }
    return NULL;
}

/* The definition hashes of all tasks, in `order` (upstream first). */
static void hash_tasks(weft__flow_t *f, const uint32_t *order)
{
    for (uint32_t k = 0; k < f->ntasks; k++) {
        uint32_t ti = order[k];
        wf_tmpl_t *tm = f->tasks[ti].tmpl;
        collect_t c = {.out = f->phash + tm->part0 + (size_t)(ti - tm->first) * tm->nvary,
                       .tm = tm,
                       .first = !tm->consts_ready,
                       .hash = WEFT__HASH_INIT};
        parts_t p = {.f = f, .t = &f->tasks[ti], .skip_const = tm->consts_ready, .fn = collect_part, .ud = &c};
        parts_of(&p);
        tm->consts_ready = true;
        f->dhash[ti] = weft__hash_final(c.hash);
    }
}

#define HASH_THREAD_MIN 4096 /* tasks: fewer are hashed before the plan returns */

static void *hasher_main(void *arg)
{
    weft__flow_t *f = arg;
    hash_tasks(f, f->hash_order);
    return NULL;
}

void weft__wf_plan_hashed(weft__flow_t *f)
{
    if (f->hashing) {
        pthread_join(f->hasher, NULL);
        f->hashing = false;
    } else if (f->hash_order) { /* the thread could not be had */
        hash_tasks(f, f->hash_order);
    }
    weft__free(f->hash_order);
    f->hash_order = NULL;
}

static void plan_free(weft__flow_t *f)
{
    weft__wf_plan_hashed(f); /* (a run that did not start) */
    weft__free(f->dhash);
    weft__free(f->phash);
    weft__free(f->why);
    weft__free(f->why_run);
    weft__free(f->why_text);
    f->dhash = f->phash = NULL;
    f->why = NULL;
    f->why_run = NULL;
    f->why_text = NULL;
    f->planned = false;
}

void weft__wf_plan_destroy(weft__flow_t *f)
{
    plan_free(f);
    weft__wf_store_close(f->store);
    f->store = NULL;
}

int weft__flow_plan(weft__flow_t *f, const weft__flow_resume_t *o, bool dry, char *err, size_t errlen)
{
    plan_free(f);
    if (chdir(f->workdir) != 0) { /* inputs and outputs are relative to it */
        snprintf(err, errlen, "cannot change to the working directory '%s': %s", f->workdir, strerror(errno));
        return WEFT_ESYS;
    }
    f->resumed = 0;
    f->ncached = 0;
    uint32_t n = f->ntasks;
    size_t nparts = 0;
    for (uint32_t i = 0; i < f->ntmpls; i++) {
        wf_tmpl_t *tm = &f->tmpls[i];
        tm->consts_ready = false;
        if (!tm->count)
            continue;
        /* its parts (the same for each of its tasks): how many, their names
         * and names' hashes, which vary from task to task (their hashes are
         * kept per task) and which do not (kept once) */
        if (!tm->part_names) {
            shape_t sh = {.tm = tm};
            parts_t p = {.f = f, .t = &f->tasks[tm->first], .names_only = true, .fn = count_part, .ud = &sh};
            parts_of(&p);
            tm->nparts = sh.n;
            tm->part_names = weft__arena_alloc(&f->arena, sh.n * sizeof *tm->part_names, 8);
            tm->part_const = weft__arena_alloc(&f->arena, sh.n * sizeof *tm->part_const, 8);
            tm->part_slot = weft__arena_alloc(&f->arena, sh.n * sizeof *tm->part_slot, 8);
            tm->part_text = weft__arena_alloc(&f->arena, sh.n * sizeof *tm->part_text, 8);
            if (!tm->part_names || !tm->part_const || !tm->part_slot || !tm->part_text) {
                snprintf(err, errlen, "out of memory");
                return WEFT_ENOMEM;
            }
            sh = (shape_t){.tm = tm};
            parts_of(&p); /* again, filling part_slot */
            tm->nvary = sh.nvary;
            names_t x = {.out = tm->part_text, .arena = &f->arena};
            p.fn = name_part;
            p.ud = &x;
            parts_of(&p);
            for (uint32_t k = 0; k < tm->nparts; k++)
                tm->part_names[k] =
                    weft__hash_final(weft__hash_str(WEFT__HASH_INIT, tm->part_text[k] ? tm->part_text[k] : ""));
        }
        tm->part0 = nparts;
        nparts += (size_t)tm->nvary * tm->count;
    }
    f->dhash = weft__calloc(n ? n : 1, sizeof *f->dhash);
    f->phash = weft__malloc((nparts ? nparts : 1) * sizeof *f->phash);
    f->why = weft__calloc(n ? n : 1, 1);
    if (o->mode != WEFT_FLOW_FRESH) { /* reasons: only when there is something to say */
        f->why_run = weft__calloc(n ? n : 1, sizeof *f->why_run);
        f->why_text = weft__calloc(n ? n : 1, sizeof *f->why_text);
    }
    uint32_t *order = weft__wf_topo(f);
    prev_t *prev = NULL;
    blob_t **old_parts = NULL;
    int rc = 0;
    if (!f->dhash || !f->phash || !f->why || (o->mode != WEFT_FLOW_FRESH && (!f->why_run || !f->why_text)) || !order) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* the hashes, upstream first; a fresh run only records them (nothing
     * is compared), so a large one has them computed by another thread
     * while the run is set up */
    if (o->mode == WEFT_FLOW_FRESH && !dry && n >= HASH_THREAD_MIN) {
        f->hash_order = order;
        order = NULL;
        f->hashing = pthread_create(&f->hasher, NULL, hasher_main, f) == 0;
        if (!f->hashing)
            weft__wf_plan_hashed(f);
    } else {
        hash_tasks(f, order);
    }
    /* the store: opened (created) for the run; a dry run only reads one */
    if (!f->store) {
        rc = weft__wf_store_open(f->workdir, !dry, &f->store, err, errlen);
        if (rc == WEFT_ENOENT && dry) {
            rc = 0;
            if (o->mode == WEFT_FLOW_FRESH)
                goto planned;
        }
        if (rc)
            goto out;
    }
    if (o->mode == WEFT_FLOW_FRESH)
        goto planned;
    for (size_t g = 0; g < o->nrerun; g++) { /* as --only: a glob that matches nothing is a mistake */
        bool any = false;
        for (uint32_t i = 0; i < n && !any; i++)
            any = f->tasks[i].keep && weft__wf_glob(o->rerun[g], f->tasks[i].name);
        if (!any) {
            snprintf(err, errlen, "--rerun '%s' matches no task of '%s'", o->rerun[g], f->name);
            rc = WEFT_EPARSE;
            goto out;
        }
    }
    weft__wf_run_row_t row;
    int frc = f->store ? weft__wf_store_find_run(f->store, o->run, o->run ? NULL : f->name,
                                                 o->run     ? NULL
                                                 : f->shard ? f->shard
                                                            : "",
                                                 &row)
                       : WEFT_ENOENT;
    if (frc == WEFT_ENOENT && o->run) {
        snprintf(err, errlen, "no run '%s' in %s/.weft/weft.db (weft runs lists them)", o->run, f->workdir);
        rc = WEFT_ENOENT;
        goto out;
    }
    if (frc && frc != WEFT_ENOENT) {
        snprintf(err, errlen, "%s", weft__wf_store_error(f->store));
        rc = frc;
        goto out;
    }
    if (frc == 0 && strcmp(row.flow, f->name) != 0) {
        snprintf(err, errlen, "run '%s' is of workflow '%s', not '%s'", o->run, row.flow, f->name);
        rc = WEFT_EINVAL;
        goto out;
    }
    prev = weft__calloc(n ? n : 1, sizeof *prev);
    old_parts = weft__calloc(n ? n : 1, sizeof *old_parts);
    if (!prev || !old_parts) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* what each task did last: in the run resumed (given, or the latest
     * of this slice or of the whole workflow), then — without a run given
     * — in the latest run of every other slice and of the whole workflow,
     * newest first (a slice's tasks done in its own runs count for a run
     * of the whole, and the other way round; a task is cached only with
     * its definition's hash, whichever run did it) */
    int64_t *others = NULL;
    size_t nothers = 0;
    if (!o->run && f->store && (rc = weft__wf_store_latest_runs(f->store, f->name, &others, &nothers)) != 0) {
        snprintf(err, errlen, "%s", rc == WEFT_ENOMEM ? "out of memory" : weft__wf_store_error(f->store));
        goto out;
    }
    if (frc != 0 && nothers) { /* none of this slice: the newest of the others is the one resumed */
        frc = 0;
        row.id = others[0];
    }
    load_t l = {.f = f, .prev = prev, .old_parts = old_parts};
    if (frc == 0) {
        f->resumed = row.id;
        rc = weft__wf_store_view(f->store, row.id, true, load_row, &l);
    }
    for (size_t k = 0; k < nothers && !rc && !l.rc; k++)
        if (others[k] != row.id)
            rc = weft__wf_store_view(f->store, others[k], true, load_row, &l);
    weft__free(others);
    if (!rc)
        rc = l.rc;
    if (rc) {
        snprintf(err, errlen, "%s", rc == WEFT_ENOMEM ? "out of memory" : weft__wf_store_error(f->store));
        goto out;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t ti = order[k];
        prev_t *p = &prev[ti];
        f->why_run[ti] = p->run;
        uint8_t why = WF_WHY_CACHED;
        for (size_t g = 0; g < o->nrerun && why == WF_WHY_CACHED; g++)
            if (weft__wf_glob(o->rerun[g], f->tasks[ti].name))
                why = WF_WHY_FORCED;
        for (uint32_t e = f->dep_off[ti]; e < f->dep_off[ti + 1] && why == WF_WHY_CACHED; e++) {
            uint32_t d = f->deps[e];
            if (f->why[d] != WF_WHY_CACHED && f->tasks[d].keep) {
                why = WF_WHY_UPSTREAM;
                f->why_text[ti] = f->tasks[d].name;
            }
        }
        if (why == WF_WHY_CACHED) {
            bool missing = false;
            switch (p->status) {
            case PREV_NONE: why = WF_WHY_NEW; break;
            case PREV_FAILED: why = WF_WHY_FAILED; break;
            case PREV_STOPPED: why = WF_WHY_STOPPED; break;
            case PREV_SKIPPED: why = WF_WHY_SKIPPED; break;
            default:
                if (p->hash != f->dhash[ti] && o->mode != WEFT_FLOW_RERUN_FAILED) {
                    why = WF_WHY_CHANGED;
                    f->why_text[ti] = what_changed(f, ti, old_parts[ti] ? old_parts[ti]->data : NULL,
                                                   old_parts[ti] ? old_parts[ti]->len : 0);
                } else if ((f->why_text[ti] = output_gone(f, ti, p->end, &missing)) != NULL) {
                    why = WF_WHY_OUTPUT;
                    f->why_run[ti] = missing ? 0 : p->run;
                }
            }
        }
        f->why[ti] = why;
        f->ncached += why == WF_WHY_CACHED && f->tasks[ti].keep;
    }
planned:
    f->planned = true;
out:
    if (old_parts)
        for (uint32_t i = 0; i < n; i++)
            weft__free(old_parts[i]);
    weft__free(old_parts);
    weft__free(prev);
    weft__free(order);
    if (rc)
        plan_free(f);
    return rc;
}

/* The name of run id (cached: the plan names few). */
static const char *run_name(const weft__flow_t *f, int64_t id, char *buf, size_t cap)
{
    weft__wf_run_row_t row;
    if (f->store && weft__wf_store_find_run(f->store, (snprintf(buf, cap, "%" PRId64, id), buf), NULL, NULL, &row) == 0)
        snprintf(buf, cap, "%s", row.name);
    return buf;
}

const char *weft__wf_why_text(const weft__flow_t *f, uint32_t ti, char *buf, size_t cap)
{
    char rn[256];
    if (!f->why_text) { /* a fresh run */
        snprintf(buf, cap, "run");
        return buf;
    }
    const char *x = f->why_text[ti] ? f->why_text[ti] : "";
    switch (f->why[ti]) {
    case WF_WHY_CACHED:
        snprintf(buf, cap, "cached (done in run %s)", run_name(f, f->why_run[ti], rn, sizeof rn));
        break;
    case WF_WHY_NEW: snprintf(buf, cap, "new"); break;
    case WF_WHY_CHANGED: snprintf(buf, cap, "changed: %s", x); break;
    case WF_WHY_FAILED: snprintf(buf, cap, "failed in run %s", run_name(f, f->why_run[ti], rn, sizeof rn)); break;
    case WF_WHY_STOPPED: snprintf(buf, cap, "interrupted in run %s", run_name(f, f->why_run[ti], rn, sizeof rn)); break;
    case WF_WHY_SKIPPED: snprintf(buf, cap, "did not run in run %s", run_name(f, f->why_run[ti], rn, sizeof rn)); break;
    case WF_WHY_UPSTREAM: snprintf(buf, cap, "runs after %s, which runs", x); break;
    case WF_WHY_FORCED: snprintf(buf, cap, "forced (--rerun)"); break;
    case WF_WHY_OUTPUT:
        if (f->why_run[ti])
            snprintf(buf, cap, "output %s changed after run %s", x, run_name(f, f->why_run[ti], rn, sizeof rn));
        else
            snprintf(buf, cap, "output missing: %s", x);
        break;
    default: snprintf(buf, cap, "run"); break;
    }
    return buf;
}

void weft__flow_write_reasons(const weft__flow_t *f, FILE *out)
{
    uint32_t *order = weft__wf_topo(f);
    if (!order) {
        fputs("weft: out of memory\n", out);
        return;
    }
    size_t nrun = 0, ncached = 0;
    for (uint32_t k = 0; k < f->ntasks; k++) {
        uint32_t ti = order[k];
        if (!f->tasks[ti].keep)
            continue;
        char why[1024];
        weft__wf_why_text(f, ti, why, sizeof why);
        bool cached = f->why[ti] == WF_WHY_CACHED;
        nrun += !cached;
        ncached += cached;
        fprintf(out, "%-7s %s: %s\n", cached ? "cached" : "run", f->tasks[ti].name, why);
    }
    fprintf(out, "%zu to run, %zu cached\n", nrun, ncached);
    weft__free(order);
}

int64_t weft__flow_resumed(const weft__flow_t *f)
{
    return f->resumed;
}

size_t weft__flow_ncached(const weft__flow_t *f)
{
    return f->ncached;
}
