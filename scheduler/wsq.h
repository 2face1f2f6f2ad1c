/* scheduler/wsq — the Chase–Lev work-stealing deque.
 *
 * D. Chase and Y. Lev, "Dynamic circular work-stealing deque", SPAA 2005;
 * with the C11 memory orders of N. M. Lê, A. Pop, A. Cohen and
 * F. Zappa Nardelli, "Correct and efficient work-stealing for weak memory
 * models", PPoPP 2013. Where the paper uses a standalone seq_cst fence we use
 * seq_cst operations on the variables themselves: on x86 this compiles to the
 * same instructions, and ThreadSanitizer understands it (it does not model
 * fences).
 *
 * The owner pushes and pops at the bottom (LIFO); thieves take from the top
 * (FIFO). Buffers grow by doubling; old buffers are kept until the deque is
 * destroyed because a thief may still be reading one. */
#ifndef WEFT_SCHEDULER_WSQ_H
#define WEFT_SCHEDULER_WSQ_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct weft__wsq_buf {
    int64_t mask;               /* capacity - 1 */
    struct weft__wsq_buf *prev; /* retired, smaller buffers */
    _Atomic(void *) slot[];
} weft__wsq_buf_t;

typedef struct weft__wsq {
    /* Thieves hammer top; the owner mostly touches bottom: separate lines. */
    alignas(WEFT_CACHE_LINE) _Atomic int64_t top;
    alignas(WEFT_CACHE_LINE) _Atomic int64_t bottom;
    _Atomic(weft__wsq_buf_t *) buf;
} weft__wsq_t;

enum { WEFT_WSQ_EMPTY = 0, WEFT_WSQ_OK = 1, WEFT_WSQ_ABORT = 2 };

/* Initial capacity is rounded up to a power of two. Errors: WEFT_ENOMEM. */
int weft__wsq_init(weft__wsq_t *q, size_t capacity);
void weft__wsq_fini(weft__wsq_t *q);
/* Doubles the buffer (owner only); NULL when out of memory. */
weft__wsq_buf_t *weft__wsq_grow(weft__wsq_t *q, weft__wsq_buf_t *a, int64_t b, int64_t t);

/* Owner: push x at the bottom. Returns 0, or WEFT_ENOMEM when the buffer
 * is full and cannot grow (x is then not queued). */
static inline int weft__wsq_push(weft__wsq_t *q, void *x)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
    /* acquire: we must see thieves' progress before deciding to grow. */
    int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
    weft__wsq_buf_t *a = atomic_load_explicit(&q->buf, memory_order_relaxed);
    if (b - t > a->mask) {
        a = weft__wsq_grow(q, a, b, t);
        if (!a)
            return WEFT_ENOMEM;
    }
    atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_relaxed);
    /* release: publishes the slot to a thief that reads bottom. */
    atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
    return 0;
}

/* Owner: pop from the bottom; NULL when empty. */
static inline void *weft__wsq_pop(weft__wsq_t *q)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed) - 1;
    weft__wsq_buf_t *a = atomic_load_explicit(&q->buf, memory_order_relaxed);
    /* seq_cst store then seq_cst load: the store to bottom must be visible
     * to thieves before we read top (the paper's seq_cst fence). */
    atomic_store_explicit(&q->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    if (t > b) { /* empty */
        atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    void *x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
    if (t == b) {
        /* Last element: race the thieves for it through top. */
        if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst, memory_order_relaxed))
            x = NULL;
        atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

/* Thief: take from the top. Returns WEFT_WSQ_OK with *out set,
 * WEFT_WSQ_EMPTY, or WEFT_WSQ_ABORT when it lost a race (retry later). */
static inline int weft__wsq_steal(weft__wsq_t *q, void **out)
{
    /* seq_cst loads of top then bottom: the paper's acquire + fence. */
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_seq_cst);
    if (t >= b)
        return WEFT_WSQ_EMPTY;
    /* acquire: pairs with the release that published a grown buffer. */
    weft__wsq_buf_t *a = atomic_load_explicit(&q->buf, memory_order_acquire);
    void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst, memory_order_relaxed))
        return WEFT_WSQ_ABORT;
    *out = x;
    return WEFT_WSQ_OK;
}

/* Approximate number of queued elements (any thread). */
static inline int64_t weft__wsq_size(weft__wsq_t *q)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    return b > t ? b - t : 0;
}

#endif
