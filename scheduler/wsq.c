/* The Chase–Lev deque's buffer management (see wsq.h for the algorithm). */
#include "scheduler/wsq.h"

static weft__wsq_buf_t *buf_new(int64_t cap)
{
    weft__wsq_buf_t *a = weft__malloc(sizeof *a + (size_t)cap * sizeof a->slot[0]);
    if (!a)
        return NULL;
    a->mask = cap - 1;
    a->prev = NULL;
    return a;
}

int weft__wsq_init(weft__wsq_t *q, size_t capacity)
{
    int64_t cap = 16;
    while ((size_t)cap < capacity)
        cap *= 2;
    weft__wsq_buf_t *a = buf_new(cap);
    if (!a)
        return WEFT_ENOMEM;
    atomic_init(&q->top, 0);
    atomic_init(&q->bottom, 0);
    atomic_init(&q->buf, a);
    return 0;
}

void weft__wsq_fini(weft__wsq_t *q)
{
    weft__wsq_buf_t *a = atomic_load_explicit(&q->buf, memory_order_relaxed);
    while (a) {
        weft__wsq_buf_t *p = a->prev;
        weft__free(a);
        a = p;
    }
    atomic_store_explicit(&q->buf, NULL, memory_order_relaxed);
}

weft__wsq_buf_t *weft__wsq_grow(weft__wsq_t *q, weft__wsq_buf_t *a, int64_t b, int64_t t)
{
    weft__wsq_buf_t *n = buf_new((a->mask + 1) * 2);
    if (!n)
        return NULL;
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(&n->slot[i & n->mask], atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed),
                              memory_order_relaxed);
    n->prev = a; /* a thief may still read the old buffer: keep it */
    /* release: thieves that load buf (acquire) see the copied slots. */
    atomic_store_explicit(&q->buf, n, memory_order_release);
    return n;
}
