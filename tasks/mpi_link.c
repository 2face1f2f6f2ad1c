/* The link between the ranks of one `weft run` over MPI (the engine is
 * workloads/workflow/cluster.c; this is only how its messages travel).
 *
 * MPI is initialised with MPI_THREAD_SERIALIZED and, once the link
 * listens, called from the link's own thread only: it receives whatever
 * has come (MPI_Iprobe, then MPI_Recv), sends what the other threads
 * queued (one MPI message per rank and round, holding every record
 * queued for it: a record is a 4-byte length and its bytes), and keeps
 * watch: each rank tells its peers it is alive every HEARTBEAT_NS it has
 * said nothing else, and a peer silent for longer than the timeout is
 * lost (the engine is told; its queue is dropped). Rank 0's peers are all
 * the others; every other rank's is rank 0.
 *
 * The thread polls: after a round that moved something it looks again at
 * once; when idle it naps, each nap twice the last up to 2 ms, and a round
 * that moved something halves it (down to 50 us): messages that come every
 * so often are met by naps about that long, and a rank waiting for long
 * tasks costs next to no CPU. Within 5 ms of sending something, though, an
 * answer is likely (the results of short tasks, the next tasks for a rank
 * that just sent results): naps stay at 100 us at most, or the two ends
 * would take turns sleeping through each other's answers — unless the
 * engine says (calm_ns) that every rank has work queued for longer: then
 * up to half of that (rank 0 waiting on a stream of 1 ms processes naps
 * milliseconds, not a hundred microseconds). A record queued wakes it at
 * once. */
#include "tasks/mpi_link.h"

#include <errno.h>
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAG 7301
#define HEARTBEAT_NS 250000000ull
#define NAP_FIRST_NS 50000   /* the first nap after a round that moved something */
#define NAP_MAX_NS 2000000   /* the longest */
#define NAP_ANSWER_NS 100000 /* the longest while an answer is likely: */
#define ANSWER_NS 5000000    /* within this of sending something */

typedef struct outbox {
    char *buf;
    size_t len, cap;
} outbox_t;

typedef struct pending {
    struct pending *next;
    MPI_Request req;
    char *buf;
    int to;
} pending_t;

typedef struct peer {
    bool watched, lost;
    uint64_t heard_ns, said_ns;
} peer_t;

typedef struct mpilink {
    weft_flow_link_t link; /* first: the engine's view */
    MPI_Comm comm;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    outbox_t *out; /* per rank, under lock */
    bool queued;   /* some outbox has records (under lock) */
    bool closing;  /* under lock */
    pthread_t thread;
    bool started;
    peer_t *peers; /* the thread's */
    pending_t *pending;
    uint64_t timeout_ns;
    weft_flow_link_recv_fn recv;
    weft_flow_link_lost_fn lost;
    void *ud;
    char *rbuf;
    size_t rcap;
    int since_flush; /* records handled since the last send */
} mpilink_t;

