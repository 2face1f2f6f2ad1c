/* One workflow run over several ranks (workflow.h): rank 0 owns the run,
 * the others are agents that run the attempts it sends them.
 *
 * Every rank loads the same workflow (same file, same options: mpirun
 * gives each the same command line), so a task travels as its number and
 * attempt, and an agent builds it as rank 0 would (command.c's cmd_build,
 * kernel.c's weft__wf_kernel_here). Rank 0 places attempts through the
 * task service's remote nodes (tasks/remote.c), one node per agent;
 * results, captured output and key=value results come back in one
 * message per attempt and are journalled, logged and traced by rank 0 as
 * a local attempt would be.
 *
 * Messages (one record each on the link; integers little-endian as the
 * machines' own, strings with their length):
 *   agent -> 0: HELLO ok, cores, GPUs, tasks, fingerprint, host, error
 *               RESULT ticket, outcome, times, cpus, GPUs, results, stdout, stderr
 *   0 -> agent: START run directory
 *               RUN ticket, task, attempt, cores, GPUs, points.json text
 *               CANCEL ticket, grace;  STOP grace;  BYE exit code */
#include "workloads/workflow/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { M_HELLO = 1, M_START, M_RUN, M_CANCEL, M_STOP, M_BYE, M_RESULT };

/* ---- messages ----------------------------------------------------------------------------- */

typedef struct wbuf {
    char *d;
    size_t len, cap;
    bool oom;
    char small[512];
} wbuf_t;

static void w_init(wbuf_t *b, int type)
{
    b->d = b->small;
    b->len = 1;
    b->cap = sizeof b->small;
    b->oom = false;
    b->d[0] = (char)type;
}

static void w_put(wbuf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap;
        while (cap < b->len + n)
            cap *= 2;
        char *d = weft__malloc(cap);
        if (!d) {
            b->oom = true;
            return;
        }
        memcpy(d, b->d, b->len);
        if (b->d != b->small)
            weft__free(b->d);
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void w_u64(wbuf_t *b, uint64_t v)
{
    w_put(b, &v, 8);
}

static void w_i32(wbuf_t *b, int32_t v)
{
    w_put(b, &v, 4);
}

static void w_mem(wbuf_t *b, const void *p, size_t n)
{
    w_u64(b, n);
    if (n)
        w_put(b, p, n);
}

static void w_str(wbuf_t *b, const char *s)
{
    w_mem(b, s ? s : "", s ? strlen(s) : 0);
}

static int w_send(weft__link_t *l, int to, wbuf_t *b)
{
    int rc = b->oom ? WEFT_ENOMEM : l->send(l, to, b->d, b->len);
    if (b->d != b->small)
        weft__free(b->d);
    b->d = b->small;
    return rc;
}

typedef struct rbuf {
    const char *d;
    size_t len, at;
    bool bad;
} rbuf_t;

static void r_get(rbuf_t *b, void *p, size_t n)
{
    if (b->bad || b->at + n > b->len) {
        b->bad = true;
        memset(p, 0, n);
        return;
    }
    memcpy(p, b->d + b->at, n);
    b->at += n;
}

static uint64_t r_u64(rbuf_t *b)
{
    uint64_t v;
    r_get(b, &v, 8);
    return v;
}

static int32_t r_i32(rbuf_t *b)
{
    int32_t v;
    r_get(b, &v, 4);
    return v;
}

/* Bytes in place (not NUL-terminated): their start and length. */
static const char *r_mem(rbuf_t *b, size_t *n)
{
    uint64_t len = r_u64(b);
    if (b->bad || len > b->len - b->at) {
        b->bad = true;
        *n = 0;
        return "";
    }
    const char *p = b->d + b->at;
    b->at += len;
    *n = (size_t)len;
    return p;
}

/* A string into buf (cut to fit). */
static void r_str(rbuf_t *b, char *buf, size_t cap)
{
    size_t n;
    const char *p = r_mem(b, &n);
    n = n < cap - 1 ? n : cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
}

/* What the ranks compare to know they loaded the same workflow: the
 * tasks' names and kinds, in order. */
static uint64_t fingerprint(const weft__flow_t *f)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < f->ntasks; i++) {
        for (const char *c = f->tasks[i].name; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
        h = (h ^ (uint64_t)(f->tasks[i].tmpl->kind + 1)) * 1099511628211ull;
    }
    return h;
}

/* ---- rank 0 ------------------------------------------------------------------------------- */

struct weft__cluster {
    weft__link_t *l;
    weft__flow_t *f;
    weft__remote_t *rm;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int nhello;
    int *rank_node; /* per rank: its node (-1: none yet) */
    int *node_rank;
    char err[1024]; /* the first agent that could not join */
    bool lost;      /* a rank was lost */
};

