/* Mutexes for short critical sections taken by many threads at once. */
#include "base/base.h"

void weft__lock_init(pthread_mutex_t *m)
{
    /* An adaptive mutex spins a little before it sleeps: for sections of a
     * few hundred nanoseconds, waiting in the kernel (two futex calls, a
     * context switch) costs far more than the wait itself. */
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}
