/* Chrome trace-event JSON (opens in Perfetto and chrome://tracing): one
 * track per worker, process slot and CUDA stream, a complete event per task
 * attempt with its name, parameters and outcome, flow arrows for the
 * dependencies, counters. The array form: any prefix that ends after an
 * event, closed with "]", is a valid trace (the streamed file relies on it). */
#include "runtime/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* ---- a growing text buffer ------------------------------------------------ */

static int sbuf_room(weft__sbuf_t *b, size_t n)
{
    if (b->oom)
        return 0;
    if (b->len + n + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = weft__realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void weft__sbuf_put(weft__sbuf_t *b, const char *s, size_t n)
{
    if (!sbuf_room(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void weft__sbuf_puts(weft__sbuf_t *b, const char *s)
{
    weft__sbuf_put(b, s, strlen(s));
}

void weft__sbuf_printf(weft__sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        weft__sbuf_put(b, tmp, (size_t)n);
        return;
    }
    if (!sbuf_room(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void weft__sbuf_json(weft__sbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (!sbuf_room(b, n * 6 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

/* Unchecked appends into room reserved with sbuf_room: an event's fixed
 * parts are written with one check (1M events: a quarter of the time
 * the writing took with a check per piece). */
static char *w_lit(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define W_LIT(p, lit) w_lit((p), lit, sizeof lit - 1)

static char *w_u64(char *p, uint64_t v)
{
    char d[20];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = d[--n];
    return p;
}

static char *w_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return w_u64(p, (uint64_t)(-(v + 1)) + 1);
    }
    return w_u64(p, (uint64_t)v);
}

/* microseconds with 3 decimals */
static char *w_us(char *p, double us)
{
    if (us < 0) {
        *p++ = '-';
        us = -us;
    }
    uint64_t ns = (uint64_t)(us * 1000.0 + 0.5);
    p = w_u64(p, ns / 1000);
    p[0] = '.';
    p[1] = (char)('0' + ns / 100 % 10);
    p[2] = (char)('0' + ns / 10 % 10);
    p[3] = (char)('0' + ns % 10);
    return p + 4;
}

/* Reserves n bytes: the write position, or NULL (out of memory). */
static char *w_begin(weft__sbuf_t *b, size_t n)
{
    return sbuf_room(b, n) ? b->p + b->len : NULL;
}

static void w_end(weft__sbuf_t *b, char *p)
{
    b->len = (size_t)(p - b->p);
    *p = '\0';
}

/* The same, checked: one number each. */
static void put_u64(weft__sbuf_t *b, uint64_t v)
{
    char *p = w_begin(b, 24);
    if (p)
        w_end(b, w_u64(p, v));
}

static void put_i64(weft__sbuf_t *b, int64_t v)
{
    char *p = w_begin(b, 24);
    if (p)
        w_end(b, w_i64(p, v));
}

void weft__sbuf_us(weft__sbuf_t *b, double us)
{
    char *p = w_begin(b, 32);
    if (p)
        w_end(b, w_us(p, us));
}

#define PUT(b, lit) weft__sbuf_put((b), lit, sizeof lit - 1)

/* ---- events ------------------------------------------------------------------ */

void weft__trace_json_lane(weft__sbuf_t *b, weft__trace_t *rec, int kind, int lane, int nworkers)
{
    char name[160];
    weft__tmodel_lane(rec, kind, lane, nworkers, name, sizeof name);
    int tid = weft__tmodel_tid(kind, lane);
    PUT(b, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":");
    put_i64(b, tid);
    PUT(b, ",\"args\":{\"name\":");
    weft__sbuf_json(b, name);
    PUT(b, "}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":");
    put_i64(b, tid);
    PUT(b, ",\"args\":{\"sort_index\":");
    put_i64(b, tid);
    PUT(b, "}}");
}

void weft__trace_json_meta(weft__sbuf_t *b, weft__trace_t *rec, int nworkers, size_t procs, size_t gpus)
{
    PUT(b, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"weft\"}}");
    size_t counts[3] = {(size_t)nworkers, procs, gpus};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++)
            weft__trace_json_lane(b, rec, k, (int)i, nworkers);
}

static void common(weft__sbuf_t *b, const wtm_ev_t *x, char ph)
{
    char *p = w_begin(b, 128);
    if (!p)
        return;
    p = W_LIT(p, ",\"ph\":\"");
    *p++ = ph;
    p = W_LIT(p, "\",\"ts\":");
    p = w_us(p, x->t0);
    if (ph == 'X') {
        p = W_LIT(p, ",\"dur\":");
        p = w_us(p, x->t1 > x->t0 ? x->t1 - x->t0 : 0);
    }
    p = W_LIT(p, ",\"pid\":1,\"tid\":");
    p = w_i64(p, weft__tmodel_tid(x->e.lane_kind, x->e.lane));
    w_end(b, p);
}

/* run, index, state, the attempt or a non-zero rc, ready, then the event's
 * and the task's notes */
static void task_args(weft__sbuf_t *b, const weft__tmodel_t *m, const weft__tev_t *e)
{
    char *p = w_begin(b, 160);
    if (!p)
        return;
    p = W_LIT(p, ",\"args\":{\"run\":");
    p = w_u64(p, e->run);
    p = W_LIT(p, ",\"index\":");
    p = w_u64(p, e->index);
    p = W_LIT(p, ",\"state\":\"");
    const char *st = weft__tmodel_state(e->state);
    p = w_lit(p, st, strlen(st));
    *p++ = '"';
    if (e->kind == TEV_ATTEMPT) {
        p = W_LIT(p, ",\"attempt\":");
        p = w_i64(p, e->aux);
    } else if (e->kind != TEV_SKIP && e->aux) {
        p = W_LIT(p, ",\"rc\":");
        p = w_i64(p, e->aux);
    }
    if ((e->kind == TEV_TASK || e->kind == TEV_ATTEMPT) && e->run && e->run <= m->nrun && m->run[e->run - 1].map &&
        e->index < m->run[e->run - 1].g->ntasks && m->run[e->run - 1].map[e->index] >= 0) {
        p = W_LIT(p, ",\"ready\":");
        p = w_us(p, m->task[m->run[e->run - 1].map[e->index]].ready);
    }
    w_end(b, p);
    if (e->args) {
        PUT(b, ",");
        weft__sbuf_puts(b, e->args);
    }
    const char *note = weft__tmodel_note(m, e->run, e->index);
    if (note) {
        PUT(b, ",");
        weft__sbuf_puts(b, note);
    }
    PUT(b, "}}");
}

void weft__trace_json_event(weft__sbuf_t *b, const weft__tmodel_t *m, const wtm_ev_t *x, int cat_launch)
{
    const weft__tev_t *e = &x->e;
    char lb[24];
    PUT(b, ",\n{\"name\":");
    switch (e->kind) {
    case TEV_COUNTER:
        weft__sbuf_json(b, e->name ? e->name : "counter");
        PUT(b, ",\"ph\":\"C\",\"ts\":");
        weft__sbuf_us(b, x->t0);
        PUT(b, ",\"pid\":1,\"args\":{\"value\":");
        {
            char v[40];
            snprintf(v, sizeof v, "%.17g", e->value);
            weft__sbuf_puts(b, v);
        }
        PUT(b, "}}");
        return;
    case TEV_REGION:
        weft__sbuf_json(b, e->name ? e->name : "region");
        PUT(b, ",\"cat\":\"region\"");
        common(b, x, 'X');
        PUT(b, ",\"args\":{\"depth\":");
        put_i64(b, e->aux);
        PUT(b, "}}");
        return;
    case TEV_CHILD:
        weft__sbuf_json(b, e->name ? e->name : "child");
        PUT(b, ",\"cat\":\"child\"");
        common(b, x, 'X');
        task_args(b, m, e);
        return;
    case TEV_DONE:
    case TEV_SKIP:
        weft__sbuf_json(b, weft__tmodel_name(m, e->run, e->index, lb, sizeof lb));
        if (e->kind == TEV_DONE)
            PUT(b, ",\"cat\":\"completion\",\"s\":\"t\"");
        else
            PUT(b, ",\"cat\":\"skipped\",\"s\":\"t\"");
        common(b, x, 'i');
        task_args(b, m, e);
        return;
    default:
        weft__sbuf_json(b, weft__tmodel_name(m, e->run, e->index, lb, sizeof lb));
        if (e->kind == TEV_TASK && cat_launch)
            PUT(b, ",\"cat\":\"launch\"");
        else
            PUT(b, ",\"cat\":\"task\"");
        common(b, x, 'X');
        task_args(b, m, e);
        return;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- writing a file whole or not at all ---------------------------------------- */

/* A file written under a temporary name and renamed over path once
 * complete; the first error is kept and logged naming path. */
typedef struct afile {
    const char *path;
    char tmp[4200];
    int fd, err;
} afile_t;

static void afile_open(afile_t *f, const char *path)
{
    f->path = path;
    f->err = 0;
    f->fd = -1;
    if (snprintf(f->tmp, sizeof f->tmp, "%s.tmp%d", path, (int)getpid()) >= (int)sizeof f->tmp)
        f->err = ENAMETOOLONG;
    else if ((f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        f->err = errno;
}

static void afile_write(afile_t *f, const char *p, size_t n)
{
    if (!f->err && write_all(f->fd, p, n) != 0)
        f->err = errno ? errno : EIO;
}

/* Writes out what b holds once it passes 4 MiB. */
static void spill(weft__sbuf_t *b, afile_t *f)
{
    if (b->len < ((size_t)4 << 20) || b->oom)
        return;
    afile_write(f, b->p, b->len);
    b->len = 0;
}

/* Renames it into place (ok) or removes it. */
static int afile_close(afile_t *f, int ok)
{
    if (f->fd >= 0) {
        if (close(f->fd) != 0 && !f->err)
            f->err = errno;
        if (ok && !f->err && rename(f->tmp, f->path) != 0)
            f->err = errno;
        if (!ok || f->err)
            unlink(f->tmp);
    }
    if (f->err) {
        weft__log("cannot write '%s': %s", f->path, strerror(f->err));
        return WEFT_ESYS;
    }
    return 0;
}

int weft__write_file_atomic(const char *path, const char *data, size_t len)
{
    afile_t f;
    afile_open(&f, path);
    afile_write(&f, data, len);
    return afile_close(&f, 1);
}

/* ---- the whole trace ---------------------------------------------------------------- */

/* Flow arrows: from the last slice of each dependency to the first slice of
 * its dependent. `first`/`last` are event numbers per model task. */
/* One end of the flow arrow `id` (ph: "s" or "f" with its binding point)
 * at event x. */
static void flow_end(weft__sbuf_t *b, const char *ph, uint64_t id, const wtm_ev_t *x)
{
    PUT(b, ",\n{\"name\":\"dependency\",\"cat\":\"dep\",\"ph\":\"");
    weft__sbuf_puts(b, ph);
    PUT(b, ",\"id\":");
    put_u64(b, id);
    PUT(b, ",\"ts\":");
    weft__sbuf_us(b, x->t0);
    PUT(b, ",\"pid\":1,\"tid\":");
    put_i64(b, weft__tmodel_tid(x->e.lane_kind, x->e.lane));
    PUT(b, "}");
}

static void flows(weft__sbuf_t *b, const weft__tmodel_t *m, const int32_t *first, const int32_t *last, afile_t *f)
{
    uint64_t id = 1;
    for (size_t k = 0; k < m->ntask; k++) {
        const wtm_task_t *t = &m->task[k];
        if (first[k] < 0)
            continue;
        const wtm_run_t *r = &m->run[t->run - 1];
        const wtm_ev_t *dst = &m->ev[first[k]];
        for (uint32_t e = r->g->pred_off[t->index]; e < r->g->pred_off[t->index + 1]; e++) {
            int32_t p = r->map[r->g->pred[e]];
            if (p < 0 || last[p] < 0)
                continue;
            const wtm_ev_t *src = &m->ev[last[p]];
            flow_end(b, "s\"", id, src);
            flow_end(b, "f\",\"bp\":\"e\"", id, dst);
            id++;
            spill(b, f);
        }
    }
}

static int is_main(const weft__tmodel_t *m, const wtm_ev_t *x, int32_t *task)
{
    const weft__tev_t *e = &x->e;
    if (!e->run || e->run > m->nrun)
        return 0;
    const wtm_run_t *r = &m->run[e->run - 1];
    if (e->index >= r->g->ntasks || (*task = r->map[e->index]) < 0)
        return 0;
    if (e->kind == TEV_ATTEMPT)
        return 1;
    return e->kind == TEV_TASK && !m->task[*task].has_attempts;
}

int weft__trace_write_json(const weft__tmodel_t *m, const weft__tconf_t *c, const char *path)
{
    int32_t *first = weft__malloc((m->ntask ? m->ntask : 1) * sizeof *first);
    int32_t *last = weft__malloc((m->ntask ? m->ntask : 1) * sizeof *last);
    if (!first || !last) {
        weft__free(first);
        weft__free(last);
        return WEFT_ENOMEM;
    }
    memset(first, 0xff, m->ntask * sizeof *first);
    memset(last, 0xff, m->ntask * sizeof *last);
    afile_t f;
    afile_open(&f, path);
    weft__sbuf_t b = {0};
    PUT(&b, "[\n");
    weft__trace_json_meta(&b, m->rec, c->nworkers, m->lanes[TLANE_PROC], m->lanes[TLANE_GPU]);
    /* the helper lanes (callers) that ran something */
    for (size_t i = (size_t)c->nworkers; i < m->lanes[TLANE_WORKER]; i++)
        weft__trace_json_lane(&b, m->rec, TLANE_WORKER, (int)i, c->nworkers);
    for (size_t i = 0; i < m->nev && !f.err; i++) {
        const wtm_ev_t *x = &m->ev[i];
        int32_t k = -1;
        if (is_main(m, x, &k)) {
            if (first[k] < 0 || x->t0 < m->ev[first[k]].t0)
                first[k] = (int32_t)i;
            if (last[k] < 0 || x->t1 > m->ev[last[k]].t1)
                last[k] = (int32_t)i;
        }
        int launch = x->e.kind == TEV_TASK && k >= 0 && m->task[k].has_attempts;
        weft__trace_json_event(&b, m, x, launch);
        spill(&b, &f);
    }
    flows(&b, m, first, last, &f);
    PUT(&b, "\n]\n");
    weft__free(first);
    weft__free(last);
    afile_write(&f, b.p, b.oom ? 0 : b.len);
    int rc = afile_close(&f, !b.oom);
    weft__free(b.p);
    return b.oom ? WEFT_ENOMEM : rc;
}