/* Grows *buf (of *cap bytes) to hold need: 0, or -1 (no memory; as it was). */
static int grow(char **buf, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : first;
    while (cap2 < need)
        cap2 *= 2;
    char *b = realloc(*buf, cap2);
    if (!b)
        return -1;
    *buf = b;
    *cap = cap2;
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int link_send(weft_flow_link_t *l, int to, const void *msg, size_t len)
{
    mpilink_t *m = (mpilink_t *)l;
    if (to < 0 || to >= l->size || to == l->rank || len > UINT32_MAX)
        return WEFT_EINVAL;
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    outbox_t *o = &m->out[to];
    if (m->closing) {
        rc = WEFT_ESTATE;
    } else if (grow(&o->buf, &o->cap, o->len + 4 + len, 4096)) {
        rc = WEFT_ENOMEM;
    } else {
        uint32_t n = (uint32_t)len;
        memcpy(o->buf + o->len, &n, 4);
        memcpy(o->buf + o->len + 4, msg, len);
        o->len += 4 + len;
        if (!m->queued) {
            m->queued = true;
            pthread_cond_signal(&m->cond);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static bool send_queued(mpilink_t *m, uint64_t now);

/* Records handed to recv between two sends: what the handlers queue
 * meanwhile (the next tasks, their results) goes out while the rest of a
 * big message is handled, so that the two ends work at once instead of
 * taking turns. */
#define FLUSH_EVERY 32

/* Everything that has arrived, handed to recv record by record. Returns
 * whether something came. */
static bool receive(mpilink_t *m, uint64_t now)
{
    bool any = false;
    for (int k = 0; k < 256; k++) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG, m->comm, &flag, &st) != MPI_SUCCESS || !flag)
            break;
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        if (grow(&m->rbuf, &m->rcap, (size_t)n + 1, 65536))
            break; /* (no memory: it waits there) */
        int from = st.MPI_SOURCE;
        if (MPI_Recv(m->rbuf, n, MPI_BYTE, from, TAG, m->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            break;
        any = true;
        if (from < 0 || from >= m->link.size || m->peers[from].lost)
            continue;
        m->peers[from].heard_ns = now;
        for (size_t at = 0; at + 4 <= (size_t)n;) {
            uint32_t len;
            memcpy(&len, m->rbuf + at, 4);
            if (at + 4 + len > (size_t)n)
                break;
            m->recv(m->ud, from, m->rbuf + at + 4, len);
            at += 4 + len;
            if (++m->since_flush >= FLUSH_EVERY) {
                m->since_flush = 0;
                send_queued(m, now);
            }
        }
    }
    return any;
}

/* Sends what is queued, and an empty message to each watched peer that
 * has heard nothing from this rank for HEARTBEAT_NS. */
static bool send_queued(mpilink_t *m, uint64_t now)
{
    int size = m->link.size;
    bool any = false;
    pthread_mutex_lock(&m->lock);
    bool queued = m->queued;
    m->queued = false;
    pthread_mutex_unlock(&m->lock);
    for (int to = 0; to < size; to++) {
        peer_t *p = &m->peers[to];
        char *buf = NULL;
        size_t len = 0;
        if (queued) {
            pthread_mutex_lock(&m->lock);
            outbox_t *o = &m->out[to];
            if (o->len) {
                buf = o->buf;
                len = o->len;
                o->buf = NULL;
                o->len = o->cap = 0;
            }
            pthread_mutex_unlock(&m->lock);
        }
        if (p->lost) {
            free(buf);
            continue;
        }
        if (!buf && !(p->watched && now - p->said_ns >= HEARTBEAT_NS))
            continue;
        pending_t *q = malloc(sizeof *q);
        if (!q) {
            free(buf);
            continue;
        }
        q->buf = buf;
        q->to = to;
        if (MPI_Isend(buf, (int)len, MPI_BYTE, to, TAG, m->comm, &q->req) != MPI_SUCCESS) {
            free(buf);
            free(q);
            continue;
        }
        q->next = m->pending;
        m->pending = q;
        p->said_ns = now;
        any |= buf != NULL;
    }
    /* the sends that have gone */
    for (pending_t **pp = &m->pending; *pp;) {
        pending_t *q = *pp;
        int done = 0;
        /* one to a lost peer may never complete: its buffer stays until
         * the link closes */
        if (!m->peers[q->to].lost)
            MPI_Test(&q->req, &done, MPI_STATUS_IGNORE);
        if (done) {
            free(q->buf);
            *pp = q->next;
            free(q);
        } else {
            pp = &q->next;
        }
    }
    return any;
}

static void watch(mpilink_t *m, uint64_t now)
{
    for (int r = 0; r < m->link.size; r++) {
        peer_t *p = &m->peers[r];
        if (!p->watched || p->lost || now - p->heard_ns <= m->timeout_ns)
            continue;
        p->lost = true;
        pthread_mutex_lock(&m->lock);
        free(m->out[r].buf);
        m->out[r] = (outbox_t){0};
        pthread_mutex_unlock(&m->lock);
        m->lost(m->ud, r, (double)(now - p->heard_ns) / 1e9);
    }
}

static void *loop(void *arg)
{
    mpilink_t *m = arg;
    uint64_t nap_ns = NAP_FIRST_NS;
    uint64_t start = now_ns(), closing_since = 0, sent_ns = 0;
    for (int r = 0; r < m->link.size; r++)
        m->peers[r].heard_ns = m->peers[r].said_ns = start;
    for (;;) {
        uint64_t now = now_ns();
        bool moved = receive(m, now);
        if (send_queued(m, now)) {
            moved = true;
            sent_ns = now;
        }
        watch(m, now);
        pthread_mutex_lock(&m->lock);
        bool closing = m->closing && !m->queued;
        pthread_mutex_unlock(&m->lock);
        if (closing) {
            /* done when every send has gone to its (live) peer; what a
             * peer does not take is not waited for past the timeout */
            bool left = false;
            for (pending_t *q = m->pending; q && !left; q = q->next)
                left = !m->peers[q->to].lost;
            if (!closing_since)
                closing_since = now;
            if (!left || now - closing_since > m->timeout_ns)
                break;
        }
        if (moved) {
            /* halved, not reset: messages that come every so often are
             * met by naps about that long, not by many short ones */
            nap_ns = nap_ns / 2 > NAP_FIRST_NS ? nap_ns / 2 : NAP_FIRST_NS;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        /* while an answer is likely, short naps — unless the engine says
         * everyone has work for longer (then half of that, at most) */
        uint64_t calm = m->link.calm_ns ? m->link.calm_ns(m->ud) / 2 : 0;
        uint64_t most = now - sent_ns >= ANSWER_NS ? NAP_MAX_NS : calm > NAP_ANSWER_NS ? calm : NAP_ANSWER_NS;
        if (nap_ns > most)
            nap_ns = most;
        uint64_t t = (uint64_t)until.tv_nsec + nap_ns;
        until.tv_sec += (time_t)(t / 1000000000ull);
        until.tv_nsec = (long)(t % 1000000000ull);
        pthread_mutex_lock(&m->lock);
        if (!m->queued && (!m->closing || m->pending))
            pthread_cond_timedwait(&m->cond, &m->lock, &until);
        pthread_mutex_unlock(&m->lock);
        nap_ns = nap_ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : nap_ns * 2;
    }
    return NULL;
}

static int link_listen(weft_flow_link_t *l, weft_flow_link_recv_fn recv, weft_flow_link_lost_fn lost, void *ud)
{
    mpilink_t *m = (mpilink_t *)l;
    if (m->started || !recv || !lost)
        return WEFT_ESTATE;
    m->recv = recv;
    m->lost = lost;
    m->ud = ud;
    if (pthread_create(&m->thread, NULL, loop, m) != 0)
        return WEFT_ESYS;
    m->started = true;
    return 0;
}

/* Sends what is queued (waiting at most the timeout for a slow peer) and
 * stops the thread: nothing calls back after. */
static void link_quiet(weft_flow_link_t *l)
{
    mpilink_t *m = (mpilink_t *)l;
    pthread_mutex_lock(&m->lock);
    m->closing = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->started)
        pthread_join(m->thread, NULL);
    m->started = false;
}

int weft__mpilink_open_on(const void *comm, double timeout_s, weft_flow_link_t **out, char *err, size_t errlen)
{
    mpilink_t *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    if (MPI_Comm_dup(*(const MPI_Comm *)comm, &m->comm) != MPI_SUCCESS) {
        snprintf(err, errlen, "cannot duplicate the MPI communicator");
        free(m);
        return WEFT_ESYS;
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->link.rank);
    MPI_Comm_size(m->comm, &m->link.size);
    if (gethostname(m->link.host, sizeof m->link.host) != 0)
        snprintf(m->link.host, sizeof m->link.host, "?");
    m->link.host[sizeof m->link.host - 1] = '\0';
    m->link.send = link_send;
    m->link.listen = link_listen;
    m->link.quiet = link_quiet;
    m->timeout_ns = (uint64_t)(timeout_s * 1e9);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->out = calloc((size_t)m->link.size, sizeof *m->out);
    m->peers = calloc((size_t)m->link.size, sizeof *m->peers);
    if (!m->out || !m->peers) {
        snprintf(err, errlen, "out of memory");
        weft__mpilink_close(&m->link, false);
        return WEFT_ENOMEM;
    }
    for (int r = 0; r < m->link.size; r++)
        m->peers[r].watched = r != m->link.rank && (m->link.rank == 0 || r == 0);
    *out = &m->link;
    return 0;
}

int weft__mpilink_open(double timeout_s, weft_flow_link_t **out, char *err, size_t errlen)
{
    int provided = 0, inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "cannot initialise MPI");
        return WEFT_ESYS;
    }
    if (inited)
        MPI_Query_thread(&provided);
    if (provided < MPI_THREAD_SERIALIZED) {
        snprintf(err, errlen, "this MPI gives MPI_THREAD_%s; weft needs MPI_THREAD_SERIALIZED or MULTIPLE",
                 provided == MPI_THREAD_FUNNELED ? "FUNNELED" : "SINGLE");
        if (!inited)
            MPI_Finalize();
        return WEFT_ENOTSUP;
    }
    MPI_Comm world = MPI_COMM_WORLD;
    int rc = weft__mpilink_open_on(&world, timeout_s, out, err, errlen);
    if (rc && !inited)
        MPI_Finalize();
    return rc;
}

void weft__mpilink_close(weft_flow_link_t *l, bool finalize)
{
    if (!l)
        return;
    mpilink_t *m = (mpilink_t *)l;
    link_quiet(l);
    bool lost = false;
    for (int r = 0; m->peers && r < l->size; r++)
        lost |= m->peers[r].lost;
    for (pending_t *q = m->pending, *n; q; q = n) {
        n = q->next;
        free(q->buf);
        free(q);
    }
    for (int r = 0; m->out && r < l->size; r++)
        free(m->out[r].buf);
    free(m->out);
    free(m->peers);
    free(m->rbuf);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    MPI_Comm_free(&m->comm);
    free(m);
    /* with a lost rank MPI_Finalize may wait for it forever: the process
     * ends without it (mpirun --enable-recovery lets the others end) */
    if (finalize && !lost)
        MPI_Finalize();
}
