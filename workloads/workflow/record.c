/* The record of a workflow run: the journal (tasks.tsv, one line per
 * attempt, written by whoever finishes one without waiting on a write),
 * the results and failure notes the summary shows, the event callback,
 * each task's final word and the attempts' trace slices. */
#include "workloads/workflow/run.h"

#include "workloads/workflow/store.h"

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

__attribute__((noinline)) bool weft__wf_line_grow(line_t *l)
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

/* "n=10 tol=1e-6": the sweep values task t uses, separated by sep,
 * NUL-terminated in l. */
void weft__wf_params_text(const weft__flow_t *f, const wf_task_t *t, line_t *l, char sep)
{
    line_init(l);
    for (uint32_t m = 0; m < t->tmpl->ndims; m++) {
        const wf_dim_t *d = &f->dims[t->tmpl->dims[m]];
        uint32_t digit = weft__wf_digit(f, t->tmpl, t->combo, t->tmpl->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            if (l->len)
                put_char(l, sep);
            put_text(l, f->params[d->params[p]].name);
            put_char(l, '=');
            put_text(l, f->params[d->params[p]].values[digit]);
        }
    }
    l->buf[l->len] = '\0';
}

/* s with tabs and line breaks made spaces, then `end` (a tab; '\0' for
 * the last field, whose place the newline takes). */
static void put_field(line_t *l, const char *s, char end)
{
    while (s && *s) {
        size_t n = strcspn(s, "\t\n\r");
        put_mem(l, s, n);
        s += n;
        if (*s) {
            put_char(l, ' ');
            s++;
        }
    }
    put_char(l, end);
}

/* v in decimal, written from the end of tmp[24]; returns where it starts. */
static char *fmt_int(char *end, long long v)
{
    char *p = end;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return p;
}

static void put_int(line_t *l, long long v)
{
    char tmp[24];
    char *p = fmt_int(tmp + sizeof tmp, v);
    put_mem(l, p, (size_t)(tmp + sizeof tmp - p));
}

/* ns as seconds with 3 decimals (rounded), without printf's float path. */
static void put_secs(line_t *l, uint64_t ns)
{
    uint64_t ms = (ns + 500000) / 1000000;
    char tmp[32];
    char *end = tmp + sizeof tmp - 4;
    end[0] = '.';
    end[1] = (char)('0' + ms / 100 % 10);
    end[2] = (char)('0' + ms / 10 % 10);
    end[3] = (char)('0' + ms % 10);
    char *p = fmt_int(end, (long long)(ms / 1000));
    put_mem(l, p, (size_t)(tmp + sizeof tmp - p));
}

#define JOURNAL_CHUNK (64u << 10) /* the flusher is woken once this much is buffered */
#define JOURNAL_MAX (2u << 20)    /* past this a worker commits itself (the flusher is behind) */

/* A journal record: this head, then the strings status, cpus, gpus, out,
 * err, results, reason, node (each NUL-terminated), padded to 8 bytes. */
typedef struct jrec {
    uint32_t len, task;
    int32_t attempt, exit_code, signal, no_cpu;
    int64_t maxrss_kb;
    uint64_t start_ns, end_ns, user_ns, sys_ns; /* start/end on the run's clock */
    uint64_t out_off, out_len, err_off, err_len;
} jrec_t;

/* the attempt's strings, then (made by the worker that finished it, so
 * that the flusher only stores and writes) its params as "k=v" lines and
 * its tasks.tsv line */
enum { JREC_NSTR = 10, JREC_NODE = 7, JREC_PARAMS = 8, JREC_TSV = 9 };

static void jrec_strings(const jrec_t *j, const char *s[JREC_NSTR])
{
    const char *p = (const char *)(j + 1);
    for (int i = 0; i < JREC_NSTR; i++) {
        s[i] = p;
        p += strlen(p) + 1;
    }
}

