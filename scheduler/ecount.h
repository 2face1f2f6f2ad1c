/* scheduler/ecount — an eventcount: lets idle threads sleep on a futex
 * without losing a wake-up, and lets producers skip the system call when
 * nobody sleeps.
 *
 * Sleeper:  key = prepare(); if (work visible) cancel(); else commit(key);
 * Producer: publish work; notify(one or all).
 * prepare() is a seq_cst RMW and notify() starts with a seq_cst fence, so
 * either the producer sees the sleeper counted or the sleeper's re-check
 * (made with seq_cst loads) sees the work. */
#ifndef WEFT_SCHEDULER_ECOUNT_H
#define WEFT_SCHEDULER_ECOUNT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/base.h"

typedef struct weft__ecount {
    alignas(WEFT_CACHE_LINE) _Atomic uint32_t epoch;
    _Atomic uint32_t waiters;
} weft__ecount_t;

void weft__ecount_init(weft__ecount_t *ec);
uint32_t weft__ecount_prepare(weft__ecount_t *ec);
void weft__ecount_cancel(weft__ecount_t *ec);
void weft__ecount_commit(weft__ecount_t *ec, uint32_t key);
/* Slow path of notify: someone sleeps. */
void weft__ecount_wake(weft__ecount_t *ec, int all);

static inline void weft__ecount_notify(weft__ecount_t *ec, int all)
{
    /* seq_cst fence: orders our publication of work before reading
     * waiters (Dekker with prepare's seq_cst RMW). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ec->waiters, memory_order_relaxed) != 0)
        weft__ecount_wake(ec, all);
}

#endif
