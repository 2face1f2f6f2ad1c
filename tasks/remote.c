/* Remote nodes (tasks/tasks.h): where a process task's attempts run when
 * its runtime owns a run over several machines (the workflow engine over
 * MPI ranks). The owner keeps, per node, its cores and GPUs and what it has
 * in flight; a request waits in one FIFO queue until some live node has
 * room for it, and goes to the node with the most room left (a node that
 * finishes sooner has room sooner: work goes where it is taken). Each node
 * may hold twice its cores and GPUs in attempts — those running and as many
 * waiting there for their turn, so that a node starts its next task when
 * one ends without waiting for a message from the owner. When its attempts
 * are short, it may hold up to QUEUED_NS of work per core (by their moving
 * mean time), at most DEPTH_SHORT times its cores: otherwise a round trip
 * to the owner per few tasks would leave it idle most of the time, while
 * more would only keep work from a node that frees up.
 *
 * An attempt sent to a node is a ticket; the node's result comes back
 * through weft__remote_result. A node that is lost ends its tickets with a
 * result that says so (retried elsewhere when the task has retries), and
 * a request that no live node can take any more fails. */
#include "tasks/tasks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define DEPTH 2            /* a node holds at least DEPTH times its cores and GPUs in attempts, */
#define DEPTH_SHORT 256    /* at most DEPTH_SHORT times its cores, */
#define QUEUED_NS 20000000 /* as many as take this long per core (by their moving mean) */

typedef struct rnode {
    char name[96];
    int slots, gpus;
    int used_slots, used_gpus; /* in flight: running or waiting there */
    bool lost;
    uint64_t attempts; /* ended there (results and lost ones) */
    double mean_ns;    /* its attempts' moving mean time (0: none yet) */
} rnode_t;

typedef struct ticket {
    weft__proc_done_fn done; /* NULL: free */
    void *ud;
    int node;
    uint32_t gen;       /* bumped at each use: a stale result is ignored */
    uint32_t next_free; /* in the free list */
} ticket_t;

typedef struct rreq {
    struct rreq *next;
    int cpus, gpus;
    weft__remote_grant_fn grant;
    void *ud;
} rreq_t;

struct weft__remote {
    pthread_mutex_t lock;
    weft__remote_ops_t ops;
    void *ops_ud;
    rnode_t *nodes;
    int nnodes;
    size_t capnodes;
    ticket_t *tickets;
    uint32_t nticket, free_head; /* free_head UINT32_MAX: none */
    size_t capticket;
    rreq_t *qhead, *qtail;
    bool stopped;
};

int weft__remote_create(const weft__remote_ops_t *ops, void *ud, weft__remote_t **out)
{
    if (!ops || !ops->start || !out)
        return WEFT_EINVAL;
    weft__remote_t *rm = weft__calloc(1, sizeof *rm);
    if (!rm)
        return WEFT_ENOMEM;
    pthread_mutex_init(&rm->lock, NULL);
    rm->ops = *ops;
    rm->ops_ud = ud;
    rm->free_head = UINT32_MAX;
    *out = rm;
    return 0;
}

void weft__remote_destroy(weft__remote_t *rm)
{
    if (!rm)
        return;
    for (rreq_t *q = rm->qhead, *n; q; q = n) {
        n = q->next;
        weft__free(q);
    }
    weft__free(rm->nodes);
    weft__free(rm->tickets);
    pthread_mutex_destroy(&rm->lock);
    weft__free(rm);
}

int weft__remote_add_node(weft__remote_t *rm, const char *name, int slots, int gpus)
{
    if (!rm || !name || slots < 1 || gpus < 0)
        return WEFT_EINVAL;
    pthread_mutex_lock(&rm->lock);
    int rc = WEFT__GROW(rm->nodes, rm->capnodes, rm->nnodes + 1, 8) ? WEFT_ENOMEM : rm->nnodes;
    if (rc >= 0) {
        rnode_t *n = &rm->nodes[rm->nnodes++];
        memset(n, 0, sizeof *n);
        snprintf(n->name, sizeof n->name, "%s", name);
        n->slots = slots;
        n->gpus = gpus;
    }
    pthread_mutex_unlock(&rm->lock);
    return rc;
}

