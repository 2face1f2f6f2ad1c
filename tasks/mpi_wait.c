/* Tasks that complete on MPI requests (include/weft/mpi.h), libweft-mpi.
 *
 * A task defers its completion (weft_ctx_defer) and hands its requests to
 * one progress thread, which tests every pending group with MPI_Testall
 * and completes a group's task when all of its requests have completed.
 * The thread sleeps while nothing is pending; while something is, it
 * tests the groups over and over, pausing 20 us after a pass that
 * completed nothing (a request in flight costs a little of one core, not
 * a worker). Only public weft API is used: this library links libweft. */
#include "weft/mpi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/error.h"

typedef struct group {
    struct group *next;
    weft_defer_t *defer;
    int n;
    MPI_Request reqs[]; /* n */
} group_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;
    group_t *incoming; /* handed over, not yet taken by the thread */
    size_t pending;    /* handed over and not completed */
} E = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Tests g: -1 not yet, else the code its task completes with. */
static int test_group(group_t *g)
{
    int flag = 0;
    int rc = MPI_Testall(g->n, g->reqs, &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        fprintf(stderr, "weft: an MPI request of a task failed: %.*s\n", len, text);
        return WEFT_ESYS;
    }
    return flag ? 0 : -1;
}

static void *progress(void *arg)
{
    (void)arg;
    group_t *active = NULL, *done = NULL;
    pthread_mutex_lock(&E.lock);
    for (;;) {
        while (!E.incoming && !active && !E.stop)
            pthread_cond_wait(&E.cond, &E.lock);
        if (E.stop && !active && !E.incoming)
            break;
        while (E.incoming) {
            group_t *g = E.incoming;
            E.incoming = g->next;
            g->next = active;
            active = g;
        }
        pthread_mutex_unlock(&E.lock);
        size_t ndone = 0;
        for (group_t **p = &active; *p;) {
            group_t *g = *p;
            int rc = test_group(g);
            if (rc >= 0) {
                *p = g->next;
                g->n = rc; /* its code, from now on */
                g->next = done;
                done = g;
                ndone++;
            } else {
                p = &g->next;
            }
        }
        /* no longer pending before their tasks complete: whoever waited
         * for the tasks finds nothing pending */
        pthread_mutex_lock(&E.lock);
        E.pending -= ndone;
        pthread_mutex_unlock(&E.lock);
        while (done) {
            group_t *g = done;
            done = g->next;
            weft_defer_complete(g->defer, g->n);
            free(g);
        }
        if (!ndone && active) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&E.lock);
    }
    pthread_mutex_unlock(&E.lock);
    return NULL;
}

int weft_ctx_wait_mpi_all(weft_ctx_t *ctx, int n, MPI_Request *reqs)
{
    if (!ctx || !reqs || n < 1)
        return WEFT_EINVAL;
    int init = 0, fin = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return WEFT_ESTATE;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
        return WEFT_ENOTSUP;
    group_t *g = malloc(sizeof *g + (size_t)n * sizeof g->reqs[0]);
    if (!g)
        return WEFT_ENOMEM;
    pthread_mutex_lock(&E.lock);
    if (!E.started) { /* before the task is deferred: a failure leaves it as it was */
        E.stop = false;
        E.started = pthread_create(&E.thread, NULL, progress, NULL) == 0;
    }
    int rc = E.started ? weft_ctx_defer(ctx, &g->defer) : WEFT_ENOMEM;
    if (rc) {
        pthread_mutex_unlock(&E.lock);
        free(g);
        return rc;
    }
    g->n = n;
    memcpy(g->reqs, reqs, (size_t)n * sizeof reqs[0]);
    g->next = E.incoming;
    E.incoming = g;
    E.pending++;
    pthread_cond_signal(&E.cond);
    pthread_mutex_unlock(&E.lock);
    for (int i = 0; i < n; i++)
        reqs[i] = MPI_REQUEST_NULL;
    return 0;
}

int weft_ctx_wait_mpi(weft_ctx_t *ctx, MPI_Request *req)
{
    return weft_ctx_wait_mpi_all(ctx, 1, req);
}

int weft_mpi_shutdown(void)
{
    pthread_mutex_lock(&E.lock);
    if (E.pending) {
        pthread_mutex_unlock(&E.lock);
        return WEFT_EBUSY;
    }
    bool started = E.started;
    E.stop = true;
    E.started = false;
    pthread_cond_signal(&E.cond);
    pthread_mutex_unlock(&E.lock);
    if (started)
        pthread_join(E.thread, NULL);
    return 0;
}
