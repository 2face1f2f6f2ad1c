/* Tasks that complete on MPI requests (include/weft/mpi.h), over 2 ranks
 * (mpirun -n 2): before MPI is initialised the call says so; a receive
 * and a send handed to weft complete their tasks, the task after the
 * receive sees the data, and the requests become MPI_REQUEST_NULL;
 * misuse; shutting down while a request is pending is refused, after it
 * is done it works and a later wait starts the progress thread again.
 * Not the testlib runner: a process that initialised MPI must not fork. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>
#include <weft.h>
#include <weft/mpi.h>

static int rank, npass, nfail;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            npass++;                                                                                                   \
        } else {                                                                                                       \
            nfail++;                                                                                                   \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", rank, __FILE__, __LINE__, #cond);                    \
        }                                                                                                              \
    } while (0)

typedef struct msg {
    int value;           /* received into / sent from */
    int got;             /* what the task after the receive saw */
    volatile int rc;     /* the wait call's answer */
    volatile int nulled; /* the request was MPI_REQUEST_NULL after it */
    int peer;
    int send; /* 1: send m->value, 0: receive it */
} msg_t;

static int no_mpi_yet(weft_ctx_t *ctx, void *arg)
{
    msg_t *m = arg;
    MPI_Request r = MPI_REQUEST_NULL;
    m->rc = weft_ctx_wait_mpi(ctx, &r);
    return 0;
}

/* Receives into (or sends from) m->value, handing the request to weft. */
static int xfer_task(weft_ctx_t *ctx, void *arg)
{
    msg_t *m = arg;
    MPI_Request r;
    if (m->send)
        MPI_Isend(&m->value, 1, MPI_INT, m->peer, 7, MPI_COMM_WORLD, &r);
    else
        MPI_Irecv(&m->value, 1, MPI_INT, m->peer, 7, MPI_COMM_WORLD, &r);
    m->rc = weft_ctx_wait_mpi(ctx, &r);
    m->nulled = r == MPI_REQUEST_NULL;
    return 0;
}

static int after_recv(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    msg_t *m = arg;
    m->got = m->value;
    return 0;
}

static int misuse(weft_ctx_t *ctx, void *arg)
{
    int *bad = arg;
    MPI_Request r[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    *bad = (weft_ctx_wait_mpi_all(ctx, 0, r) == WEFT_EINVAL) + (weft_ctx_wait_mpi_all(ctx, 1, NULL) == WEFT_EINVAL) +
           (weft_ctx_wait_mpi_all(NULL, 1, r) == WEFT_EINVAL) + (weft_ctx_wait_mpi(NULL, r) == WEFT_EINVAL);
    return 0;
}

/* One graph of one task fn(arg), run. */
static int run_one(weft_runtime_t *rt, int (*fn)(weft_ctx_t *, void *), void *arg)
{
    weft_graph_t *g;
    if (weft_graph_create(&g) != 0 || !weft_graph_add(g, "t", fn, arg))
        return WEFT_ENOMEM;
    int rc = weft_graph_run(rt, g);
    weft_graph_destroy(g);
    return rc;
}

int main(int argc, char **argv)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    weft_runtime_t *rt;
    if (weft_runtime_create(&cfg, &rt) != 0)
        return 1;
    msg_t early = {0};
    CHECK(run_one(rt, no_mpi_yet, &early) == 0);
    CHECK(early.rc == WEFT_ESTATE); /* MPI not initialised */

    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2 || provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, "test_mpi: needs 2 ranks and MPI_THREAD_MULTIPLE (got %d ranks, level %d)\n", size, provided);
        MPI_Finalize();
        return 77;
    }
    int peer = 1 - rank;

    int bad = 0;
    CHECK(run_one(rt, misuse, &bad) == 0);
    CHECK(bad == 4);

    /* rank 0 sends 42, rank 1 receives it; the task after the receive
     * runs only once the data is there */
    for (int round = 0; round < 3; round++) {
        msg_t m = {.value = rank == 0 ? 42 + round : -1, .peer = peer, .got = -2, .send = rank == 0};
        weft_graph_t *g;
        CHECK(weft_graph_create(&g) == 0);
        weft_task_t *t = weft_graph_add(g, rank == 0 ? "send" : "recv", xfer_task, &m);
        weft_task_t *a = weft_graph_add(g, "after", after_recv, &m);
        CHECK(t && a && weft_task_after(a, t) == 0);
        CHECK(weft_graph_run(rt, g) == 0);
        CHECK(m.rc == 0);
        CHECK(m.nulled);
        if (rank == 1)
            CHECK(m.got == 42 + round);
        weft_graph_destroy(g);
        if (round == 1) /* nothing pending: the progress thread stops, and starts again */
            CHECK(weft_mpi_shutdown() == 0);
    }

    /* a receive pending (its send comes after a barrier): shutdown refuses */
    if (rank == 1) {
        msg_t m = {.peer = peer, .got = -2};
        weft_graph_t *g;
        CHECK(weft_graph_create(&g) == 0);
        CHECK(weft_graph_add(g, "recv", xfer_task, &m) != NULL);
        CHECK(weft_graph_submit(rt, g) == 0);
        for (int i = 0; i < 1000 && m.rc == 0 && !m.nulled; i++)
            usleep(1000); /* until the task has handed its request over */
        CHECK(weft_mpi_shutdown() == WEFT_EBUSY);
        MPI_Barrier(MPI_COMM_WORLD);
        CHECK(weft_graph_wait(g) == 0);
        CHECK(m.value == 99);
        weft_graph_destroy(g);
    } else {
        MPI_Barrier(MPI_COMM_WORLD);
        int v = 99;
        MPI_Send(&v, 1, MPI_INT, peer, 7, MPI_COMM_WORLD);
    }
    CHECK(weft_mpi_shutdown() == 0);
    weft_runtime_destroy(rt);

    int fails = 0;
    MPI_Allreduce(&nfail, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi: %d checks on rank 0, %d failed over both ranks\n", npass, fails);
    MPI_Finalize();
    return fails ? 1 : 0;
}
