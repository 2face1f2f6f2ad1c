/* The record of a workflow run: the journal (tasks.tsv, one line per
 * attempt, written by whoever finishes one without waiting on a write),
 * the results and failure notes the summary shows, the event callback,
 * each task's final word and the attempts' trace slices. */
#include "workloads/workflow/run.h"

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

/* "n=10 tol=1e-6": the sweep values task t uses, NUL-terminated in l. */
void weft__wf_params_text(const weft__flow_t *f, const wf_task_t *t, line_t *l)
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

void weft__wf_journal(weft__flow_run_t *r, uint32_t ti, const attempt_t *a)
{
    if (r->tsv < 0)
        return;
    const wf_task_t *t = &r->f->tasks[ti];
    line_t params, l;
    weft__wf_params_text(r->f, t, &params);
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
size_t weft__wf_record_write(weft__flow_run_t *r, const char *b, size_t len)
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
        size_t n = weft__wf_record_write(r, r->jpend, r->jpend_len);
        memmove(r->jpend, r->jpend + n, r->jpend_len - n);
        r->jpend_len -= n;
    } else if (len) {
        size_t n = weft__wf_record_write(r, b, len);
        if (n < len)
            record_keep(r, b + n, len - n);
    }
    r->jspare = b;
    r->jspare_cap = cap;
    pthread_mutex_unlock(&r->flush_lock);
}

/* Flushes, then syncs the record to disk (a file system that accepted the
 * writes may still fail them there); 0, or the errno. */
int weft__wf_record_sync(weft__flow_run_t *r)
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

void weft__wf_add_note(weft__flow_run_t *r, bool result, uint32_t ti, const char *text)
{
    note_t *n = weft__calloc(1, sizeof *n);
    line_t params;
    weft__wf_params_text(r->f, &r->f->tasks[ti], &params);
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

void weft__wf_free_notes(note_t *n)
{
    while (n) {
        note_t *next = n->next;
        weft__free(n->params);
        weft__free(n->text);
        weft__free(n);
        n = next;
    }
}
