/* Running a plan: every task is a node of one weft graph. A command task's
 * body only asks for its cores and defers its completion: the process is
 * spawned when the cores are granted and completes the task from the
 * process executor's callback, so no worker waits for a child. A kernel
 * task runs on the worker, bound to the cores it was granted. Attempts
 * are journaled to .weft/<run>/tasks.tsv as they finish. */
#include "workloads/workflow/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "platform/device.h"
#include "tasks/tasks.h"
#include "weft/graph.h"
#include "weft/runtime.h"

extern char **environ;

typedef struct note {
    struct note *next;
    uint32_t task;
    char *params, *text; /* results: params and "k=v k=v"; failures: text = reason */
} note_t;

struct weft__flow_run {
    weft__flow_t *f;
    weft__flow_run_opts_t o;
    char dir[PATH_MAX]; /* absolute run directory */
    weft__topo_t *topo;
    weft__cores_t *cores;  /* the runtime's budget (validation: one of its own) */
    bool own_cores;        /* cores is this run's to destroy */
    weft__proc_svc_t *svc; /* the runtime's task service */
    weft_runtime_t *rt;
    weft_graph_t *g;
    weft_task_t **gtask; /* per task of the flow, its graph task (NULL: not kept) */
    weft__trace_t *tr;   /* NULL: not tracing */
    pthread_t waiter;
    bool waiter_started;
    uint8_t *state; /* per task, WEFT_FLOW_* */
    atomic_size_t nrunning, ndone, nfailed;
    atomic_int stopping;
    pthread_mutex_t lock; /* notes */
    /* The journal: lines are appended to `jbuf` under `jlock` (a memcpy);
     * a flush swaps in the empty spare and writes the full one out, under
     * `flush_lock` only, so no worker waits on a write(). What a write
     * could not put on disk (a full file system) waits in `jpend` and is
     * tried again first at the next flush; nothing is dropped. */
    int tsv; /* -1: none */
    char tsv_path[PATH_MAX + 16];
    pthread_mutex_t jlock, flush_lock;
    char *jbuf, *jspare, *jpend;
    size_t jlen, jcap, jspare_cap, jpend_len, jpend_cap;
    int jerr;       /* the errno of the last failed write (0: none); under flush_lock */
    bool jerr_told; /* the CLI was told about it (weft__flow_run_record_error) */
    bool jlost;     /* a line could not be kept (out of memory) */
    note_t *fails, *results, **results_tail;
    size_t nresults;
    note_t **result_index;
    uint64_t t0_ns;
    uint64_t t0_epoch_ns; /* the wall clock at t0_ns */
    size_t nenviron;      /* entries of the inherited environment, counted once */
    uint64_t id;          /* unique in the process, for the workers' memory of it */
    /* The run's GPUs: the task service's (GPU i is CUDA device
     * weft__proc_svc_gpu_dev(i) here, named as weft__proc_svc_gpu_list
     * says in a child's CUDA_VISIBLE_DEVICES). */
    int ngpus;
    int seen_gpus;           /* CUDA devices weft sees (asked only when a task may use one) */
    atomic_uchar *cpu_short; /* per [[task]]: its last kernel run was short */
};

/* ---- journal and notes ------------------------------------------------------------------ */

/* One journal line (or any text of unknown length) is built in a local
 * buffer that moves to the heap when it outgrows it, so nothing is cut;
 * a journal line is then written under the lock in one call, so that
 * workers finishing together wait on each other only for the copy. */
typedef struct line {
    char *buf; /* small, or the heap */
    size_t len, cap;
    bool oom; /* the heap said no: the text is cut (and said to be) */
    char small[4096];
} line_t;

static void line_init(line_t *l)
{
    l->buf = l->small;
    l->len = 0;
    l->cap = sizeof l->small;
    l->oom = false;
}

static void line_fini(line_t *l)
{
    if (l->buf != l->small)
        weft__free(l->buf);
}

static __attribute__((noinline)) bool line_grow(line_t *l)
{
    if (l->oom)
        return false;
    size_t cap = l->cap * 2;
    char *nb = l->buf == l->small ? weft__malloc(cap) : weft__realloc(l->buf, cap);
    if (!nb) {
        l->oom = true;
        return false;
    }
    if (l->buf == l->small)
        memcpy(nb, l->small, l->len);
    l->buf = nb;
    l->cap = cap;
    return true;
}

static inline void put_char(line_t *l, char c)
{
    if (l->len + 1 < l->cap || line_grow(l)) /* the last byte is kept for the newline / NUL */
        l->buf[l->len++] = c;
}

static void put_text(line_t *l, const char *s)
{
    for (; *s; s++)
        put_char(l, *s);
}

/* "n=10 tol=1e-6": the sweep values task t uses, NUL-terminated in l. */
static void params_text(const weft__flow_t *f, const wf_task_t *t, line_t *l)
{
    line_init(l);
    for (uint32_t m = 0; m < t->tmpl->ndims; m++) {
        const wf_dim_t *d = &f->dims[t->tmpl->dims[m]];
        uint32_t digit = weft__wf_digit(f, t->tmpl, t->combo, t->tmpl->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            if (l->len)
                put_char(l, ' ');
            put_text(l, f->params[d->params[p]].name);
            put_char(l, '=');
            put_text(l, f->params[d->params[p]].values[digit]);
        }
    }
    l->buf[l->len] = '\0';
}

typedef struct attempt {
    int attempt;
    uint64_t start_ns, end_ns, user_ns, sys_ns;
    bool no_cpu; /* user/sys not taken */
    long maxrss_kb;
    int exit_code, signal;
    const char *status, *cpus, *gpus, *out, *err, *results, *reason;
} attempt_t;

/* s with tabs and line breaks made spaces, then `end` (a tab; '\0' for
 * the last field, whose place the newline takes). */
static void put_field(line_t *l, const char *s, char end)
{
    for (; s && *s; s++)
        put_char(l, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
    put_char(l, end);
}

static void put_int(line_t *l, long long v)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        put_char(l, '-');
    while (n)
        put_char(l, tmp[--n]);
}

/* ns as seconds with 3 decimals (rounded), without printf's float path. */
static void put_secs(line_t *l, uint64_t ns)
{
    uint64_t ms = (ns + 500000) / 1000000;
    put_int(l, (long long)(ms / 1000));
    put_char(l, '.');
    put_char(l, (char)('0' + ms / 100 % 10));
    put_char(l, (char)('0' + ms / 10 % 10));
    put_char(l, (char)('0' + ms % 10));
}

#define JOURNAL_CHUNK (64u << 10) /* written out once this much is buffered */

