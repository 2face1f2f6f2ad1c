/* Eventcount on a Linux futex (see ecount.h for the protocol). */
#include "scheduler/ecount.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void weft__ecount_init(weft__ecount_t *ec)
{
    atomic_init(&ec->epoch, 0);
    atomic_init(&ec->waiters, 0);
}

uint32_t weft__ecount_prepare(weft__ecount_t *ec)
{
    /* seq_cst RMW: the producer's fence either follows it (and sees us) or
     * precedes it (and our later seq_cst re-check sees the work). */
    atomic_fetch_add_explicit(&ec->waiters, 1, memory_order_seq_cst);
    return atomic_load_explicit(&ec->epoch, memory_order_seq_cst);
}

void weft__ecount_cancel(weft__ecount_t *ec)
{
    atomic_fetch_sub_explicit(&ec->waiters, 1, memory_order_relaxed);
}

void weft__ecount_commit(weft__ecount_t *ec, uint32_t key)
{
    /* acquire: pairs with the release increment in wake, so that work
     * published before the notify is visible after we wake. */
    while (atomic_load_explicit(&ec->epoch, memory_order_acquire) == key)
        futex_wait(&ec->epoch, key);
    atomic_fetch_sub_explicit(&ec->waiters, 1, memory_order_relaxed);
}

void weft__ecount_wake(weft__ecount_t *ec, int all)
{
    atomic_fetch_add_explicit(&ec->epoch, 1, memory_order_release);
    futex_wake(&ec->epoch, all ? INT_MAX : 1);
}