int weft__remote_nodes(weft__remote_t *rm)
{
    pthread_mutex_lock(&rm->lock);
    int n = rm->nnodes;
    pthread_mutex_unlock(&rm->lock);
    return n;
}

const char *weft__remote_node_name(weft__remote_t *rm, int node)
{
    return node >= 0 && node < rm->nnodes ? rm->nodes[node].name : "?";
}

void weft__remote_capacity(weft__remote_t *rm, int *slots, int *gpus, int *max_slots, int *max_gpus)
{
    int s = 0, g = 0, ms = 0, mg = 0;
    pthread_mutex_lock(&rm->lock);
    for (int i = 0; i < rm->nnodes; i++) {
        if (rm->nodes[i].lost)
            continue;
        s += rm->nodes[i].slots;
        g += rm->nodes[i].gpus;
        ms = rm->nodes[i].slots > ms ? rm->nodes[i].slots : ms;
        mg = rm->nodes[i].gpus > mg ? rm->nodes[i].gpus : mg;
    }
    pthread_mutex_unlock(&rm->lock);
    if (slots)
        *slots = s;
    if (gpus)
        *gpus = g;
    if (max_slots)
        *max_slots = ms;
    if (max_gpus)
        *max_gpus = mg;
}

/* Whether some live node could ever take cpus + gpus. Under the lock. */
static bool fits_some(const weft__remote_t *rm, int cpus, int gpus)
{
    for (int i = 0; i < rm->nnodes; i++)
        if (!rm->nodes[i].lost && rm->nodes[i].slots >= cpus && rm->nodes[i].gpus >= gpus)
            return true;
    return false;
}

/* The live node with room for cpus + gpus that has the most room left;
 * -1 when none has it now. Under the lock. */
static int place(const weft__remote_t *rm, int cpus, int gpus)
{
    int best = -1, room = -1;
    for (int i = 0; i < rm->nnodes; i++) {
        const rnode_t *n = &rm->nodes[i];
        if (n->lost || n->slots < cpus || n->gpus < gpus)
            continue;
        double by_time = n->mean_ns > 0 ? QUEUED_NS / n->mean_ns : 0;
        int depth = by_time > DEPTH_SHORT ? DEPTH_SHORT : by_time > DEPTH ? (int)by_time : DEPTH;
        int free_s = depth * n->slots - n->used_slots, free_g = DEPTH * n->gpus - n->used_gpus;
        if (free_s < cpus || free_g < gpus)
            continue;
        if (free_s > room) {
            best = i;
            room = free_s;
        }
    }
    return best;
}

/* Grants what the queue's head allows (FIFO: a big request at the head is
 * not overtaken), and fails what no live node can take. The grants are
 * called after the lock is let go. */
static void dispatch(weft__remote_t *rm)
{
    for (;;) {
        pthread_mutex_lock(&rm->lock);
        rreq_t *q = rm->qhead;
        int node = -1, status = 0;
        if (q) {
            if (rm->stopped) {
                status = WEFT_ECANCELED;
            } else if (!fits_some(rm, q->cpus, q->gpus)) {
                status = WEFT_ENOTSUP; /* no live node has that much */
            } else if ((node = place(rm, q->cpus, q->gpus)) >= 0) {
                rm->nodes[node].used_slots += q->cpus;
                rm->nodes[node].used_gpus += q->gpus;
            } else {
                q = NULL; /* waits for room */
            }
            if (q && !(rm->qhead = q->next))
                rm->qtail = NULL;
        }
        pthread_mutex_unlock(&rm->lock);
        if (!q)
            return;
        q->grant(q->ud, node, status);
        weft__free(q);
    }
}