static void journal(weft__flow_run_t *r, uint32_t ti, const attempt_t *a)
{
    if (r->tsv < 0)
        return;
    const wf_task_t *t = &r->f->tasks[ti];
    line_t params, l;
    params_text(r->f, t, &params);
    line_init(&l);
    put_field(&l, t->name, '\t');
    put_field(&l, params.buf, '\t');
    line_fini(&params);
    put_int(&l, a->attempt);
    put_char(&l, '\t');
    put_secs(&l, r->t0_epoch_ns + (a->start_ns - r->t0_ns));
    put_char(&l, '\t');
    put_secs(&l, r->t0_epoch_ns + (a->end_ns - r->t0_ns));
    put_char(&l, '\t');
    put_field(&l, a->status, '\t');
    if (a->exit_code >= 0)
        put_int(&l, a->exit_code);
    put_char(&l, '\t');
    put_int(&l, a->signal);
    put_char(&l, '\t');
    put_secs(&l, a->end_ns - a->start_ns);
    put_char(&l, '\t');
    if (!a->no_cpu) {
        put_secs(&l, a->user_ns);
        put_char(&l, '\t');
        put_secs(&l, a->sys_ns);
    } else {
        put_char(&l, '\t');
    }
    put_char(&l, '\t');
    if (a->maxrss_kb >= 0)
        put_int(&l, a->maxrss_kb);
    put_char(&l, '\t');
    put_field(&l, a->cpus, '\t');
    put_field(&l, a->gpus ? a->gpus : "", '\t');
    put_field(&l, a->out, '\t');
    put_field(&l, a->err, '\t');
    put_field(&l, a->results, '\t');
    put_field(&l, a->reason, '\0');
    l.buf[l.len - 1] = '\n';
    if (l.oom) /* cut for want of memory: the record is incomplete */
        r->jlost = true;
    pthread_mutex_lock(&r->jlock);
    if (WEFT__GROW(r->jbuf, r->jcap, r->jlen + l.len, JOURNAL_CHUNK)) {
        /* out of memory: this line is lost, not the run; the record says it is incomplete */
        r->jlost = true;
        pthread_mutex_unlock(&r->jlock);
        line_fini(&l);
        return;
    }
    memcpy(r->jbuf + r->jlen, l.buf, l.len);
    r->jlen += l.len;
    bool full = r->jlen >= JOURNAL_CHUNK;
    pthread_mutex_unlock(&r->jlock);
    line_fini(&l);
    if (full)
        weft__flow_run_flush(r);
}

/* Writes b[0..len) to the record; returns how much went out (all of it,
 * or up to the failure, whose errno is kept in r->jerr). */
static size_t record_write(weft__flow_run_t *r, const char *b, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(r->tsv, b + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->jerr = n < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)n;
    }
    if (done == len)
        r->jerr = 0;
    return done;
}

/* Keeps b[0..len) to be written first at the next flush. */
static void record_keep(weft__flow_run_t *r, const char *b, size_t len)
{
    if (!len)
        return;
    if (WEFT__GROW(r->jpend, r->jpend_cap, r->jpend_len + len, JOURNAL_CHUNK)) {
        r->jlost = true;
        return;
    }
    memcpy(r->jpend + r->jpend_len, b, len);
    r->jpend_len += len;
}

void weft__flow_run_flush(weft__flow_run_t *r)
{
    if (r->tsv < 0)
        return;
    pthread_mutex_lock(&r->flush_lock);
    pthread_mutex_lock(&r->jlock);
    char *b = r->jbuf;
    size_t len = r->jlen, cap = r->jcap;
    r->jbuf = r->jspare;
    r->jcap = r->jspare_cap;
    r->jlen = 0;
    pthread_mutex_unlock(&r->jlock);
    if (r->jpend_len) {
        /* earlier lines first: what is left of them, then these */
        record_keep(r, b, len);
        size_t n = record_write(r, r->jpend, r->jpend_len);
        memmove(r->jpend, r->jpend + n, r->jpend_len - n);
        r->jpend_len -= n;
    } else if (len) {
        size_t n = record_write(r, b, len);
        if (n < len)
            record_keep(r, b + n, len - n);
    }
    r->jspare = b;
    r->jspare_cap = cap;
    pthread_mutex_unlock(&r->flush_lock);
}

/* Flushes, then syncs the record to disk (a file system that accepted the
 * writes may still fail them there); 0, or the errno. */
static int record_sync(weft__flow_run_t *r)
{
    weft__flow_run_flush(r);
    pthread_mutex_lock(&r->flush_lock);
    if (!r->jerr && !r->jpend_len && fsync(r->tsv) != 0 && errno != EINVAL && errno != EROFS)
        r->jerr = errno;
    int e = r->jerr ? r->jerr : r->jpend_len ? EIO : r->jlost ? ENOMEM : 0;
    pthread_mutex_unlock(&r->flush_lock);
    return e;
}

bool weft__flow_run_record_error(weft__flow_run_t *r, char *buf, size_t len, bool *first)
{
    pthread_mutex_lock(&r->flush_lock);
    int e = r->jerr ? r->jerr : r->jlost ? ENOMEM : 0;
    bool incomplete = e || r->jpend_len;
    if (incomplete && !e)
        e = EIO;
    *first = incomplete && !r->jerr_told;
    if (incomplete) {
        r->jerr_told = true;
        snprintf(buf, len, "cannot write the run record '%s': %s (%zu bytes of it not written)", r->tsv_path,
                 strerror(e), r->jpend_len);
    }
    pthread_mutex_unlock(&r->flush_lock);
    return incomplete;
}

static void add_note(weft__flow_run_t *r, bool result, uint32_t ti, const char *text)
{
    note_t *n = weft__calloc(1, sizeof *n);
    line_t params;
    params_text(r->f, &r->f->tasks[ti], &params);
    if (n) {
        n->task = ti;
        n->text = weft__strdup(text);
        n->params = result ? weft__strdup(params.buf) : NULL;
    }
    line_fini(&params);
    pthread_mutex_lock(&r->lock);
    if (n && result) {
        *r->results_tail = n;
        r->results_tail = &n->next;
        r->nresults++;
    } else if (n) {
        n->next = r->fails;
        r->fails = n;
    }
    pthread_mutex_unlock(&r->lock);
}

static void event(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason)
{
    if (!r->o.on_event)
        return;
    const wf_task_t *t = &r->f->tasks[ti];
    weft__flow_event_t e = {.task = t->name,
                            .attempt = attempt,
                            .attempts = t->tmpl->retries + 1,
                            .state = state,
                            .wall_s = wall,
                            .reason = reason ? reason : ""};
    r->o.on_event(r->o.ud, &e);
}

/* After a task's last failed attempt, with --fail-fast: queued tasks do
 * not start. Called before the failed task's cores are given back, so
 * that they are not granted to the next one in the queue first. */
static void fail_fast(weft__flow_run_t *r)
{
    if (!r->f->keep_going && !atomic_exchange(&r->stopping, 1))
        weft__cores_stop(r->cores);
}

/* The final word on task ti (any thread). */
static void settle(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason)
{
    r->state[ti] = (uint8_t)state;
    atomic_fetch_sub(&r->nrunning, 1);
    if (state == WEFT_FLOW_DONE) {
        atomic_fetch_add(&r->ndone, 1);
    } else {
        add_note(r, false, ti, reason);
        if (state == WEFT_FLOW_FAILED) {
            atomic_fetch_add(&r->nfailed, 1);
            fail_fast(r);
        }
    }
    event(r, ti, attempt, state, wall, reason);
}

/* ---- paths and the environment ------------------------------------------------------------ */

static void task_path(weft__flow_run_t *r, const wf_task_t *t, const weft_toml_value_t *v, const char *ext, char *buf,
                      size_t cap)
{
    if (v) {
        const char *s;
        weft_toml_get_string(v, NULL, &s, NULL);
        weft__wf_expand(r->f, t->tmpl, t->combo, NULL, s, buf, cap);
    } else {
        snprintf(buf, cap, "%s/%s.%s", r->dir, t->name, ext);
    }
}

/* mkdir -p of the folder holding path. Returns 0, or the errno of the
 * folder that could not be made (named in dir), so that a file under a
 * read-only folder is reported as such, not as "No such file". */
static int make_parent(const char *path, char *dir, size_t dirlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(dir, dirlen, "%.64s...", path);
        return ENAMETOOLONG;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    struct stat st;
    if (stat(buf, &st) == 0)
        return 0;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(dir, dirlen, "%s", buf);
            return e;
        }
        if (!c)
            return 0;
        *p = c;
    }
}