weft__remote_t *weft__wf_cluster_remote(weft__cluster_t *c)
{
    return c->rm;
}

static void owner_hello(weft__cluster_t *c, int from, rbuf_t *b)
{
    int32_t ok = r_i32(b), slots = r_i32(b), gpus = r_i32(b);
    uint64_t ntasks = r_u64(b), fp = r_u64(b);
    char host[128], why[600];
    r_str(b, host, sizeof host);
    r_str(b, why, sizeof why);
    pthread_mutex_lock(&c->lock);
    if (c->err[0] || c->rank_node[from] >= 0) {
        /* (one error is said; a second hello is ignored) */
    } else if (b->bad) {
        snprintf(c->err, sizeof c->err, "rank %d sent a message weft cannot read (another weft version?)", from);
    } else if (!ok) {
        snprintf(c->err, sizeof c->err, "rank %d (%s): %s", from, host, why);
    } else if (ntasks != c->f->ntasks || fp != fingerprint(c->f)) {
        snprintf(c->err, sizeof c->err,
                 "rank %d (%s) loaded another workflow (%llu tasks against %llu here): every rank needs the same "
                 "file, with the same --set and --only options",
                 from, host, (unsigned long long)ntasks, (unsigned long long)c->f->ntasks);
    } else {
        char name[200];
        snprintf(name, sizeof name, "rank%d@%s", from, host);
        int node = weft__remote_add_node(c->rm, name, slots, gpus);
        if (node < 0) {
            snprintf(c->err, sizeof c->err, "out of memory");
        } else {
            c->rank_node[from] = node;
            c->node_rank[node] = from;
        }
    }
    c->nhello++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void owner_result(weft__cluster_t *c, int from, rbuf_t *b)
{
    weft__proc_result_t res;
    memset(&res, 0, sizeof res);
    uint64_t ticket = r_u64(b);
    res.status = r_i32(b);
    res.exit_code = r_i32(b);
    res.signal = r_i32(b);
    int32_t flags = r_i32(b);
    res.timed_out = flags & 1;
    res.started = flags & 2;
    res.out_spilled = flags & 4;
    res.err_spilled = flags & 8;
    res.wall_ns = r_u64(b);
    res.user_ns = r_u64(b);
    res.sys_ns = r_u64(b);
    res.maxrss_kb = (long)r_u64(b);
    res.log_err = r_i32(b);
    r_str(b, res.reason, sizeof res.reason);
    char cpus[256], gpus[256];
    r_str(b, cpus, sizeof cpus);
    r_str(b, gpus, sizeof gpus);
    size_t nres, nout, nerr;
    const char *results = r_mem(b, &nres);
    const char *out = r_mem(b, &nout);
    const char *err = r_mem(b, &nerr);
    if (b->bad)
        return; /* (its attempt ends when the node is lost, or the run is stopped) */
    char *rtext = weft__malloc(nres + 1);
    if (rtext) {
        memcpy(rtext, results, nres);
        rtext[nres] = '\0';
    }
    weft__flow_run_t *r = c->f->run;
    int node = c->rank_node[from];
    res.node = weft__remote_node_name(c->rm, node);
    res.cpus = cpus;
    res.gpus = gpus;
    res.results = rtext ? rtext : "";
    /* its output into this run's log, as a local one's */
    if (r && r->outlog && nout && !res.log_err) {
        res.log_err = weft__outlog_append_mem(r->outlog, out, nout, &res.out_off);
        res.out_len = res.log_err ? 0 : nout;
    }
    if (r && r->outlog && nerr && !res.log_err) {
        res.log_err = weft__outlog_append_mem(r->outlog, err, nerr, &res.err_off);
        res.err_len = res.log_err ? 0 : nerr;
    }
    weft__remote_result(c->rm, ticket, &res);
    weft__free(rtext);
}

static void owner_recv(void *ud, int from, const void *msg, size_t len)
{
    weft__cluster_t *c = ud;
    rbuf_t b = {.d = msg, .len = len, .at = 1};
    if (len < 1 || from <= 0 || from >= c->l->size)
        return;
    if (((const char *)msg)[0] == M_HELLO)
        owner_hello(c, from, &b);
    else if (((const char *)msg)[0] == M_RESULT && c->rank_node[from] >= 0)
        owner_result(c, from, &b);
}

static void owner_lost(void *ud, int rank, double silent_s)
{
    weft__cluster_t *c = ud;
    pthread_mutex_lock(&c->lock);
    c->lost = true;
    int node = c->rank_node[rank];
    if (node < 0 && !c->err[0])
        snprintf(c->err, sizeof c->err, "rank %d did not answer within %.0f s", rank, silent_s);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (node < 0)
        return;
    char why[160];
    snprintf(why, sizeof why, "rank %d stopped answering (no word from it for %.1f s)", rank, silent_s);
    const char *name = weft__remote_node_name(c->rm, node);
    int n = weft__remote_node_lost(c->rm, node, why);
    weft__log("%s is lost: no word from it for %.1f s; %d task%s it held %s", name, silent_s, n, n == 1 ? "" : "s",
              n ? "are retried on the other ranks when they have retries left, else failed" : "(none)");
}

/* How long a result may wait: as long as every busy rank has queued work. */
static uint64_t owner_calm(void *ud)
{
    weft__cluster_t *c = ud;
    return weft__remote_slack_ns(c->rm);
}

static int ops_start(void *ud, int node, uint64_t ticket, uint32_t id, int attempt, int cpus, int gpus)
{
    weft__cluster_t *c = ud;
    const wf_task_t *t = &c->f->tasks[id];
    wbuf_t b;
    w_init(&b, M_RUN);
    w_u64(&b, ticket);
    w_i32(&b, (int32_t)id);
    w_i32(&b, attempt);
    w_i32(&b, cpus);
    w_i32(&b, gpus);
    char *points = NULL;
    size_t npoints = 0;
    if (t->tmpl->always && c->f->run) { /* its points.json, written here (cmd_remote) */
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s.points.json", c->f->run->dir, t->name);
        FILE *fp = fopen(path, "r");
        if (fp) {
            struct stat st;
            if (fstat(fileno(fp), &st) == 0 && (points = weft__malloc((size_t)st.st_size + 1)))
                npoints = fread(points, 1, (size_t)st.st_size, fp);
            fclose(fp);
        }
    }
    w_mem(&b, points, npoints);
    weft__free(points);
    return w_send(c->l, c->node_rank[node], &b);
}

static void ops_cancel(void *ud, int node, uint64_t ticket, uint64_t grace_ns)
{
    weft__cluster_t *c = ud;
    wbuf_t b;
    w_init(&b, M_CANCEL);
    w_u64(&b, ticket);
    w_u64(&b, grace_ns);
    w_send(c->l, c->node_rank[node], &b);
}

static void send_all(weft__cluster_t *c, int type, uint64_t v)
{
    for (int rank = 1; rank < c->l->size; rank++) {
        wbuf_t b;
        w_init(&b, type);
        w_u64(&b, v);
        w_send(c->l, rank, &b); /* (a lost rank's is dropped) */
    }
}

static void ops_stop(void *ud, uint64_t grace_ns)
{
    send_all(ud, M_STOP, grace_ns);
}

int weft__cluster_open(weft__link_t *l, weft__flow_t *f, int code, double wait_s, weft__cluster_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    weft__cluster_t *c = weft__calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    c->l = l;
    c->f = f;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->rank_node = weft__malloc((size_t)l->size * sizeof *c->rank_node);
    c->node_rank = weft__malloc((size_t)l->size * sizeof *c->node_rank);
    static const weft__remote_ops_t ops = {.start = ops_start, .cancel = ops_cancel, .stop = ops_stop};
    int rc = c->rank_node && c->node_rank ? weft__remote_create(&ops, c, &c->rm) : WEFT_ENOMEM;
    for (int i = 0; !rc && i < l->size; i++)
        c->rank_node[i] = c->node_rank[i] = -1;
    l->calm_ns = owner_calm;
    if (!rc)
        rc = l->listen(l, owner_recv, owner_lost, c);
    if (rc) {
        snprintf(err, errlen, "cannot start: %s", weft_strerror(rc));
        weft__cluster_destroy(c); /* (the link is not listening: nothing calls back) */
        return rc;
    }
    *out = c;
    if (!f) {
        send_all(c, M_BYE, (uint64_t)code);
        return WEFT_ESTATE;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)wait_s;
    pthread_mutex_lock(&c->lock);
    rc = 0;
    while (c->nhello < l->size - 1 && !c->err[0] && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cond, &c->lock, &until);
    if (c->err[0]) {
        snprintf(err, errlen, "%s", c->err);
        rc = WEFT_EPARSE;
    } else if (c->nhello < l->size - 1) {
        snprintf(err, errlen, "%d of the %d other ranks did not say hello within %.0f s", l->size - 1 - c->nhello,
                 l->size - 1, wait_s);
        rc = WEFT_ETIMEDOUT;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc)
        send_all(c, M_BYE, 2);
    return rc;
}

void weft__cluster_write_nodes(weft__cluster_t *c, FILE *out)
{
    fprintf(out, "  ranks:");
    uint64_t n;
    bool lost;
    const char *name;
    for (int i = 0; (name = weft__remote_node_stats(c->rm, i, &n, &lost)); i++)
        fprintf(out, "%s %s %llu attempt%s%s", i ? "," : "", name, (unsigned long long)n, n == 1 ? "" : "s",
                lost ? " (lost)" : "");
    fputc('\n', out);
}

int weft__cluster_nodes(weft__cluster_t *c, int *slots, int *gpus)
{
    weft__remote_capacity(c->rm, slots, gpus, NULL, NULL);
    return weft__remote_nodes(c->rm);
}

int weft__wf_cluster_begin(weft__cluster_t *c, const char *dir)
{
    for (int rank = 1; rank < c->l->size; rank++) {
        wbuf_t b;
        w_init(&b, M_START);
        w_str(&b, dir);
        int rc = w_send(c->l, rank, &b);
        if (rc)
            return rc;
    }
    return 0;
}

void weft__cluster_close(weft__cluster_t *c, int code)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    bool lost = c->lost;
    pthread_mutex_unlock(&c->lock);
    /* after a lost rank nobody finalizes MPI (it would wait for that one) */
    send_all(c, M_BYE, (uint32_t)code | (lost ? 1ull << 32 : 0));
}