int weft__remote_request(weft__remote_t *rm, int cpus, int gpus, weft__remote_grant_fn grant, void *ud)
{
    if (!rm || cpus < 1 || gpus < 0 || !grant)
        return WEFT_EINVAL;
    rreq_t *q = weft__malloc(sizeof *q);
    if (!q)
        return WEFT_ENOMEM;
    *q = (rreq_t){.cpus = cpus, .gpus = gpus, .grant = grant, .ud = ud};
    pthread_mutex_lock(&rm->lock);
    if (rm->qtail)
        rm->qtail->next = q;
    else
        rm->qhead = q;
    rm->qtail = q;
    pthread_mutex_unlock(&rm->lock);
    dispatch(rm);
    return 0;
}

void weft__remote_release(weft__remote_t *rm, int node, int cpus, int gpus)
{
    pthread_mutex_lock(&rm->lock);
    if (node >= 0 && node < rm->nnodes) {
        rm->nodes[node].used_slots -= cpus;
        rm->nodes[node].used_gpus -= gpus;
    }
    pthread_mutex_unlock(&rm->lock);
    dispatch(rm);
}

int weft__remote_start(weft__remote_t *rm, int node, uint32_t id, int attempt, int cpus, int gpus,
                       weft__proc_done_fn done, void *ud)
{
    if (!rm || !done || node < 0)
        return WEFT_EINVAL;
    pthread_mutex_lock(&rm->lock);
    if (rm->stopped || node >= rm->nnodes || rm->nodes[node].lost) {
        pthread_mutex_unlock(&rm->lock);
        return WEFT_ESTATE;
    }
    uint32_t k = rm->free_head;
    if (k != UINT32_MAX) {
        rm->free_head = rm->tickets[k].next_free;
    } else {
        if (WEFT__GROW(rm->tickets, rm->capticket, rm->nticket + 1, 256)) {
            pthread_mutex_unlock(&rm->lock);
            return WEFT_ENOMEM;
        }
        k = rm->nticket++;
        rm->tickets[k].gen = 0;
    }
    ticket_t *t = &rm->tickets[k];
    t->done = done;
    t->ud = ud;
    t->node = node;
    t->gen++;
    uint64_t ticket = (uint64_t)t->gen << 32 | k;
    pthread_mutex_unlock(&rm->lock);
    /* (a lost node's tickets are ended by weft__remote_node_lost; one
     * lost between the check above and the send ends there too) */
    int rc = rm->ops.start(rm->ops_ud, node, ticket, id, attempt, cpus, gpus);
    if (rc) {
        pthread_mutex_lock(&rm->lock);
        if (t->gen == (uint32_t)(ticket >> 32) && t->done) {
            t->done = NULL;
            t->next_free = rm->free_head;
            rm->free_head = k;
        } else {
            rc = 0; /* ended already (its node was lost): done was called */
        }
        pthread_mutex_unlock(&rm->lock);
    }
    return rc;
}

/* Takes ticket's callback out (NULL: stale or ended). Under the lock. */
static weft__proc_done_fn take(weft__remote_t *rm, uint64_t ticket, void **ud)
{
    uint32_t k = (uint32_t)ticket;
    if (k >= rm->nticket || rm->tickets[k].gen != (uint32_t)(ticket >> 32) || !rm->tickets[k].done)
        return NULL;
    ticket_t *t = &rm->tickets[k];
    weft__proc_done_fn done = t->done;
    *ud = t->ud;
    rm->nodes[t->node].attempts++;
    t->done = NULL;
    t->next_free = rm->free_head;
    rm->free_head = k;
    return done;
}

int weft__remote_result(weft__remote_t *rm, uint64_t ticket, const weft__proc_result_t *r)
{
    void *ud = NULL;
    pthread_mutex_lock(&rm->lock);
    uint32_t k = (uint32_t)ticket;
    if (k < rm->nticket && rm->tickets[k].done) {
        rnode_t *n = &rm->nodes[rm->tickets[k].node];
        n->mean_ns = n->mean_ns > 0 ? n->mean_ns + ((double)r->wall_ns - n->mean_ns) / 16 : (double)r->wall_ns;
    }
    weft__proc_done_fn done = take(rm, ticket, &ud);
    pthread_mutex_unlock(&rm->lock);
    if (!done)
        return WEFT_ENOENT;
    done(ud, r);
    return 0;
}