/* Record j as a tasks.tsv line. */
static void tsv_line(weft__flow_run_t *r, const jrec_t *j, const char *const str[JREC_NSTR], const char *params,
                     line_t *l)
{
    const wf_task_t *t = &r->f->tasks[j->task];
    put_field(l, t->name, '\t');
    put_field(l, params, '\t');
    put_int(l, j->attempt);
    put_char(l, '\t');
    put_secs(l, r->t0_epoch_ns + (j->start_ns - r->t0_ns));
    put_char(l, '\t');
    put_secs(l, r->t0_epoch_ns + (j->end_ns - r->t0_ns));
    put_char(l, '\t');
    put_field(l, str[0], '\t');
    if (j->exit_code >= 0)
        put_int(l, j->exit_code);
    put_char(l, '\t');
    put_int(l, j->signal);
    put_char(l, '\t');
    put_secs(l, j->end_ns - j->start_ns);
    put_char(l, '\t');
    if (!j->no_cpu) {
        put_secs(l, j->user_ns);
        put_char(l, '\t');
        put_secs(l, j->sys_ns);
    } else {
        put_char(l, '\t');
    }
    put_char(l, '\t');
    if (j->maxrss_kb >= 0)
        put_int(l, j->maxrss_kb);
    put_char(l, '\t');
    for (int i = 1; i < JREC_NODE; i++) {
        uint64_t len = i == 3 ? j->out_len : i == 4 ? j->err_len : 0;
        if (len) { /* in the run's output log: output.log@offset+length */
            put_text(l, "output.log@");
            put_int(l, (long long)(i == 3 ? j->out_off : j->err_off));
            put_char(l, '+');
            put_int(l, (long long)len);
            put_char(l, '\t');
        } else {
            put_field(l, str[i], '\t');
        }
    }
    char h[17];
    uint64_t hv = r->f->dhash[j->task];
    for (int i = 15; i >= 0; i--, hv >>= 4)
        h[i] = "0123456789abcdef"[hv & 15];
    h[16] = '\0';
    put_field(l, h, '\0');
    if (r->o.cluster) { /* over several ranks: the rank that ran it */
        l->buf[l->len - 1] = '\t';
        put_field(l, str[JREC_NODE], '\0');
    }
    l->buf[l->len - 1] = '\n';
}

void weft__wf_journal(weft__flow_run_t *r, uint32_t ti, const attempt_t *a)
{
    if (!r->store)
        return;
    jrec_t j = {.task = ti,
                .attempt = a->attempt,
                .exit_code = a->exit_code,
                .signal = a->signal,
                .no_cpu = a->no_cpu,
                .maxrss_kb = a->maxrss_kb,
                .start_ns = a->start_ns,
                .end_ns = a->end_ns,
                .user_ns = a->user_ns,
                .sys_ns = a->sys_ns,
                .out_off = a->out_off,
                .out_len = a->out_len,
                .err_off = a->err_off,
                .err_len = a->err_len};
    const char *str[JREC_NSTR] = {a->status, a->cpus, a->gpus, a->out, a->err, a->results, a->reason, a->node};
    line_t params, tsv;
    weft__wf_params_text(r->f, &r->f->tasks[ti], &params, '\n');
    line_init(&tsv);
    if (a->attempt > 0 && r->tsv >= 0)
        tsv_line(r, &j, str, params.buf, &tsv);
    tsv.buf[tsv.len] = '\0';
    str[JREC_PARAMS] = params.buf;
    str[JREC_TSV] = tsv.buf;
    size_t slen[JREC_NSTR], len = sizeof(jrec_t);
    for (int i = 0; i < JREC_NSTR; i++) {
        slen[i] = i == JREC_PARAMS ? params.len : i == JREC_TSV ? tsv.len : str[i] ? strlen(str[i]) : 0;
        len += slen[i] + 1;
    }
    len = (len + 7) & ~(size_t)7;
    j.len = (uint32_t)len;
    if (params.oom || tsv.oom)
        r->jlost = true; /* cut for want of memory: the record is incomplete */
    pthread_mutex_lock(&r->jlock);
    if (WEFT__GROW(r->jbuf, r->jcap, r->jlen + len, JOURNAL_CHUNK)) {
        /* out of memory: this attempt is lost, not the run; the record says it is incomplete */
        r->jlost = true;
        pthread_mutex_unlock(&r->jlock);
        line_fini(&params);
        line_fini(&tsv);
        return;
    }
    char *p = r->jbuf + r->jlen;
    memcpy(p, &j, sizeof j);
    p += sizeof j;
    for (int i = 0; i < JREC_NSTR; i++) {
        if (slen[i])
            memcpy(p, str[i], slen[i]);
        p[slen[i]] = '\0';
        p += slen[i] + 1;
    }
    memset(p, 0, (size_t)(r->jbuf + r->jlen + len - p));
    r->jlen += len;
    line_fini(&params);
    line_fini(&tsv);
    /* the flusher (weft__flow_run_flush_fd's loop) commits while the
     * workers go on; a worker commits itself only when it falls behind */
    bool wake = r->jlen >= JOURNAL_CHUNK && !r->jwoken, full = r->jlen >= JOURNAL_MAX;
    r->jwoken |= wake;
    pthread_mutex_unlock(&r->jlock);
    if (full || (wake && r->flush_fd < 0)) {
        weft__flow_run_flush(r);
    } else if (wake) {
        uint64_t one = 1;
        ssize_t n = write(r->flush_fd, &one, sizeof one);
        (void)n; /* a full counter is a wake-up pending */
    }
}