bool weft__cluster_lost(weft__cluster_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool lost = c->lost;
    pthread_mutex_unlock(&c->lock);
    return lost;
}

void weft__cluster_destroy(weft__cluster_t *c)
{
    if (!c)
        return;
    weft__remote_destroy(c->rm);
    weft__free(c->rank_node);
    weft__free(c->node_rank);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    weft__free(c);
}

/* ---- an agent ----------------------------------------------------------------------------- */

typedef struct agent agent_t;

typedef struct job {
    struct job *next;          /* in the kernel queue */
    struct job *jnext, *jprev; /* in the agent's list of jobs */
    agent_t *a;
    uint64_t ticket;
    uint32_t ti;
    int attempt, cpus, gpus;
    weft__lease_t *lease;
    atomic_int canceled;
    uint64_t deadline_ns;
    char cpus_text[256], gpus_text[256];
} job_t;

struct agent {
    weft__link_t *l;
    weft__flow_t *f;
    weft__flow_run_t *r;
    char scratch[PATH_MAX];
    pthread_mutex_t lock;
    pthread_cond_t kcond;
    job_t *jobs;              /* in flight (cancel looks here) */
    int njobs;                /* how many */
    double mean_ns;           /* their moving mean time, running */
    job_t *kq_head, *kq_tail; /* kernels waiting for a thread */
    pthread_t *kthreads;
    int nk;
    bool kstop;
    atomic_bool stopping;
    int efd;                   /* wakes the main thread */
    atomic_int code;           /* -1 while the run goes on */
    atomic_bool no_finalize;   /* a rank was lost */
    atomic_bool owner_lost;    /* rank 0 was */
    pthread_mutex_t recv_lock; /* held by agent_recv: the main thread takes it to close */
    bool closed;               /* the run is over here: messages are ignored (under recv_lock) */
    double lost_s;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wake_main(agent_t *a, int code)
{
    int none = -1;
    atomic_compare_exchange_strong(&a->code, &none, code);
    uint64_t one = 1;
    ssize_t w = write(a->efd, &one, sizeof one);
    (void)w;
}

/* j into the agent's list of jobs (cancel finds it there). */
static void job_link(agent_t *a, job_t *j)
{
    pthread_mutex_lock(&a->lock);
    a->njobs++;
    j->jprev = NULL;
    j->jnext = a->jobs;
    if (a->jobs)
        a->jobs->jprev = j;
    a->jobs = j;
    pthread_mutex_unlock(&a->lock);
}

/* The job's result to rank 0, its cores back, the job freed. out/err:
 * its captured output (NULL: none). */
static void job_end(job_t *j, const weft__proc_result_t *res, const char *results, size_t nres, const char *out,
                    size_t nout, const char *err, size_t nerr)
{
    agent_t *a = j->a;
    wbuf_t b;
    w_init(&b, M_RESULT);
    w_u64(&b, j->ticket);
    w_i32(&b, res->status);
    w_i32(&b, res->exit_code);
    w_i32(&b, res->signal);
    w_i32(&b,
          (res->timed_out ? 1 : 0) | (res->started ? 2 : 0) | (res->out_spilled ? 4 : 0) | (res->err_spilled ? 8 : 0));
    w_u64(&b, res->wall_ns);
    w_u64(&b, res->user_ns);
    w_u64(&b, res->sys_ns);
    w_u64(&b, (uint64_t)res->maxrss_kb);
    w_i32(&b, res->log_err);
    w_str(&b, res->reason);
    w_str(&b, j->cpus_text);
    w_str(&b, j->gpus_text);
    w_mem(&b, results, nres);
    w_mem(&b, out, nout);
    w_mem(&b, err, nerr);
    w_send(a->l, 0, &b);
    pthread_mutex_lock(&a->lock);
    a->njobs--;
    a->mean_ns = a->mean_ns > 0 ? a->mean_ns + ((double)res->wall_ns - a->mean_ns) / 16 : (double)res->wall_ns;
    if (j->jprev)
        j->jprev->jnext = j->jnext;
    else
        a->jobs = j->jnext;
    if (j->jnext)
        j->jnext->jprev = j->jprev;
    pthread_mutex_unlock(&a->lock);
    if (j->lease)
        weft__cores_release(a->r->cores, j->lease);
    weft__free(j);
}

static void job_fail(job_t *j, int status, const char *why)
{
    weft__proc_result_t res;
    memset(&res, 0, sizeof res);
    res.status = status;
    res.exit_code = -1;
    res.maxrss_kb = -1;
    snprintf(res.reason, sizeof res.reason, "%.*s", (int)sizeof res.reason - 1, why);
    job_end(j, &res, NULL, 0, NULL, 0, NULL, 0);
}

/* What a command wrote to $WEFT_RESULT (lines with '=', as they are). */
static char *read_results_file(agent_t *a, const wf_task_t *t, size_t *n)
{
    char path[PATH_MAX + 256];
    *n = 0;
    snprintf(path, sizeof path, "%s/%s.result", a->r->dir, t->name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *text = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, fp)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strchr(line, '=') || line[0] == '=')
            continue;
        size_t l = strlen(line);
        if (WEFT__GROW(text, cap, *n + l + 2, 256))
            break;
        if (*n)
            text[(*n)++] = '\n';
        memcpy(text + *n, line, l);
        *n += l;
    }
    free(line);
    fclose(fp);
    return text;
}