/* A growing pool of strings for one spawn. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
} sbuf_t;

static size_t sb_add(sbuf_t *b, const char *s, size_t len)
{
    if (WEFT__GROW(b->data, b->cap, b->len + len + 1, 4096)) {
        b->oom = true;
        return 0;
    }
    size_t at = b->len;
    if (s) /* NULL: only reserve len bytes */
        memcpy(b->data + at, s, len);
    b->data[at + len] = '\0';
    b->len += len + 1;
    return at;
}

static size_t sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return 0;
    }
    if ((size_t)n < sizeof tmp)
        return sb_add(b, tmp, (size_t)n);
    /* longer (a long sweep value in WEFT_PARAM_*, say): room in b first */
    size_t at = sb_add(b, NULL, (size_t)n);
    if (b->oom)
        return 0;
    va_start(ap, fmt);
    vsnprintf(b->data + at, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return at;
}

static size_t sb_expand(sbuf_t *b, const weft__flow_t *f, const wf_task_t *t, const char *s, unsigned flags)
{
    char *x = weft__wf_expand_dup_ex(f, t->tmpl, t->combo, s, flags);
    if (!x) {
        b->oom = true;
        return 0;
    }
    size_t at = sb_add(b, x, strlen(x));
    weft__free(x);
    return at;
}

/* ---- command tasks: a source of process tasks ------------------------------------------------
 *
 * A command task is a process task of the runtime (tasks/proctask.c): the
 * task service admits it (cores, GPUs), the process executor spawns it
 * bound to them, times it out and retries it. What is the workflow's is
 * here: its argv and environment, built when an attempt starts, and the
 * journal line, trace slice, results and events of every attempt. */

static inline weft__flow_run_t *run_of(const wf_task_t *t)
{
    return t->tmpl->flow->run;
}

static void cmd_begin(void *ud)
{
    wf_task_t *t = ud;
    weft__flow_run_t *r = run_of(t);
    r->state[t - r->f->tasks] = WEFT_FLOW_RUNNING;
    atomic_fetch_add(&r->nrunning, 1);
}

/* key=value lines a command wrote to $WEFT_RESULT, as "k=v k=v" in out
 * (whole, however long; out->len 0 when there are none). */
static void read_results(weft__flow_run_t *r, const wf_task_t *t, line_t *out)
{
    char path[PATH_MAX + 256];
    line_init(out);
    out->buf[0] = '\0';
    if (snprintf(path, sizeof path, "%s/%s.result", r->dir, t->name) >= (int)sizeof path)
        return;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strchr(line, '=') || line[0] == '=')
            continue;
        if (out->len)
            put_char(out, ' ');
        for (char *c = line; *c; c++)
            put_char(out, *c == ' ' || *c == '\t' ? '_' : *c);
    }
    free(line);
    fclose(fp);
    out->buf[out->len] = '\0';
}

/* An attempt on the run's trace: a process on the lowest free process
 * slot track, a kernel on its worker's track. */
static void trace_attempt(weft__flow_run_t *r, const weft_task_t *gt, const attempt_t *a, int ok, bool proc)
{
    int slot = -1;
    if (!proc && !weft__thread_trace(&slot))
        proc = true; /* not on a traced worker: no worker track to put it on */
    weft__tev_t ev = {.t0 = a->start_ns, .t1 = a->end_ns, .kind = TEV_ATTEMPT, .flags = TEV_F_NS, .aux = a->attempt};
    ev.state = ok ? WEFT_TASK_DONE : strcmp(a->status, "stopped") == 0 ? WEFT_TASK_NOT_RUN : WEFT_TASK_FAILED;
    ev.lane_kind = proc ? TLANE_PROC : TLANE_WORKER;
    ev.lane = (uint16_t)(proc ? weft__trace_lane_pick(r->tr, TLANE_PROC, a->start_ns, a->end_ns) : slot);
    char args[512];
    int n = snprintf(args, sizeof args, "\"status\":\"%s\",\"cpus\":\"%s\"", a->status, a->cpus ? a->cpus : "");
    if (a->exit_code >= 0)
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"exit\":%d", a->exit_code);
    if (a->signal > 0)
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"signal\":%d", a->signal);
    if (a->reason && a->reason[0] && n < (int)sizeof args - 32) {
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"reason\":\"");
        for (const char *c = a->reason; *c && n < (int)sizeof args - 3; c++)
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
                args[n++] = *c;
        args[n++] = '"';
        args[n] = '\0';
    }
    ev.args = weft__trace_intern(r->tr, args);
    weft__trace_add(r->tr, gt, &ev);
}

/* Every attempt: its journal line, trace slice and results; then the
 * task's final word, or the retry's event. */
static bool cmd_attempt(void *ud, const weft__proc_attempt_info_t *info)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = run_of(t);
    uint32_t ti = (uint32_t)(t - r->f->tasks);
    const weft__proc_result_t *res = info->r;
    bool retry = info->retry && !atomic_load(&r->stopping);
    if (res->status != 0 && !retry)
        fail_fast(r); /* before its cores go back (see fail_fast) */
    char out[PATH_MAX], err[PATH_MAX];
    task_path(r, t, t->tmpl->out, "out", out, sizeof out);
    task_path(r, t, t->tmpl->err, "err", err, sizeof err);
    line_t rl;
    if (res->started)
        read_results(r, t, &rl);
    else
        line_init(&rl), rl.buf[0] = '\0';
    const char *results = rl.buf;
    attempt_t a = {.attempt = info->attempt,
                   .start_ns = info->start_ns,
                   .end_ns = info->end_ns,
                   .user_ns = res->user_ns,
                   .sys_ns = res->sys_ns,
                   .maxrss_kb = res->started ? res->maxrss_kb : -1,
                   .exit_code = res->exit_code,
                   .signal = res->signal,
                   .status = res->status == 0                ? "ok"
                             : res->timed_out                ? "timeout"
                             : res->status == WEFT_ECANCELED ? "stopped"
                                                             : "failed",
                   .cpus = info->cpus,
                   .gpus = info->gpus,
                   .out = out,
                   .err = err,
                   .results = results,
                   .reason = res->status ? res->reason : ""};
    journal(r, ti, &a);
    if (r->tr && res->started)
        trace_attempt(r, r->gtask[ti], &a, res->status == 0, true);
    if (res->status == 0 && results[0])
        add_note(r, true, ti, results);
    line_fini(&rl);
    double wall = (double)(info->end_ns - info->start_ns) / 1e9;
    if (res->status == 0) {
        settle(r, ti, info->attempt, WEFT_FLOW_DONE, wall, NULL);
        return false;
    }
    char why[sizeof res->reason + 64];
    if (retry) {
        snprintf(why, sizeof why, "%s; retrying", res->reason);
        event(r, ti, info->attempt, WEFT_FLOW_RUNNING, wall, why);
        return true;
    }
    if (res->status == WEFT_ECANCELED)
        snprintf(why, sizeof why, "%s", res->started ? "interrupted: stopped before it finished" : res->reason);
    else if (info->attempt > 1)
        snprintf(why, sizeof why, "%s (attempt %d of %d)", res->reason, info->attempt, t->tmpl->retries + 1);
    else
        snprintf(why, sizeof why, "%s", res->reason);
    settle(r, ti, info->attempt,
           res->status != WEFT_ECANCELED ? WEFT_FLOW_FAILED
           : res->started                ? WEFT_FLOW_STOPPED
                                         : WEFT_FLOW_NOT_RUN,
           wall, why);
    return false;
}

static void cmd_not_started(void *ud, int status, const char *why)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = run_of(t);
    bool stopped = status == WEFT_ECANCELED;
    settle(r, (uint32_t)(t - r->f->tasks), 1, stopped ? WEFT_FLOW_NOT_RUN : WEFT_FLOW_FAILED, 0,
           stopped ? "not started: the run was stopping" : why);
}