int weft__flow_run_flush_fd(const weft__flow_run_t *r)
{
    return r->flush_fd;
}

/* Writes b to tasks.tsv; returns what was written (a failure's errno
 * is kept in r->tsv_err). */
size_t weft__wf_record_write(weft__flow_run_t *r, const char *b, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(r->tsv, b + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->tsv_err = n < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static double epoch_s(const weft__flow_run_t *r, uint64_t ns)
{
    return (double)(r->t0_epoch_ns + (ns - r->t0_ns)) / 1e9;
}

/* Commits the records b[0..len) to the store as one group (rows bound
 * WEFT__STORE_BATCH at a time), then writes their tasks.tsv lines: 0, or
 * WEFT_ESYS (nothing of them stored). */
static int commit(weft__flow_run_t *r, const char *b, size_t len)
{
    if (!len)
        return 0;
    int rc = weft__wf_store_begin(r->store);
    line_t tsv; /* the lines, in the run's buffer kept from commit to commit */
    line_init(&tsv);
    if (r->tbuf) {
        tsv.buf = r->tbuf;
        tsv.cap = r->tcap;
    }
    weft__wf_attempt_row_t rows[WEFT__STORE_BATCH];
    size_t at[WEFT__STORE_BATCH]; /* parts: offsets in r->cbuf */
    for (size_t off = 0; off < len && !rc;) {
        size_t n = 0;
        r->clen = 0;
        for (; n < WEFT__STORE_BATCH && off < len; n++) {
            const jrec_t *j = (const jrec_t *)(b + off);
            const char *str[JREC_NSTR];
            jrec_strings(j, str);
            const wf_task_t *t = &r->f->tasks[j->task];
            const wf_tmpl_t *tm = t->tmpl;
            if (j->attempt > 0) { /* (under flush_lock) */
                r->fam_ns[tm - r->f->tmpls] += j->end_ns - j->start_ns;
                r->fam_n[tm - r->f->tmpls]++;
            }
            if (WEFT__GROW(r->cbuf, r->ccap, r->clen + 16 * (size_t)tm->nparts, 4096)) {
                rc = WEFT_ENOMEM;
                break;
            }
            at[n] = r->clen;
            size_t nparts = weft__wf_parts_blob(r->f, j->task, r->cbuf + r->clen, 16 * (size_t)tm->nparts);
            r->clen += nparts;
            put_mem(&tsv, str[JREC_TSV], strlen(str[JREC_TSV])); /* its tasks.tsv line, made by its worker */
            rows[n] = (weft__wf_attempt_row_t){
                .run = r->run_id,
                .task = t->name,
                .params = str[JREC_PARAMS],
                .attempt = j->attempt,
                .status = str[0],
                .exit_code = j->exit_code,
                .signal = j->signal,
                .start = j->attempt ? epoch_s(r, j->start_ns) : 0,
                .end = j->attempt ? epoch_s(r, j->end_ns) : 0,
                .wall = (double)(j->end_ns - j->start_ns) / 1e9,
                .user = j->no_cpu ? -1 : (double)j->user_ns / 1e9,
                .sys = j->no_cpu ? -1 : (double)j->sys_ns / 1e9,
                .maxrss_kb = (long)j->maxrss_kb,
                .cpus = str[1],
                .gpus = str[2],
                .out = str[3],
                .err = str[4],
                .results = str[5],
                .reason = str[6],
                .node = str[JREC_NODE],
                .out_off = j->out_off,
                .out_len = j->out_len,
                .err_off = j->err_off,
                .err_len = j->err_len,
                .hash = r->f->dhash[j->task],
                .parts_len = nparts,
            };
            off += j->len;
        }
        for (size_t k = 0; k < n; k++) /* r->cbuf has stopped moving */
            rows[k].parts = r->cbuf + at[k];
        if (!rc)
            rc = weft__wf_store_add(r->store, rows, n);
    }
    if (!rc)
        rc = weft__wf_store_commit(r->store);
    else
        weft__wf_store_rollback(r->store);
    if (!rc) {
        if (tsv.oom)
            r->tsv_lost = true;
        if (r->tsv >= 0 && tsv.len && !r->tsv_err && weft__wf_record_write(r, tsv.buf, tsv.len) < tsv.len)
            r->tsv_lost = true;
    }
    if (tsv.buf != tsv.small) { /* kept for the next commit */
        r->tbuf = tsv.buf;
        r->tcap = tsv.cap;
    }
    return rc;
}

#define GROUP_BYTES (1024u << 10) /* records per transaction: bounds what SQLite holds dirty */

/* Commits b[0..len) a group (a transaction) of at most GROUP_BYTES of
 * records at a time; returns how much was committed (all of it, or up to
 * the group the store refused). */
static size_t commit_groups(weft__flow_run_t *r, const char *b, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        while (done + n < len && n < GROUP_BYTES)
            n += ((const jrec_t *)(b + done + n))->len;
        if (commit(r, b + done, n) != 0)
            break;
        done += n;
    }
    return done;
}

/* Keeps b[0..len) to be committed first at the next flush. */
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
    if (!r->store)
        return;
    pthread_mutex_lock(&r->flush_lock);
    pthread_mutex_lock(&r->jlock);
    char *b = r->jbuf;
    size_t len = r->jlen, cap = r->jcap;
    r->jbuf = r->jspare;
    r->jcap = r->jspare_cap;
    r->jlen = 0;
    r->jwoken = false;
    pthread_mutex_unlock(&r->jlock);
    if (r->flush_fd >= 0) { /* this flush answers the wake-up */
        uint64_t v;
        ssize_t n = read(r->flush_fd, &v, sizeof v);
        (void)n;
    }
    if (r->jpend_len) {
        /* earlier records first */
        record_keep(r, b, len);
        size_t done = commit_groups(r, r->jpend, r->jpend_len);
        memmove(r->jpend, r->jpend + done, r->jpend_len - done);
        r->jpend_len -= done;
    } else if (len) {
        size_t done = commit_groups(r, b, len);
        if (done < len)
            record_keep(r, b + done, len - done);
    }
    r->jspare = b;
    r->jspare_cap = cap;
    pthread_mutex_unlock(&r->flush_lock);
}