static void cmd_done(void *ud, const weft__proc_result_t *r)
{
    job_t *j = ud;
    agent_t *a = j->a;
    const wf_task_t *t = &a->f->tasks[j->ti];
    size_t nres = 0;
    char *results = r->started ? read_results_file(a, t, &nres) : NULL;
    char *out = r->out_len ? weft__malloc(r->out_len) : NULL, *err = r->err_len ? weft__malloc(r->err_len) : NULL;
    weft__proc_result_t res = *r;
    if ((r->out_len && (!out || weft__outlog_read(a->r->outlog, r->out_off, r->out_len, out))) ||
        (r->err_len && (!err || weft__outlog_read(a->r->outlog, r->err_off, r->err_len, err))))
        res.log_err = res.log_err ? res.log_err : EIO;
    job_end(j, &res, results, nres, out, r->out_len, err, r->err_len);
    weft__free(results);
    weft__free(out);
    weft__free(err);
}

static void run_command(job_t *j)
{
    agent_t *a = j->a;
    const wf_task_t *t = &a->f->tasks[j->ti];
    weft__proc_spec_t spec;
    memset(&spec, 0, sizeof spec);
    char why[PATH_MAX + 256] = "";
    int rc = weft__wf_cmd_source.build((void *)t, j->attempt, &spec, why, sizeof why);
    if (rc) {
        weft__wf_cmd_source.release((void *)t, &spec);
        job_fail(j, rc == WEFT_ETASK ? WEFT_ETASK : rc, why[0] ? why : "out of memory while starting it");
        return;
    }
    size_t n_own = 0;
    while (spec.envp && spec.envp[n_own])
        n_own++;
    char *texts = NULL;
    char **envp =
        weft__proc_attempt_env(spec.envp, n_own, j->cpus, j->cpus_text, j->gpus, j->gpus_text, j->attempt, &texts);
    rc = WEFT_ENOMEM;
    if (envp) {
        spec.envp = (const char *const *)envp;
        spec.cpus = a->f->pin == WEFT_PIN_NONE ? NULL : &j->lease->set;
        spec.timeout_ns = t->tmpl->timeout_ns;
        spec.grace_ns = a->f->grace_ns;
        rc = weft__procs_start(weft__proc_svc_procs(a->r->svc), &spec, cmd_done, j);
    }
    weft__free(envp);
    weft__free(texts);
    weft__wf_cmd_source.release((void *)t, &spec);
    if (rc)
        job_fail(j, rc == WEFT_ESTATE ? WEFT_ECANCELED : rc,
                 rc == WEFT_ESTATE ? "not started: the run was stopping" : "out of memory while starting it");
}

