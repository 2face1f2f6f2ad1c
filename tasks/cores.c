/* Admission and placement of multi-core tasks: a budget of slots (cores or
 * PUs), one FIFO queue of waiters, and the choice of the k free slots that
 * lie closest together (see tasks/tasks.h for the contract). */
#include "tasks/tasks.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "weft/runtime.h"

typedef struct slot {
    int l3;              /* L3 domain, for closeness */
    weft__cpuset_t *set; /* the cpus this slot stands for (shared per core/PU) */
} slot_t;

struct weft__cores {
    pthread_mutex_t lock;
    int nslots, nfree;
    int ngpus;
    uint64_t gfree; /* bit n: GPU n is free */
    int pin;
    bool stopped;
    slot_t *slots;
    unsigned char *busy;  /* per slot */
    weft__cpuset_t *sets; /* one per distinct core or PU */
    weft__cpuset_t all;
    weft__lease_t *qhead, *qtail;
};

int weft__cores_create(weft__topo_t *topo, int nslots, int pin, weft__cores_t **out)
{
    if (!topo || !out || nslots < 0 || nslots > WEFT_MAX_CPUS ||
        (pin != WEFT_PIN_NONE && pin != WEFT_PIN_CORE && pin != WEFT_PIN_PU))
        return WEFT_EINVAL;
    int units = pin == WEFT_PIN_PU ? topo->npus : topo->ncores;
    if (units < 1)
        return WEFT_EINVAL;
    if (nslots == 0)
        nslots = units;
    weft__cores_t *c = weft__calloc(1, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    c->slots = weft__calloc((size_t)nslots, sizeof *c->slots);
    c->busy = weft__calloc((size_t)nslots, 1);
    c->sets = weft__calloc((size_t)units, sizeof *c->sets);
    if (!c->slots || !c->busy || !c->sets) {
        weft__cores_destroy(c);
        return WEFT_ENOMEM;
    }
    /* One cpuset per core (all its PUs) or per PU, in the topology's
     * logical order, so that neighbouring slots are neighbouring cores. */
    int u = 0;
    for (int i = 0; i < topo->ncores; i++) {
        const weft__topo_core_t *core = &topo->cores[i];
        for (int j = 0; j < core->npus; j++) {
            int pu = topo->pus[core->first_pu + j];
            weft__cpuset_set(&c->all, pu);
            weft__cpuset_set(&c->sets[pin == WEFT_PIN_PU ? u + j : u], pu);
        }
        u += pin == WEFT_PIN_PU ? core->npus : 1;
    }
    for (int s = 0, core = 0, pu = 0; s < nslots; s++) {
        int unit = s % units;
        if (pin == WEFT_PIN_PU) {
            /* find the core of PU number `unit` */
            for (core = 0, pu = 0; pu + topo->cores[core].npus <= unit; core++)
                pu += topo->cores[core].npus;
        } else {
            core = unit;
        }
        c->slots[s].l3 = topo->cores[core].l3;
        c->slots[s].set = &c->sets[unit];
    }
    c->nslots = c->nfree = nslots;
    c->pin = pin;
    weft__lock_init(&c->lock);
    *out = c;
    return 0;
}

void weft__cores_destroy(weft__cores_t *c)
{
    if (!c)
        return;
    if (c->nslots)
        pthread_mutex_destroy(&c->lock);
    weft__free(c->slots);
    weft__free(c->busy);
    weft__free(c->sets);
    weft__free(c);
}

int weft__cores_slots(const weft__cores_t *c)
{
    return c->nslots;
}

const weft__cpuset_t *weft__cores_all(const weft__cores_t *c)
{
    return &c->all;
}

/* The k free slots closest together: over every stretch [i, j] of slots
 * holding exactly k free ones (starting and ending on a free one), the one
 * crossing the fewest L3 domains, then the shortest, then the first. */
static void take(weft__cores_t *c, weft__lease_t *l, int n, int s)
{
    c->busy[s] = 1;
    l->slots[n] = s;
}

/* The slots asked for by weft__cores_request_near, when all are free. */
static bool take_near(weft__cores_t *c, weft__lease_t *l)
{
    for (int n = 0; n < l->k; n++) {
        int s = l->slots[n];
        if (s < 0 || s >= c->nslots || c->busy[s])
            return false;
        for (int m = 0; m < n; m++)
            if (l->slots[m] == s)
                return false;
    }
    for (int n = 0; n < l->k; n++)
        take(c, l, n, l->slots[n]);
    c->nfree -= l->k;
    return true;
}

static void choose(weft__cores_t *c, weft__lease_t *l)
{
    if (take_near(c, l))
        return;
    int k = l->k, best_i = -1;
    long best = LONG_MAX;
    int i = 0, j = -1, nfree = 0;
    while (i < c->nslots) {
        while (i < c->nslots && c->busy[i])
            i++;
        while (nfree < k && j + 1 < c->nslots) {
            j++;
            nfree += !c->busy[j];
        }
        if (i >= c->nslots || nfree < k)
            break;
        int domains = 1;
        for (int s = i + 1; s <= j; s++)
            domains += c->slots[s].l3 != c->slots[s - 1].l3;
        long cost = (long)domains * (c->nslots + 1) + (j - i);
        if (cost < best) {
            best = cost;
            best_i = i;
        }
        nfree -= !c->busy[i];
        i++;
    }
    int n = 0;
    for (int s = best_i; n < k; s++)
        if (!c->busy[s])
            take(c, l, n++, s);
    c->nfree -= k;
}

/* Takes the waiters that can be granted off the queue (lock held); returns
 * them as a list to call once the lock is dropped. In queue order, each
 * waiter that does not fit holds back what is free of what it asks for,
 * so a later one is granted only from the rest: with cores alone this is
 * strict FIFO; a task waiting for a GPU holds back its cores, and CPU-only
 * tasks behind it still use the other cores. */
static weft__lease_t *admit(weft__cores_t *c)
{
    weft__lease_t *granted = NULL, **tail = &granted;
    int free_k = c->nfree, free_g = __builtin_popcountll(c->gfree);
    weft__lease_t **at = &c->qhead, *prev = NULL;
    while (*at && free_k > 0) { /* every waiter asks for a core */
        weft__lease_t *l = *at;
        if (l->k > free_k || l->g > free_g) {
            free_k -= l->k < free_k ? l->k : free_k;
            free_g -= l->g < free_g ? l->g : free_g;
            prev = l;
            at = &l->next;
            continue;
        }
        *at = l->next;
        if (c->qtail == l)
            c->qtail = prev;
        choose(c, l);
        free_k -= l->k;
        free_g -= l->g;
        l->gpus = 0;
        for (int n = 0; n < l->g; n++) {
            uint64_t low = c->gfree & -c->gfree;
            l->gpus |= low;
            c->gfree &= ~low;
        }
        l->next = NULL;
        *tail = l;
        tail = &l->next;
    }
    return granted;
}

/* Grants the list, with no lock held (the slots' cpusets never change, so
 * a lease's set is made here rather than under the lock). */
static void call(const weft__cores_t *c, weft__lease_t *list, int status)
{
    while (list) {
        weft__lease_t *n = list->next;
        list->next = NULL;
        memset(&list->set, 0, sizeof list->set);
        for (int i = 0; c->pin != WEFT_PIN_NONE && i < list->k; i++)
            for (size_t w = 0; w < sizeof list->set.bits / sizeof list->set.bits[0]; w++)
                list->set.bits[w] |= c->slots[list->slots[i]].set->bits[w];
        list->grant(list->ud, list, status);
        list = n;
    }
}

int weft__cores_request(weft__cores_t *c, int k, weft__cores_grant_fn grant, void *ud)
{
    return weft__cores_request_near(c, k, NULL, grant, ud);
}

int weft__cores_request_near(weft__cores_t *c, int k, const int *near, weft__cores_grant_fn grant, void *ud)
{
    return weft__cores_request_ex(c, k, 0, near, grant, ud);
}

int weft__cores_set_gpus(weft__cores_t *c, int n)
{
    if (!c || n < 0 || n > 64)
        return WEFT_EINVAL;
    pthread_mutex_lock(&c->lock);
    c->ngpus = n;
    c->gfree = n == 64 ? ~0ull : (1ull << n) - 1;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int weft__cores_gpus(const weft__cores_t *c)
{
    return c->ngpus;
}

int weft__cores_request_ex(weft__cores_t *c, int k, int g, const int *near, weft__cores_grant_fn grant, void *ud)
{
    if (!c || !grant || k < 1 || k > c->nslots || g < 0 || g > c->ngpus)
        return WEFT_EINVAL;
    weft__lease_t *l = weft__malloc(sizeof *l + (size_t)k * sizeof l->slots[0]);
    if (!l)
        return WEFT_ENOMEM;
    for (int n = 0; n < k; n++)
        l->slots[n] = near ? near[n] : -1; /* the wish, until granted */
    l->next = NULL;
    l->grant = grant;
    l->ud = ud;
    l->k = k;
    l->g = g;
    l->gpus = 0;
    pthread_mutex_lock(&c->lock);
    if (c->stopped) {
        pthread_mutex_unlock(&c->lock);
        l->slots[0] = -1; /* holds nothing */
        l->k = l->g = 0;
        call(c, l, WEFT_ECANCELED);
        return 0;
    }
    if (c->qtail)
        c->qtail->next = l;
    else
        c->qhead = l;
    c->qtail = l;
    weft__lease_t *granted = admit(c);
    pthread_mutex_unlock(&c->lock);
    call(c, granted, 0);
    return 0;
}

void weft__cores_release(weft__cores_t *c, weft__lease_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < l->k; i++)
        c->busy[l->slots[i]] = 0;
    c->nfree += l->k;
    c->gfree |= l->gpus;
    weft__lease_t *granted = c->stopped ? NULL : admit(c);
    pthread_mutex_unlock(&c->lock);
    weft__free(l);
    call(c, granted, 0);
}

void weft__cores_stop(weft__cores_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopped = true;
    weft__lease_t *q = c->qhead;
    c->qhead = c->qtail = NULL;
    for (weft__lease_t *l = q; l; l = l->next)
        l->k = l->g = 0; /* they hold no slot */
    pthread_mutex_unlock(&c->lock);
    call(c, q, WEFT_ECANCELED);
}

/* ---- waiting for a grant on the calling thread ----------------------------- */

typedef struct acquire_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    weft__lease_t *lease;
} acquire_wait_t;

static void acquire_grant(void *ud, weft__lease_t *lease, int status)
{
    acquire_wait_t *a = ud;
    pthread_mutex_lock(&a->lock);
    a->done = true;
    a->status = status;
    a->lease = lease;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

int weft__cores_acquire(weft__cores_t *c, int k, int g, const int *near, weft__lease_t **out)
{
    acquire_wait_t a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, NULL};
    int rc = weft__cores_request_ex(c, k, g, near, acquire_grant, &a);
    if (rc)
        return rc;
    pthread_mutex_lock(&a.lock);
    while (!a.done)
        pthread_cond_wait(&a.cond, &a.lock);
    pthread_mutex_unlock(&a.lock);
    if (a.status != 0) {
        weft__cores_release(c, a.lease);
        return a.status;
    }
    *out = a.lease;
    return 0;
}