/* Flushes; 0, or the errno of what kept the record from being whole. */
int weft__wf_record_sync(weft__flow_run_t *r)
{
    weft__flow_run_flush(r);
    pthread_mutex_lock(&r->flush_lock);
    if (r->tsv >= 0 && !r->tsv_err && !r->tsv_lost && fsync(r->tsv) != 0 && errno != EINVAL && errno != EROFS)
        r->tsv_err = errno;
    int e = r->jpend_len ? EIO : r->jlost ? ENOMEM : r->tsv_err ? r->tsv_err : r->tsv_lost ? EIO : 0;
    pthread_mutex_unlock(&r->flush_lock);
    return e;
}

static size_t count_recs(const char *b, size_t len)
{
    size_t n = 0;
    for (size_t off = 0; off < len; off += ((const jrec_t *)(b + off))->len)
        n++;
    return n;
}

bool weft__flow_run_record_error(weft__flow_run_t *r, char *buf, size_t len, bool *first)
{
    pthread_mutex_lock(&r->flush_lock);
    bool store = r->jpend_len || r->jlost;
    bool tsv = r->tsv_err || r->tsv_lost;
    bool incomplete = store || tsv;
    *first = incomplete && !r->jerr_told;
    if (store && r->jpend_len)
        snprintf(buf, len, "%s; %zu finished attempts are not recorded (their tasks run again on --resume)",
                 weft__wf_store_error(r->store), count_recs(r->jpend, r->jpend_len));
    else if (store)
        snprintf(buf, len, "out of memory: some attempts are not recorded in '%s'", weft__wf_store_path(r->store));
    else if (tsv)
        snprintf(buf, len, "cannot write the run record '%s': %s (the run store has every attempt: weft results)",
                 r->tsv_path, r->tsv_err ? strerror(r->tsv_err) : "out of memory");
    if (incomplete)
        r->jerr_told = true;
    pthread_mutex_unlock(&r->flush_lock);
    return incomplete;
}