static int kernel_stop(void *ud)
{
    job_t *j = ud;
    return atomic_load(&j->canceled) || atomic_load(&j->a->stopping) || (j->deadline_ns && mono_ns() > j->deadline_ns);
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* One kernel attempt on this kernel thread; *bound: the cpus it is bound
 * to now (*have: it is), so that a thread that runs task after task on
 * the same cores is not bound again each time. */
static void run_kernel(job_t *j, weft__cpuset_t *bound, bool *have)
{
    agent_t *a = j->a;
    const wf_task_t *t = &a->f->tasks[j->ti];
    if (a->f->pin != WEFT_PIN_NONE && !(*have && memcmp(bound, &j->lease->set, sizeof *bound) == 0)) {
        *have = weft__topo_bind_self(a->r->topo, &j->lease->set) == 0;
        *bound = j->lease->set;
    }
    int dev = -1;
    for (int g = 0; g < 64 && j->gpus; g++)
        if (j->lease->gpus >> g & 1) {
            dev = weft__proc_svc_gpu_dev(a->r->svc, g);
            break;
        }
    weft__proc_result_t res;
    memset(&res, 0, sizeof res);
    res.started = true;
    res.exit_code = -1;
    res.maxrss_kb = -1;
    uint64_t t0 = mono_ns();
    j->deadline_ns = t->tmpl->timeout_ns ? t0 + t->tmpl->timeout_ns : 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    int rc = weft__wf_kernel_here(a->r, t, dev, kernel_stop, j, &res);
    getrusage(RUSAGE_THREAD, &ru1);
    uint64_t t1 = mono_ns();
    res.wall_ns = t1 - t0;
    res.user_ns = tv_ns(ru1.ru_utime) - tv_ns(ru0.ru_utime);
    res.sys_ns = tv_ns(ru1.ru_stime) - tv_ns(ru0.ru_stime);
    if (rc == 0) {
        res.status = 0;
        res.reason[0] = '\0';
    } else if (j->deadline_ns && t1 > j->deadline_ns) {
        res.status = WEFT_ETASK;
        res.timed_out = true;
        snprintf(res.reason, sizeof res.reason, "timed out after %g s", (double)t->tmpl->timeout_ns / 1e9);
    } else if (atomic_load(&j->canceled) || atomic_load(&a->stopping)) {
        res.status = WEFT_ECANCELED;
        snprintf(res.reason, sizeof res.reason, "stopped before it finished");
    } else {
        res.status = WEFT_ETASK;
    }
    char *results = (char *)res.results;
    res.results = NULL;
    job_end(j, &res, results, results ? strlen(results) : 0, NULL, 0, NULL, 0);
    weft__free(results);
}

static void *kernel_thread(void *arg)
{
    agent_t *a = arg;
    weft__cpuset_t bound;
    bool have = false;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        while (!a->kq_head && !a->kstop)
            pthread_cond_wait(&a->kcond, &a->lock);
        job_t *j = a->kq_head;
        if (j && !(a->kq_head = j->next))
            a->kq_tail = NULL;
        pthread_mutex_unlock(&a->lock);
        if (!j)
            return NULL;
        run_kernel(j, &bound, &have);
    }
}