/* One attempt's argv, environment and files (one allocation each). */
typedef struct built {
    sbuf_t b;
    size_t *argv_at, *env_at;
    const char **argv, **envp;
    char out[PATH_MAX], err[PATH_MAX], cwd[PATH_MAX];
} built_t;

static void cmd_release(void *ud, weft__proc_spec_t *spec)
{
    (void)ud;
    built_t *x = spec->src_priv;
    if (!x)
        return;
    weft__free(x->b.data);
    weft__free(x->argv_at);
    weft__free(x->env_at);
    weft__free(x->argv);
    weft__free(x->envp);
    weft__free(x);
    spec->src_priv = NULL;
}

static int cmd_build(void *ud, int attempt, weft__proc_spec_t *spec, char *why, size_t whylen)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = run_of(t);
    const weft__flow_t *f = r->f;
    const wf_tmpl_t *tm = t->tmpl;
    built_t *x = weft__calloc(1, sizeof *x);
    if (!x)
        return WEFT_ENOMEM;
    spec->src_priv = x;
    sbuf_t *b = &x->b;
    size_t nargv = tm->kind == WF_CMD ? weft_toml_count(tm->run) : 3;
    size_t nenv_t = tm->env ? weft_toml_count(tm->env) : 0, nparams = 0;
    for (uint32_t m = 0; m < tm->ndims; m++)
        nparams += f->dims[tm->dims[m]].nparams;
    size_t nextra = nenv_t + nparams + 4;
    x->argv_at = weft__malloc((nargv + 1) * sizeof *x->argv_at);
    x->env_at = weft__malloc((nextra + 1) * sizeof *x->env_at);
    x->argv = weft__malloc((nargv + 1) * sizeof *x->argv);
    x->envp = weft__malloc((nextra + 1) * sizeof *x->envp);
    if (!x->argv_at || !x->env_at || !x->argv || !x->envp)
        return WEFT_ENOMEM;
    /* argv */
    if (tm->kind == WF_CMD) {
        size_t i = 0;
        for (const weft_toml_value_t *a = weft_toml_first(tm->run); a; a = weft_toml_next(a)) {
            const char *s;
            weft_toml_get_string(a, NULL, &s, NULL);
            x->argv_at[i++] = sb_expand(b, f, t, s, 0);
        }
    } else {
        const char *s;
        weft_toml_get_string(tm->run, NULL, &s, NULL);
        x->argv_at[0] = sb_add(b, "/bin/sh", 7);
        x->argv_at[1] = sb_add(b, "-c", 2);
        x->argv_at[2] = sb_expand(b, f, t, s, WF_EXPAND_SHELL);
    }
    /* env: the task's own, then the workflow's (the process task adds
     * OMP_NUM_THREADS, WEFT_CPUS, WEFT_ATTEMPT, the GPUs and the inherited
     * environment) */
    size_t ne = 0;
    for (const weft_toml_value_t *e = tm->env ? weft_toml_first(tm->env) : NULL; e; e = weft_toml_next(e)) {
        const char *s;
        char text[512];
        if (weft_toml_get_string(e, NULL, &s, NULL) != 0) {
            weft__wf_format(e, text, sizeof text);
            s = text;
        }
        char *v = weft__wf_expand_dup(f, tm, t->combo, s);
        x->env_at[ne++] = v ? sb_printf(b, "%s=%s", weft_toml_key(e, NULL), v) : 0;
        b->oom |= !v;
        weft__free(v);
    }
    x->env_at[ne++] = sb_printf(b, "WEFT_TASK=%s", t->name);
    x->env_at[ne++] = sb_printf(b, "WEFT_INDEX=%" PRIu32, t->combo);
    x->env_at[ne++] = sb_printf(b, "WEFT_RUN_DIR=%s", r->dir);
    x->env_at[ne++] = sb_printf(b, "WEFT_RESULT=%s/%s.result", r->dir, t->name);
    for (uint32_t m = 0; m < tm->ndims; m++) {
        const wf_dim_t *d = &f->dims[tm->dims[m]];
        uint32_t digit = weft__wf_digit(f, tm, t->combo, tm->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            const char *nm = f->params[d->params[p]].name;
            size_t at = sb_printf(b, "WEFT_PARAM_%s=%s", nm, f->params[d->params[p]].values[digit]);
            for (char *c = b->oom ? NULL : b->data + at + 11; c && *c != '='; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            x->env_at[ne++] = at;
        }
    }
    task_path(r, t, tm->out, "out", x->out, sizeof x->out);
    task_path(r, t, tm->err, "err", x->err, sizeof x->err);
    if (tm->cwd)
        task_path(r, t, tm->cwd, NULL, x->cwd, sizeof x->cwd);
    if (b->oom)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < nargv; i++)
        x->argv[i] = b->data + x->argv_at[i];
    x->argv[nargv] = NULL;
    for (size_t i = 0; i < ne; i++)
        x->envp[i] = b->data + x->env_at[i];
    x->envp[ne] = NULL;
    /* The default files sit in the run directory (names hold no '/'). */
    char dir[PATH_MAX];
    int e = 0;
    const char *which = "stdout";
    if (tm->out)
        e = make_parent(x->out, dir, sizeof dir);
    if (!e && tm->err) {
        which = "stderr";
        e = make_parent(x->err, dir, sizeof dir);
    }
    if (e) {
        snprintf(why, whylen, "cannot create the folder '%s' for the %s file: %s", dir, which, strerror(e));
        return WEFT_ETASK;
    }
    char result_path[PATH_MAX + 256];
    if (attempt > 1 &&
        snprintf(result_path, sizeof result_path, "%s/%s.result", r->dir, t->name) < (int)sizeof result_path)
        unlink(result_path); /* a retry starts clean */
    spec->argv = x->argv;
    spec->envp = x->envp;
    spec->cwd = tm->cwd ? x->cwd : NULL;
    spec->stdout_path = x->out;
    spec->stderr_path = x->err;
    return 0;
}

static const weft__proc_source_t cmd_source = {
    .begin = cmd_begin,
    .build = cmd_build,
    .release = cmd_release,
    .attempt = cmd_attempt,
    .not_started = cmd_not_started,
};

/* ---- GPUs --------------------------------------------------------------------------------- */

/* The run's GPUs, when a task may use one (else CUDA is not started):
 * [workflow] gpus, else as many as weft sees (the task service names and
 * maps them: tasks/service.c). Then each task's need is checked. */
static int gpu_setup(weft__flow_run_t *r)
{
    weft__flow_t *f = r->f;
    bool wanted = false;
    for (uint32_t i = 0; i < f->ntmpls; i++)
        wanted |= f->tmpls[i].gpus > 0 || (f->tmpls[i].kind == WF_KERNEL && f->tmpls[i].device != WF_DEV_CPU);
    if (!wanted)
        return 0;
    r->seen_gpus = weft__device_count();
    char names[64][64];
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int nnames = weft__gpu_names_parse(cvd, names, 64);
    int n = f->gpus >= 0 ? f->gpus : r->seen_gpus;
    if (cvd && nnames == 0 && n > 0)
        return weft__wf_error(f, AT(f->gpus_v), NULL, "workflow.gpus",
                              "%d GPUs, but CUDA_VISIBLE_DEVICES=\"%s\" leaves none to hand out", n, cvd);
    r->ngpus = n;
    int rc = weft__cores_set_gpus(r->cores, n);
    for (uint32_t i = 0; i < f->ntmpls && !rc; i++) {
        const wf_tmpl_t *t = &f->tmpls[i];
        char why[160];
        if (f->gpus >= 0)
            snprintf(why, sizeof why, "[workflow] gpus = %d", f->gpus);
        else if (r->seen_gpus > 0)
            snprintf(why, sizeof why, "weft sees %d CUDA device%s; [workflow] gpus can declare more", r->seen_gpus,
                     r->seen_gpus == 1 ? "" : "s");
        else
            snprintf(why, sizeof why, "weft sees no CUDA device%s; declare the GPUs with [workflow] gpus",
                     strcmp(weft__device_backend(), "none") == 0 ? " (built without CUDA)" : "");
        if (t->gpus > n)
            rc = weft__wf_error(f, AT(t->gpus_v), t->name, "gpus", "needs %d GPU%s but the run has %d (%s)", t->gpus,
                                t->gpus == 1 ? "" : "s", n, why);
        else if (t->kind == WF_KERNEL && t->device == WF_DEV_GPU && n == 0 && r->seen_gpus > 0)
            rc = weft__wf_error(f, AT(t->device_v), t->name, "device", "the run has no GPU (%s)", why);
    }
    return rc;
}