void weft__remote_cancel(weft__remote_t *rm, const void *ud, uint64_t grace_ns)
{
    if (!rm->ops.cancel)
        return;
    /* the tickets of ud, sent a cancel each outside the lock */
    for (uint32_t k = 0;; k++) {
        pthread_mutex_lock(&rm->lock);
        while (k < rm->nticket && !(rm->tickets[k].done && rm->tickets[k].ud == ud))
            k++;
        if (k >= rm->nticket) {
            pthread_mutex_unlock(&rm->lock);
            return;
        }
        uint64_t ticket = (uint64_t)rm->tickets[k].gen << 32 | k;
        int node = rm->tickets[k].node;
        pthread_mutex_unlock(&rm->lock);
        rm->ops.cancel(rm->ops_ud, node, ticket, grace_ns);
    }
}

void weft__remote_stop(weft__remote_t *rm, uint64_t grace_ns)
{
    pthread_mutex_lock(&rm->lock);
    rm->stopped = true;
    pthread_mutex_unlock(&rm->lock);
    dispatch(rm); /* the queue fails with WEFT_ECANCELED */
    if (rm->ops.stop)
        rm->ops.stop(rm->ops_ud, grace_ns);
}

int weft__remote_node_lost(weft__remote_t *rm, int node, const char *why)
{
    int n = 0;
    pthread_mutex_lock(&rm->lock);
    if (node < 0 || node >= rm->nnodes || rm->nodes[node].lost) {
        pthread_mutex_unlock(&rm->lock);
        return 0;
    }
    rm->nodes[node].lost = true;
    pthread_mutex_unlock(&rm->lock);
    weft__proc_result_t res;
    for (uint32_t k = 0;; k++) {
        pthread_mutex_lock(&rm->lock);
        while (k < rm->nticket && !(rm->tickets[k].done && rm->tickets[k].node == node))
            k++;
        void *ud = NULL;
        weft__proc_done_fn done = k < rm->nticket ? take(rm, (uint64_t)rm->tickets[k].gen << 32 | k, &ud) : NULL;
        pthread_mutex_unlock(&rm->lock);
        if (!done)
            break;
        n++;
        memset(&res, 0, sizeof res);
        res.status = WEFT_ETASK;
        res.exit_code = -1;
        res.started = true;
        res.lost = true;
        res.node = rm->nodes[node].name;
        snprintf(res.reason, sizeof res.reason, "lost with %s: %s", rm->nodes[node].name, why);
        done(ud, &res);
    }
    dispatch(rm); /* what only that node could take fails now */
    return n;
}

const char *weft__remote_node_stats(weft__remote_t *rm, int node, uint64_t *attempts, bool *lost)
{
    pthread_mutex_lock(&rm->lock);
    const char *name = node >= 0 && node < rm->nnodes ? rm->nodes[node].name : NULL;
    if (name) {
        *attempts = rm->nodes[node].attempts;
        *lost = rm->nodes[node].lost;
    }
    pthread_mutex_unlock(&rm->lock);
    return name;
}

uint64_t weft__remote_slack_ns(weft__remote_t *rm)
{
    pthread_mutex_lock(&rm->lock);
    double slack = -1;
    bool waiting = rm->qhead != NULL;
    for (int i = 0; i < rm->nnodes && waiting; i++) {
        const rnode_t *n = &rm->nodes[i];
        if (n->lost || n->used_slots == 0)
            continue;
        /* what it holds beyond what runs, in time */
        double queued = n->used_slots > n->slots ? (double)(n->used_slots - n->slots) / n->slots * n->mean_ns : 0;
        if (slack < 0 || queued < slack)
            slack = queued;
    }
    pthread_mutex_unlock(&rm->lock);
    /* nothing waiting to be placed: a result may be what the next tasks
     * wait for (their dependency), so it is taken at once */
    return waiting && slack > 0 ? (uint64_t)slack : 0;
}