static void agent_grant(void *ud, weft__lease_t *lease, int status)
{
    job_t *j = ud;
    agent_t *a = j->a;
    j->lease = lease;
    if (status != 0 || atomic_load(&a->stopping)) {
        job_fail(j, WEFT_ECANCELED, "not started: the run was stopping");
        return;
    }
    weft__cpuset_format(a->f->pin == WEFT_PIN_NONE ? weft__cores_all(a->r->cores) : &lease->set, j->cpus_text,
                        sizeof j->cpus_text);
    weft__proc_svc_gpu_list(a->r->svc, lease->gpus, j->gpus_text, sizeof j->gpus_text);
    if (a->f->tasks[j->ti].tmpl->kind != WF_KERNEL) {
        run_command(j);
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (a->kq_tail)
        a->kq_tail->next = j;
    else
        a->kq_head = j;
    a->kq_tail = j;
    pthread_cond_signal(&a->kcond);
    pthread_mutex_unlock(&a->lock);
}

/* mkdir -p dir */
static void make_dir(const char *dir)
{
    char path[PATH_MAX + 8], made[PATH_MAX];
    snprintf(path, sizeof path, "%s/x", dir);
    weft__wf_make_parent(path, made, sizeof made);
}

static void agent_run(agent_t *a, rbuf_t *b)
{
    uint64_t ticket = r_u64(b);
    uint32_t ti = (uint32_t)r_i32(b);
    int attempt = r_i32(b), cpus = r_i32(b), gpus = r_i32(b);
    size_t npoints;
    const char *points = r_mem(b, &npoints);
    if (b->bad || ti >= a->f->ntasks)
        return;
    job_t *j = weft__calloc(1, sizeof *j);
    if (!j)
        return; /* (rank 0 sees it lost with this rank, if ever) */
    *j = (job_t){.a = a, .ticket = ticket, .ti = ti, .attempt = attempt, .cpus = cpus, .gpus = gpus};
    const wf_task_t *t = &a->f->tasks[ti];
    if (npoints) { /* an `always` task's points.json, as rank 0 wrote it */
        char path[PATH_MAX + 300], tmp[PATH_MAX + 310];
        snprintf(path, sizeof path, "%s/%s.points.json", a->r->dir, t->name);
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
        FILE *fp = fopen(tmp, "w");
        if (!fp || fwrite(points, 1, npoints, fp) != npoints || fclose(fp) != 0 || rename(tmp, path) != 0) {
            char why[PATH_MAX + 400];
            snprintf(why, sizeof why, "cannot write its points.json '%s': %s", path, strerror(errno));
            if (fp)
                unlink(tmp);
            job_link(a, j);
            job_fail(j, WEFT_ETASK, why);
            return;
        }
    }
    job_link(a, j);
    int rc = weft__cores_request_ex(a->r->cores, cpus, gpus, NULL, agent_grant, j);
    if (rc)
        job_fail(j, WEFT_ETASK,
                 rc == WEFT_ENOMEM ? "out of memory while starting it" : "more cores than this rank has");
}

static void agent_cancel(agent_t *a, uint64_t ticket, uint64_t grace_ns)
{
    pthread_mutex_lock(&a->lock);
    job_t *j = a->jobs;
    while (j && j->ticket != ticket)
        j = j->jnext;
    if (j)
        atomic_store(&j->canceled, 1);
    pthread_mutex_unlock(&a->lock);
    /* (a command: the executor ends it and calls cmd_done; j is looked up
     * there by its ud, which stays valid until then) */
    if (j && a->f->tasks[j->ti].tmpl->kind != WF_KERNEL)
        weft__procs_cancel(weft__proc_svc_procs(a->r->svc), j, grace_ns);
}

static void agent_stop(agent_t *a, uint64_t grace_ns)
{
    atomic_store(&a->stopping, true);
    weft__proc_svc_stop(a->r->svc, grace_ns); /* waiting grants fail, processes get TERM */
}

static void agent_recv_locked(agent_t *a, const void *msg, size_t len);

/* What rank 0 sends, until the main thread closes the agent (then its
 * run object and threads go away: nothing may touch them). */
static void agent_recv(void *ud, int from, const void *msg, size_t len)
{
    agent_t *a = ud;
    if (from != 0 || len < 1)
        return;
    pthread_mutex_lock(&a->recv_lock);
    if (!a->closed && a->r)
        agent_recv_locked(a, msg, len);
    pthread_mutex_unlock(&a->recv_lock);
}

static void agent_recv_locked(agent_t *a, const void *msg, size_t len)
{
    rbuf_t b = {.d = msg, .len = len, .at = 1};
    switch (((const char *)msg)[0]) {
    case M_START:
        r_str(&b, a->r->dir, sizeof a->r->dir);
        make_dir(a->r->dir);
        break;
    case M_RUN: agent_run(a, &b); break;
    case M_CANCEL: {
        uint64_t ticket = r_u64(&b), grace = r_u64(&b);
        if (!b.bad)
            agent_cancel(a, ticket, grace);
        break;
    }
    case M_STOP: {
        /* the workflow's grace at least: under mpirun, rank 0 sees mpirun's
         * SIGINT and then its SIGTERM, a second signal that would mean
         * "kill at once"; every rank gets mpirun's signals itself, and its
         * commands get TERM and their grace as on one machine */
        uint64_t grace = r_u64(&b), own = weft__flow_grace_ns(a->f);
        agent_stop(a, grace > own ? grace : own);
        break;
    }
    case M_BYE: {
        uint64_t v = r_u64(&b);
        if (v >> 32)
            atomic_store(&a->no_finalize, true);
        wake_main(a, (int)(uint32_t)v);
        break;
    }
    default: break;
    }
}

/* How long the next tasks from rank 0 may take to be noticed: as long as
 * what waits here beyond what runs takes. */
static uint64_t agent_calm(void *ud)
{
    agent_t *a = ud;
    pthread_mutex_lock(&a->lock);
    int slots = a->nk > 0 ? a->nk : 1;
    double calm = a->njobs > slots ? (double)(a->njobs - slots) / slots * a->mean_ns : 0;
    pthread_mutex_unlock(&a->lock);
    return (uint64_t)calm;
}

static void agent_lost(void *ud, int rank, double silent_s)
{
    agent_t *a = ud;
    (void)rank;
    a->lost_s = silent_s;
    atomic_store(&a->no_finalize, true);
    atomic_store(&a->owner_lost, true);
    wake_main(a, 1);
}

static int hello(agent_t *a, bool ok, const char *why)
{
    int slots = 0, gpus = 0;
    if (ok) {
        slots = weft__cores_slots(a->r->cores);
        gpus = a->r->ngpus;
    }
    wbuf_t b;
    w_init(&b, M_HELLO);
    w_i32(&b, ok);
    w_i32(&b, slots);
    w_i32(&b, gpus);
    w_u64(&b, ok ? a->f->ntasks : 0);
    w_u64(&b, ok ? fingerprint(a->f) : 0);
    w_str(&b, a->l->host);
    w_str(&b, why);
    return w_send(a->l, 0, &b);
}

int weft__cluster_agent(weft__link_t *l, weft__flow_t *f, const char *load_err, int stop_fd, bool *finalize)
{
    agent_t a = {.l = l, .f = f, .efd = eventfd(0, EFD_CLOEXEC), .code = -1};
    pthread_mutex_init(&a.lock, NULL);
    pthread_mutex_init(&a.recv_lock, NULL);
    pthread_cond_init(&a.kcond, NULL);
    char err[1024] = "";
    int rc = a.efd < 0 ? WEFT_ESYS : 0;
    bool ok = f && !rc;
    if (ok && (rc = weft__wf_agent_setup(f, &a.r, err, sizeof err)) != 0)
        ok = false;
    if (ok) { /* captured output waits in a log of its own until it is sent */
        snprintf(a.scratch, sizeof a.scratch, "%s/weft-rank%d-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                 l->rank);
        char log[PATH_MAX + 16];
        if (!mkdtemp(a.scratch)) {
            snprintf(err, sizeof err, "cannot make a folder for its output under %s: %s",
                     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(errno));
            a.scratch[0] = '\0';
            ok = false;
        } else if (snprintf(log, sizeof log, "%s/output.log", a.scratch), weft__outlog_create(log, &a.r->outlog) != 0) {
            snprintf(err, sizeof err, "out of memory");
            ok = false;
        }
    }
    a.nk = ok ? weft__cores_slots(a.r->cores) : 0;
    a.kthreads = a.nk ? weft__calloc((size_t)a.nk, sizeof *a.kthreads) : NULL;
    int started = 0;
    for (; ok && started < a.nk && a.kthreads; started++)
        if (pthread_create(&a.kthreads[started], NULL, kernel_thread, &a) != 0)
            break;
    if (ok && started < a.nk) {
        snprintf(err, sizeof err, "cannot start its threads");
        ok = false;
    }
    l->calm_ns = agent_calm;
    if (a.efd >= 0 && l->listen(l, agent_recv, agent_lost, &a) == 0) {
        hello(&a, ok, ok ? "" : f ? err : load_err ? load_err : "cannot load the workflow");
        /* until rank 0 says it is over, is lost, or a signal */
        for (;;) {
            struct pollfd p[2] = {{.fd = a.efd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[0].revents & POLLIN)
                break;
            if (p[1].revents & POLLIN) {
                int none = -1;
                atomic_compare_exchange_strong(&a.code, &none, 143);
                break;
            }
        }
    } else {
        atomic_store(&a.code, 2);
    }
    pthread_mutex_lock(&a.recv_lock); /* no message is handled from here on */
    a.closed = true;
    pthread_mutex_unlock(&a.recv_lock);
    int code = atomic_load(&a.code);
    bool owner_lost = atomic_load(&a.owner_lost);
    if (owner_lost)
        fprintf(stderr, "weft: rank %d (%s): rank 0 is lost (no word from it for %.1f s); stopping what runs here\n",
                l->rank, l->host, a.lost_s);
    if (a.r && (owner_lost || code == 143))
        agent_stop(&a, code == 143 ? weft__flow_grace_ns(f) : 0);
    /* the kernels end (told to stop), then every process is reaped */
    pthread_mutex_lock(&a.lock);
    a.kstop = true;
    atomic_store(&a.stopping, true);
    for (job_t *j = a.jobs; j; j = j->jnext)
        atomic_store(&j->canceled, 1);
    pthread_cond_broadcast(&a.kcond);
    pthread_mutex_unlock(&a.lock);
    for (int i = 0; i < started; i++)
        pthread_join(a.kthreads[i], NULL);
    /* (waits for the processes: after a signal, TERM then KILL after the
     * grace, as agent_stop asked; otherwise none should be left, and any
     * is killed at once) */
    weft__wf_agent_teardown(a.r);
    for (job_t *j = a.kq_head, *n; j; j = n) { /* kernels never started */
        n = j->next;
        weft__free(j);
    }
    weft__free(a.kthreads);
    if (a.scratch[0]) {
        char log[PATH_MAX + 16];
        snprintf(log, sizeof log, "%s/output.log", a.scratch);
        unlink(log);
        rmdir(a.scratch);
    }
    l->quiet(l); /* (the results of the teardown went out first) */
    if (a.efd >= 0)
        close(a.efd);
    pthread_mutex_destroy(&a.recv_lock);
    pthread_mutex_destroy(&a.lock);
    pthread_cond_destroy(&a.kcond);
    *finalize = !atomic_load(&a.no_finalize);
    return ok ? code : 2;
}