bool weft__flow_run_store_failed(weft__flow_run_t *r)
{
    pthread_mutex_lock(&r->flush_lock);
    bool failed = r->jpend_len != 0;
    pthread_mutex_unlock(&r->flush_lock);
    return failed;
}

void weft__wf_add_note(weft__flow_run_t *r, bool result, uint32_t ti, const char *text)
{
    note_t *n = weft__calloc(1, sizeof *n);
    line_t params;
    weft__wf_params_text(r->f, &r->f->tasks[ti], &params, ' ');
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

void weft__wf_note_stderr(weft__flow_run_t *r, uint32_t ti, const char *where, const char *tail)
{
    pthread_mutex_lock(&r->lock);
    for (note_t *n = r->fails; n; n = n->next)
        if (n->task == ti) {
            n->where = where && *where ? weft__strdup(where) : NULL;
            n->tail = tail && *tail ? weft__strdup(tail) : NULL;
            break;
        }
    pthread_mutex_unlock(&r->lock);
}

void weft__wf_event(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason)
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
void weft__wf_fail_fast(weft__flow_run_t *r)
{
    if (!r->f->keep_going && !atomic_exchange(&r->stopping, 1))
        weft__cores_stop(r->cores);
}

/* The final word on task ti (any thread). */
void weft__wf_settle(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason)
{
    r->state[ti] = (uint8_t)state;
    atomic_fetch_sub(&r->nrunning, 1);
    if (state == WEFT_FLOW_DONE) {
        atomic_fetch_add(&r->ndone, 1);
    } else {
        weft__wf_add_note(r, false, ti, reason);
        if (state == WEFT_FLOW_FAILED) {
            atomic_fetch_add(&r->nfailed, 1);
            weft__wf_fail_fast(r);
        }
    }
    weft__wf_event(r, ti, attempt, state, wall, reason);
}

/* An attempt on the run's trace: a process on the lowest free process
 * slot track, a kernel on its worker's track. */
void weft__wf_trace_attempt(weft__flow_run_t *r, const weft_task_t *gt, const attempt_t *a, int ok, bool proc)
{
    int slot = -1;
    if (!proc && !weft__thread_trace(&slot))
        proc = true; /* not on a traced worker: no worker track to put it on */
    weft__tev_t ev = {.t0 = a->start_ns, .t1 = a->end_ns, .kind = TEV_ATTEMPT, .flags = TEV_F_NS, .aux = a->attempt};
    ev.state = ok ? WEFT_TASK_DONE : strcmp(a->status, "stopped") == 0 ? WEFT_TASK_NOT_RUN : WEFT_TASK_FAILED;
    ev.lane_kind = proc ? TLANE_PROC : TLANE_WORKER;
    /* (over several ranks, each rank's own tracks, named after it) */
    ev.lane = (uint16_t)(proc && a->node ? weft__trace_lane_pick_in(r->tr, a->node, a->start_ns, a->end_ns)
                         : proc          ? weft__trace_lane_pick(r->tr, TLANE_PROC, a->start_ns, a->end_ns)
                                         : slot);
    char args[512];
    int n = snprintf(args, sizeof args, "\"status\":\"%s\",\"cpus\":\"%s\"", a->status, a->cpus ? a->cpus : "");
    if (a->exit_code >= 0)
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"exit\":%d", a->exit_code);
    if (a->signal > 0)
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"signal\":%d", a->signal);
    if (a->node && a->node[0]) /* (names: host names and digits) */
        n += snprintf(args + n, sizeof args - (size_t)n, ",\"node\":\"%s\"", a->node);
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

void weft__wf_free_notes(note_t *n)
{
    while (n) {
        note_t *next = n->next;
        weft__free(n->params);
        weft__free(n->text);
        weft__free(n->tail);
        weft__free(n->where);
        weft__free(n);
        n = next;
    }
}