/* ---- kernel tasks ------------------------------------------------------------------------- */

typedef struct kout {
    weft__flow_run_t *r;
    const wf_task_t *t;
    weft_ctx_t *ctx;
    FILE *fp;
    int err;             /* errno: the file could not be made or written */
    bool told_stop;      /* the kernel was told to stop because the run stops */
    char path[PATH_MAX]; /* made when the kernel first prints */
    char results[1024];
    size_t rlen;
} kout_t;

static void kout_print(void *ud, const char *text, size_t len)
{
    kout_t *o = ud;
    if (!o->fp && !o->path[0]) {
        task_path(o->r, o->t, o->t->tmpl->out, "out", o->path, sizeof o->path);
        char dir[PATH_MAX];
        o->err = make_parent(o->path, dir, sizeof dir);
        if (!o->err && !(o->fp = fopen(o->path, "w")))
            o->err = errno;
    }
    if (o->fp && fwrite(text, 1, len, o->fp) != len && !o->err)
        o->err = errno ? errno : EIO;
}

static void kout_result(void *ud, const char *key, const char *value)
{
    kout_t *o = ud;
    if (o->rlen < sizeof o->results)
        o->rlen += (size_t)snprintf(o->results + o->rlen, sizeof o->results - o->rlen, "%s%s=%s", o->rlen ? " " : "",
                                    key, value);
}

/* What a kernel asks between sweeps: stop when the run stops or when the
 * attempt's timeout has passed (weft_ctx_should_stop: cooperative, a
 * kernel that never asks runs to its end, and is then timed out all the
 * same by the scheduler). */
static int kout_stopping(void *ud)
{
    kout_t *o = ud;
    bool run_stops = weft_ctx_stopping(o->ctx) || atomic_load(&o->r->stopping);
    if (run_stops)
        o->told_stop = true;
    return run_stops || weft_ctx_should_stop(o->ctx);
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* Kernel tasks' user/sys times come from getrusage(RUSAGE_THREAD) before
 * and after, two system calls that cost more than a tiny kernel (about
 * 1.5 us each on a virtual machine). A [[task]] whose last kernel run took
 * under CPU_SHORT_NS skips them (the journal leaves user/sys empty) until
 * one of its runs takes over CPU_LONG_NS again. */
#define CPU_SHORT_NS 200000u
#define CPU_LONG_NS 1000000u

/* Whether a kernel task runs on a GPU: device = "gpu", or "auto" when the
 * run has GPUs and weft sees a CUDA device. */
static bool kernel_on_gpu(const weft__flow_run_t *r, const wf_tmpl_t *tm)
{
    return tm->device == WF_DEV_GPU || (tm->device == WF_DEV_AUTO && r->ngpus > 0 && r->seen_gpus > 0);
}

/* ---- kernel tasks: a task kind of the scheduler ------------------------------------------------
 *
 * A kernel task is a C task with the kind below: the scheduler admits it
 * (its cpus, and a GPU when it runs on one, from the task service's
 * budget), binds the worker to its cores (a worker asks for the slots it
 * held last and moves only when they change), runs its attempts with the
 * [[task]]'s timeout and retries, and tells attempt_end each one's
 * verdict; the body runs one attempt and leaves what it saw in `kcur`
 * (the worker's, read by attempt_end right after, on the same thread). */

typedef struct kcur {
    kout_t o;
    uint64_t start_ns, end_ns, user_ns, sys_ns;
    bool no_cpu;
    char error[PATH_MAX + 256]; /* the kernel's own text, or the stdout file's failure */
    char cpus[128], gpus[80];
    /* the worker's last cpus text, by the slots it was for */
    uint64_t cpus_run;
    int cpus_k, cpus_slots[64];
} kcur_t;

/* The worker's kcur: on the heap (5 KiB would not fit the static TLS of a
 * dlopen'ed libweft), freed when the thread ends. */
static pthread_key_t kcur_key;
static pthread_once_t kcur_once = PTHREAD_ONCE_INIT;
static __thread kcur_t *kcur_tls;

static void kcur_key_make(void)
{
    pthread_key_create(&kcur_key, weft__free);
}

static kcur_t *kcur_get(void)
{
    if (__builtin_expect(kcur_tls != NULL, 1))
        return kcur_tls;
    pthread_once(&kcur_once, kcur_key_make);
    kcur_t *k = weft__calloc(1, sizeof *k);
    if (k && pthread_setspecific(kcur_key, k) != 0) {
        weft__free(k);
        k = NULL;
    }
    return kcur_tls = k;
}

/* "0-3": the cpus of the attempt's grant (every cpu of the budget when
 * tasks are not bound), formatted once per change of slots. */
static const char *grant_cpus(kcur_t *kc, weft__flow_run_t *r, const weft__grant_t *g)
{
    if (kc->cpus_run == r->id && kc->cpus_k == g->nnear &&
        !memcmp(kc->cpus_slots, g->near, (size_t)g->nnear * sizeof g->near[0]))
        return kc->cpus;
    kc->cpus_run = r->id;
    kc->cpus_k = g->nnear;
    memcpy(kc->cpus_slots, g->near, (size_t)g->nnear * sizeof g->near[0]);
    weft__cpuset_format(r->f->pin == WEFT_PIN_NONE ? weft__cores_all(r->cores) : &g->set, kc->cpus, sizeof kc->cpus);
    return kc->cpus;
}

static int kernel_body(weft_ctx_t *ctx, void *arg)
{
    const wf_task_t *t = arg;
    weft__flow_run_t *r = run_of(t);
    const wf_tmpl_t *tm = t->tmpl;
    if (weft_ctx_attempt(ctx) <= 1) {
        r->state[t - r->f->tasks] = WEFT_FLOW_RUNNING;
        atomic_fetch_add(&r->nrunning, 1);
    }
    kcur_t *kc = kcur_get();
    if (!kc)
        return weft_ctx_fail(ctx, WEFT_ENOMEM, "out of memory while starting it");
    atomic_uchar *cpu_short = &r->cpu_short[tm - r->f->tmpls];
    const weft__grant_t *g = weft__ctx_grant(ctx);
    /* on a GPU: one of the run's (when it has none, weft sees no device
     * either, and the kernel fails saying why) */
    bool on_gpu = kernel_on_gpu(r, tm);
    int ngpus = on_gpu && r->ngpus > 0 ? 1 : 0;
    if (g) {
        grant_cpus(kc, r, g);
        weft__proc_svc_gpu_list(r->svc, g->gpu_mask, kc->gpus, sizeof kc->gpus);
    } else {
        kc->cpus[0] = kc->gpus[0] = '\0';
    }
    const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
    char argbuf[8192];
    kout_t *o = &kc->o; /* not zeroed whole: its buffers are 5 KiB and a noop takes less */
    o->r = r;
    o->t = t;
    o->ctx = ctx;
    o->fp = NULL;
    o->err = 0;
    o->told_stop = false;
    o->path[0] = o->results[0] = '\0';
    o->rlen = 0;
    weft__kctx_t k = {.cpus = tm->cpus,
                      .gpu = !on_gpu      ? 0
                             : ngpus && g ? 1 + g->devs[0]
                                          : 1,
                      .keys = keys,
                      .vals = vals,
                      .print = kout_print,
                      .result = kout_result,
                      .stopping = kout_stopping,
                      .ud = o,
                      .bad_arg = -1};
    struct rusage ru0, ru1;
    bool no_cpu = atomic_load_explicit(cpu_short, memory_order_relaxed);
    if (!no_cpu)
        getrusage(RUSAGE_THREAD, &ru0);
    uint64_t start = weft__clock_ns();
    int rc = weft__wf_kargs(r->f, t, keys, vals, argbuf, sizeof argbuf, &k.nargs);
    if (rc == 0)
        rc = tm->kernel->fn(&k);
    uint64_t end = weft__clock_ns();
    if (!no_cpu)
        getrusage(RUSAGE_THREAD, &ru1);
    if (no_cpu != (end - start < (no_cpu ? CPU_LONG_NS : CPU_SHORT_NS)))
        atomic_store_explicit(cpu_short, !no_cpu, memory_order_relaxed);
    if (o->fp && fclose(o->fp) != 0 && !o->err)
        o->err = errno;
    o->fp = NULL;
    kc->error[0] = '\0';
    if (o->err && rc == 0) { /* what it printed is lost: the attempt failed */
        snprintf(kc->error, sizeof kc->error, "cannot write its stdout file '%s': %s", o->path, strerror(o->err));
        rc = WEFT_ESYS;
    } else if (rc != 0) {
        snprintf(kc->error, sizeof kc->error, "%s", k.error[0] ? k.error : weft_strerror(rc));
    }
    kc->start_ns = start;
    kc->end_ns = end;
    kc->no_cpu = no_cpu;
    kc->user_ns = no_cpu ? 0 : tv_ns(ru1.ru_utime) - tv_ns(ru0.ru_utime);
    kc->sys_ns = no_cpu ? 0 : tv_ns(ru1.ru_stime) - tv_ns(ru0.ru_stime);
    return rc;
}

/* The scheduler's verdict on an attempt: its journal line, trace slice,
 * results; then the task's final word, or the retry's event. */
static int kernel_attempt_end(weft_task_t *gt, const weft__attempt_t *a)
{
    const wf_task_t *t = weft__task_arg(gt);
    weft__flow_run_t *r = run_of(t);
    uint32_t ti = (uint32_t)(t - r->f->tasks);
    const wf_tmpl_t *tm = t->tmpl;
    if (a->attempt == 0) {                 /* never ran: its cores were not granted */
        atomic_fetch_add(&r->nrunning, 1); /* (settle counts it out) */
        settle(r, ti, 1, a->not_run ? WEFT_FLOW_NOT_RUN : WEFT_FLOW_FAILED, 0,
               a->not_run ? "not started: the run was stopping" : a->why);
        return 0;
    }
    kcur_t *kc = kcur_get();
    kout_t *o = &kc->o;
    int rc = a->rc;
    /* over its time, whether it noticed or not (as a process that exits
     * after its SIGTERM is still timed out) */
    bool timed_out = tm->timeout_ns && rc == WEFT_ETIMEDOUT;
    bool retry = a->retry && !atomic_load(&r->stopping);
    if (rc != 0 && !retry)
        fail_fast(r); /* before its cores go back (see fail_fast) */
    char tout[64];
    if (timed_out)
        snprintf(tout, sizeof tout, "timed out after %g s", (double)tm->timeout_ns / 1e9);
    const char *reason = rc == 0 ? "" : timed_out ? tout : kc->error;
    attempt_t at = {.attempt = a->attempt,
                    .start_ns = kc->start_ns,
                    .end_ns = kc->end_ns,
                    .no_cpu = kc->no_cpu,
                    .user_ns = kc->user_ns,
                    .sys_ns = kc->sys_ns,
                    .maxrss_kb = -1,
                    .exit_code = -1,
                    .status = rc == 0        ? "ok"
                              : timed_out    ? "timeout"
                              : o->told_stop ? "stopped"
                                             : "failed",
                    .cpus = kc->cpus,
                    .gpus = kc->gpus,
                    .out = o->path[0] && !o->err ? o->path : "",
                    .err = "",
                    .results = o->results,
                    .reason = reason};
    journal(r, ti, &at);
    if (r->tr)
        trace_attempt(r, gt, &at, rc == 0, false);
    double wall = (double)(kc->end_ns - kc->start_ns) / 1e9; /* its run, not its wait for cores */
    if (rc == 0) {
        if (o->results[0])
            add_note(r, true, ti, o->results);
        settle(r, ti, a->attempt, WEFT_FLOW_DONE, wall, NULL);
        return 0;
    }
    char why[sizeof((weft__proc_result_t *)0)->reason + 64];
    if (retry) {
        snprintf(why, sizeof why, "%s; retrying", reason);
        event(r, ti, a->attempt, WEFT_FLOW_RUNNING, wall, why);
        return 1;
    }
    if (o->told_stop && !timed_out) {
        settle(r, ti, a->attempt, WEFT_FLOW_STOPPED, wall, "interrupted: stopped before it finished");
        return 0;
    }
    if (a->attempt > 1)
        snprintf(why, sizeof why, "%s (attempt %d of %d)", reason, a->attempt, tm->retries + 1);
    else
        snprintf(why, sizeof why, "%s", reason);
    settle(r, ti, a->attempt, WEFT_FLOW_FAILED, wall, why);
    return 0;
}

static const weft__task_ops_t kernel_kind = {
    .kind = "kernel",
    .start = kernel_body,
    .attempt_end = kernel_attempt_end,
};

/* A kernel task in g: its cpus, GPU, timeout and retries are the
 * scheduler's to apply. */
static int add_kernel(weft__flow_run_t *r, wf_task_t *t, weft_task_t **out)
{
    const wf_tmpl_t *tm = t->tmpl;
    int rc = weft__graph_add_kind(r->g, t->name, &kernel_kind, t, WEFT_ADD_NAME_BORROWED, out);
    if (rc == 0)
        rc = weft_task_set_cpus(*out, tm->cpus);
    if (rc == 0 && kernel_on_gpu(r, tm) && r->ngpus > 0)
        rc = weft_task_set_gpus(*out, 1);
    if (rc == 0 && tm->timeout_ns)
        rc = weft_task_set_timeout(*out, (double)tm->timeout_ns / 1e9);
    if (rc == 0 && tm->retries)
        rc = weft_task_set_retries(*out, tm->retries);
    return rc;
}

/* s without what would need escaping in a JSON string. */
static void json_safe(char *out, const char *s, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        out[n++] = *s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '?' : *s;
    out[n] = '\0';
}

/* The sweep values a task uses, as notes on its graph task (traces). */
static int annotate_params(const weft__flow_t *f, const wf_task_t *t, weft_task_t *gt)
{
    for (uint32_t m = 0; m < t->tmpl->ndims; m++) {
        const wf_dim_t *d = &f->dims[t->tmpl->dims[m]];
        uint32_t digit = weft__wf_digit(f, t->tmpl, t->combo, t->tmpl->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            int rc = weft_task_annotate(gt, f->params[d->params[p]].name, f->params[d->params[p]].values[digit]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the graph ------------------------------------------------------------------------------ */

static void *waiter_main(void *arg)
{
    weft__flow_run_t *r = arg;
    weft_graph_wait(r->g);
    if (r->o.notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(r->o.notify_fd, &one, sizeof one);
        (void)n;
    }
    return NULL;
}

/* .weft/<name>-<YYYYmmdd-HHMMSS>[-N], and .weft/latest pointing at it. */
static int make_run_dir(weft__flow_run_t *r, char *err, size_t errlen)
{
    const weft__flow_t *f = r->f;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/.weft", f->workdir);
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", base, strerror(errno));
        return WEFT_ESYS;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int i = 1;; i++) {
        int n = i == 1 ? snprintf(r->dir, sizeof r->dir, "%s/%s-%s", base, f->name, stamp)
                       : snprintf(r->dir, sizeof r->dir, "%s/%s-%s-%d", base, f->name, stamp, i);
        if (n >= (int)sizeof r->dir) {
            snprintf(err, errlen, "the path of the run directory is too long");
            return WEFT_ESYS;
        }
        if (mkdir(r->dir, 0755) == 0)
            break;
        if (errno != EEXIST || i == 1000) {
            snprintf(err, errlen, "cannot create '%s': %s", r->dir, strerror(errno));
            return WEFT_ESYS;
        }
    }
    char link[PATH_MAX + 16];
    snprintf(link, sizeof link, "%s/latest", base);
    unlink(link);
    if (symlink(strrchr(r->dir, '/') + 1, link) != 0) {
        /* only a convenience */
    }
    return 0;
}

/* A run object with nothing started yet. */
static weft__flow_run_t *run_new(weft__flow_t *f, char *err, size_t errlen)
{
    weft__flow_run_t *r = weft__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->f = f;
    r->tsv = -1;
    r->results_tail = &r->results;
    weft__lock_init(&r->lock);
    weft__lock_init(&r->jlock);
    pthread_mutex_init(&r->flush_lock, NULL);
    f->err = err;
    f->errlen = errlen;
    return r;
}

/* What the machine decides (shared by run and validate): the core slots
 * (every task's cpus must fit) and the GPUs (gpu_setup's checks). */
static int run_resources(weft__flow_run_t *r, char *err, size_t errlen)
{
    weft__flow_t *f = r->f;
    int rc = weft__topo_discover(&r->topo);
    if (rc) {
        snprintf(err, errlen, "cannot discover the machine's cores: %s", weft_strerror(rc));
        return rc;
    }
    rc = weft__cores_create(r->topo, f->threads, f->pin, &r->cores);
    r->own_cores = rc == 0;
    if (rc) {
        snprintf(err, errlen, "cannot set up %d core slots: %s", f->threads, weft_strerror(rc));
        return rc;
    }
    int slots = weft__cores_slots(r->cores);
    for (uint32_t i = 0; i < f->ntmpls; i++) {
        const wf_tmpl_t *t = &f->tmpls[i];
        if (t->cpus > slots) {
            const weft_toml_value_t *v = weft_toml_get(t->table, "cpus");
            return weft__wf_error(f, AT(v), t->name, "cpus",
                                  "needs %d cores but the run has %d (raise threads, or lower cpus)", t->cpus, slots);
        }
    }
    if ((rc = gpu_setup(r)) == WEFT_ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int weft__flow_check(weft__flow_t *f, char *err, size_t errlen)
{
    weft__flow_run_t *r = run_new(f, err, errlen);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    int rc = run_resources(r, err, errlen);
    weft__flow_run_destroy(r);
    return rc;
}

int weft__flow_run_start(weft__flow_t *f, const weft__flow_run_opts_t *o, weft__flow_run_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    weft__flow_run_t *r = run_new(f, err, errlen);
    if (!r)
        return WEFT_ENOMEM;
    r->o = *o;
    while (environ[r->nenviron])
        r->nenviron++;
    int rc = run_resources(r, err, errlen);
    if (rc)
        goto fail;
    int slots = weft__cores_slots(r->cores);
    static atomic_uint_least64_t next_id = 1;
    r->id = atomic_fetch_add(&next_id, 1);
    r->state = weft__calloc(f->ntasks ? f->ntasks : 1, 1);
    r->gtask = weft__calloc(f->ntasks ? f->ntasks : 1, sizeof *r->gtask);
    r->cpu_short = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->cpu_short);
    if (!r->state || !r->gtask || !r->cpu_short) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (chdir(f->workdir) != 0) {
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot change to the working directory '%s': %s", f->workdir, strerror(errno));
        goto fail;
    }
    if ((rc = make_run_dir(r, err, errlen)) != 0)
        goto fail;
    snprintf(r->tsv_path, sizeof r->tsv_path, "%s/tasks.tsv", r->dir);
    r->tsv = open(r->tsv_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    static const char header[] = "task\tparams\tattempt\tstart\tend\tstatus\texit\tsignal\twall_s\tuser_s\t"
                                 "sys_s\tmaxrss_kb\tcpus\tgpus\tstdout\tstderr\tresults\treason\n";
    if (r->tsv < 0 || record_write(r, header, sizeof header - 1) != sizeof header - 1) {
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot create '%s': %s", r->tsv_path, strerror(r->tsv < 0 ? errno : r->jerr));
        goto fail;
    }
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = slots;
    cfg.pin = WEFT_PIN_NONE; /* tasks are bound, not workers */
    cfg.task_pin = f->pin;
    cfg.cores = slots; /* the budget validated above */
    cfg.gpus = r->ngpus;
    cfg.flags = WEFT_CONFIG_NO_CALLER_HELP | (f->keep_going ? 0 : WEFT_CONFIG_FAIL_FAST);
    cfg.trace = o->trace ? 1 : 0;
    cfg.trace_file = o->trace ? o->trace_file : NULL;
    if ((rc = weft_runtime_create(&cfg, &r->rt)) != 0 || (rc = weft_graph_create(&r->g)) != 0) {
        if (rc == WEFT_ESYS && o->trace_file)
            snprintf(err, errlen, "not run: the trace file cannot be written");
        else
            snprintf(err, errlen, "cannot start the runtime: %s", weft_strerror(rc));
        goto fail;
    }
    /* from now on the runtime's budget: its process tasks and the kernels
     * share it */
    r->svc = weft__runtime_procs(r->rt);
    if ((rc = weft__proc_svc_start(r->svc)) != 0) {
        snprintf(err, errlen, "cannot start the process executor: %s", weft_strerror(rc));
        goto fail;
    }
    weft__cores_destroy(r->cores);
    r->cores = weft__proc_svc_cores(r->svc);
    r->own_cores = false;
    if (r->ngpus > 0)
        weft__proc_svc_gpus(r->svc);
    r->tr = weft__runtime_recorder(r->rt);
    if (r->tr) {
        char conf[3 * PATH_MAX], fpath[PATH_MAX], dir[PATH_MAX];
        json_safe(fpath, f->path, sizeof fpath);
        json_safe(dir, r->dir, sizeof dir);
        snprintf(
            conf, sizeof conf,
            "\"workflow\":\"%s\",\"file\":\"%s\",\"tasks\":%zu,\"core slots\":%d,\"keep_going\":%s,\"run dir\":\"%s\"",
            f->name, fpath, weft__flow_ntasks(f), slots, f->keep_going ? "true" : "false", dir);
        weft__runtime_trace_label(r->rt, f->name, conf);
    }
    /* The graph: kept tasks in file order, then their edges. */
    uint32_t *gidx = weft__malloc((size_t)(f->ntasks ? f->ntasks : 1) * sizeof *gidx);
    if (!gidx) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0, k = 0; i < f->ntasks && !rc; i++) {
        gidx[i] = UINT32_MAX;
        if (!f->tasks[i].keep)
            continue;
        weft_task_t *gt = NULL;
        const wf_tmpl_t *tm = f->tasks[i].tmpl;
        /* named (tracking, failures) without a copy: the flow outlives the graph */
        if (tm->kind == WF_KERNEL) {
            rc = add_kernel(r, &f->tasks[i], &gt);
        } else {
            weft__proc_limits_t lim = {.cpus = tm->cpus,
                                       .gpus = tm->gpus,
                                       .retries = tm->retries,
                                       .timeout_ns = tm->timeout_ns,
                                       .grace_ns = f->grace_ns};
            rc = weft__graph_add_process_src(r->g, f->tasks[i].name, &cmd_source, &f->tasks[i], &lim,
                                             WEFT_ADD_NAME_BORROWED, &gt);
        }
        r->gtask[i] = gt;
        gidx[i] = k++;
        if (rc == 0 && r->tr && f->tasks[i].tmpl->ndims)
            rc = annotate_params(f, &f->tasks[i], gt);
    }
    for (uint32_t i = 0; i < f->ntasks && !rc; i++) {
        if (!f->tasks[i].keep)
            continue;
        weft_task_t *gt = weft_graph_task(r->g, gidx[i]);
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1] && !rc; e++)
            rc = weft_task_after(gt, weft_graph_task(r->g, gidx[f->deps[e]]));
    }
    weft__free(gidx);
    if (rc) {
        snprintf(err, errlen, "cannot build the task graph: %s", weft_strerror(rc));
        goto fail;
    }
    f->run = r;
    r->t0_ns = weft__clock_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->t0_epoch_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if ((rc = weft_graph_submit(r->rt, r->g)) != 0) {
        f->run = NULL;
        snprintf(err, errlen, "cannot start the run: %s", weft_strerror(rc));
        goto fail;
    }
    if (pthread_create(&r->waiter, NULL, waiter_main, r) != 0) {
        weft_graph_cancel(r->g);
        weft_graph_wait(r->g);
        f->run = NULL;
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot start a thread");
        goto fail;
    }
    r->waiter_started = true;
    *out = r;
    return 0;
fail:
    weft__flow_run_destroy(r);
    return rc;
}

weft_runtime_t *weft__flow_run_runtime(weft__flow_run_t *r)
{
    return r->rt;
}

const char *weft__flow_run_dir(const weft__flow_run_t *r)
{
    return r->dir;
}

int weft__flow_run_slots(const weft__flow_run_t *r)
{
    return weft__cores_slots(r->cores);
}

void weft__flow_run_counts(weft__flow_run_t *r, weft__flow_counts_t *c)
{
    memset(c, 0, sizeof *c);
    c->total = weft__flow_ntasks(r->f);
    c->done = atomic_load(&r->ndone);
    c->failed = atomic_load(&r->nfailed);
    c->running = atomic_load(&r->nrunning);
    if (!r->waiter_started) { /* after wait: the final count */
        for (uint32_t i = 0; i < r->f->ntasks; i++) {
            c->skipped += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_SKIPPED;
            c->not_run += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_NOT_RUN;
            c->stopped += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_STOPPED;
        }
    }
}

void weft__flow_run_interrupt(weft__flow_run_t *r, uint64_t grace_ns)
{
    atomic_store(&r->stopping, 1);
    weft_graph_cancel(r->g);
    if (r->svc)
        weft__proc_svc_stop(r->svc, grace_ns);
}

int weft__flow_run_wait(weft__flow_run_t *r)
{
    if (r->waiter_started) {
        pthread_join(r->waiter, NULL);
        r->waiter_started = false;
    }
    if (r->tsv >= 0)
        record_sync(r);
    int result = 0;
    for (uint32_t i = 0, k = 0; i < r->f->ntasks; i++) {
        if (!r->f->tasks[i].keep)
            continue;
        int gs = weft_task_state(weft_graph_task(r->g, k++));
        if (r->state[i] == WEFT_FLOW_PENDING || r->state[i] == WEFT_FLOW_RUNNING)
            r->state[i] = gs == WEFT_TASK_CANCELLED ? WEFT_FLOW_SKIPPED : WEFT_FLOW_NOT_RUN;
        result |= r->state[i] != WEFT_FLOW_DONE;
    }
    return result;
}

int weft__flow_run_task(weft__flow_run_t *r, size_t i, const char **name)
{
    *name = r->f->tasks[i].name;
    return r->f->tasks[i].keep ? r->state[i] : -1;
}

const char *weft__flow_run_reason(weft__flow_run_t *r, size_t i)
{
    for (note_t *n = r->fails; n; n = n->next)
        if (n->task == i)
            return n->text ? n->text : "";
    if (r->state[i] == WEFT_FLOW_SKIPPED)
        return "skipped: a task it depends on failed";
    if (r->state[i] == WEFT_FLOW_NOT_RUN)
        return "not started: the run was stopping";
    return "";
}

void weft__flow_run_stderr(weft__flow_run_t *r, size_t i, char *buf, size_t len)
{
    const wf_task_t *t = &r->f->tasks[i];
    if (t->tmpl->kind == WF_KERNEL)
        buf[0] = '\0';
    else
        task_path(r, t, t->tmpl->err, "err", buf, len);
}

static int by_task(const void *a, const void *b)
{
    uint32_t x = (*(note_t *const *)a)->task, y = (*(note_t *const *)b)->task;
    return x < y ? -1 : x > y;
}

/* In file order (the order tasks are declared and expanded). */
size_t weft__flow_run_nresults(weft__flow_run_t *r)
{
    if (!r->result_index && r->nresults) {
        r->result_index = weft__malloc(r->nresults * sizeof *r->result_index);
        size_t k = 0;
        for (note_t *n = r->results; n && r->result_index; n = n->next)
            r->result_index[k++] = n;
        if (!r->result_index)
            return 0;
        qsort(r->result_index, r->nresults, sizeof *r->result_index, by_task);
    }
    return r->nresults;
}

void weft__flow_run_result(weft__flow_run_t *r, size_t k, size_t *task, const char **params, const char **results)
{
    note_t *n = r->result_index[k];
    *task = n->task;
    *params = n->params ? n->params : "";
    *results = n->text ? n->text : "";
}

static void free_notes(note_t *n)
{
    while (n) {
        note_t *next = n->next;
        weft__free(n->params);
        weft__free(n->text);
        weft__free(n);
        n = next;
    }
}

void weft__flow_run_destroy(weft__flow_run_t *r)
{
    if (!r)
        return;
    if (r->waiter_started) {
        weft__flow_run_interrupt(r, 0);
        weft__flow_run_wait(r);
    }
    weft_graph_destroy(r->g);
    weft_runtime_destroy(r->rt); /* its task service: every process reaped */
    if (r->own_cores)
        weft__cores_destroy(r->cores);
    weft__free(r->gtask);
    weft__topo_destroy(r->topo);
    if (r->tsv >= 0) {
        weft__flow_run_flush(r);
        close(r->tsv);
    }
    weft__free(r->jbuf);
    weft__free(r->jspare);
    weft__free(r->jpend);
    free_notes(r->fails);
    free_notes(r->results);
    weft__free(r->result_index);
    weft__free(r->state);
    weft__free(r->cpu_short);
    if (r->f->run == r)
        r->f->run = NULL;
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->jlock);
    pthread_mutex_destroy(&r->flush_lock);
    weft__free(r);
}
