/* weft/mpi.h — weft inside each rank of an MPI program: a task that
 * started MPI requests (a halo exchange, a reduction) hands them to weft
 * and returns; it completes, and the tasks after it start, when the
 * requests complete, while the workers go on with other tasks (the idea
 * of TAMPI for OmpSs-2). In libweft-mpi (pkg-config weft-mpi; built when
 * weft is configured with MPI: meson -Dmpi=enabled).
 *
 * MPI must be initialised with MPI_Init_thread(..., MPI_THREAD_MULTIPLE,
 * ...): one progress thread of weft's tests the requests while tasks on
 * the workers make MPI calls of their own. With a lower level (FUNNELED,
 * SERIALIZED) these calls answer WEFT_ENOTSUP and do nothing; a program
 * at that level makes its MPI calls outside tasks (between graph runs, on
 * the thread that initialised MPI). Call weft_mpi_shutdown() after the
 * last graph run and before MPI_Finalize. */
#ifndef WEFT_MPI_H
#define WEFT_MPI_H

#include <mpi.h>

#include "weft/flow.h"
#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The running task completes when every request of reqs[0..n) has
 * completed (and fails with WEFT_ESYS, the MPI error said on stderr, when
 * one fails). The requests become weft's: reqs[i] is set to
 * MPI_REQUEST_NULL; their buffers must stay valid and untouched until the
 * task completes — the tasks after it may use them. Returns 0; on an error
 * the requests are left as they were (the task still owns them):
 * WEFT_EINVAL (NULL ctx or reqs, n < 1, not inside a task), WEFT_ESTATE
 * (MPI not initialised, or finalised), WEFT_ENOTSUP (MPI not initialised
 * with MPI_THREAD_MULTIPLE), WEFT_ECANCELED (the run is stopping),
 * WEFT_ENOMEM. */
WEFT_API int weft_ctx_wait_mpi_all(weft_ctx_t *ctx, int n, MPI_Request *reqs);
/* One request: weft_ctx_wait_mpi_all(ctx, 1, req). */
WEFT_API int weft_ctx_wait_mpi(weft_ctx_t *ctx, MPI_Request *req);

/* One workflow run over the ranks of comm (a collective call: every rank
 * loads the same workflow and calls this; weft_flow_run_over in
 * weft/flow.h says what each does): rank 0 owns the run, the others run
 * its tasks on their cores. MPI initialised with MPI_THREAD_SERIALIZED or
 * MULTIPLE: one thread of weft's calls MPI while this runs (on a duplicate
 * of comm), so with SERIALIZED the program makes no MPI call of its own
 * until it returns. rank_timeout_s: a rank silent this long is lost (0:
 * 10 s). Returns as weft_flow_run_over; also WEFT_EINVAL (NULL f,
 * MPI_COMM_NULL, a timeout outside 0.5..86400), WEFT_ESTATE (MPI not
 * initialised, or finalised), WEFT_ENOTSUP (below SERIALIZED). */
WEFT_API int weft_flow_run_mpi(weft_flow_t *f, MPI_Comm comm, double rank_timeout_s);

/* Stops the progress thread (started by the first wait). 0; WEFT_EBUSY
 * when requests are still pending (a graph is still running). A later
 * wait starts it again. */
WEFT_API int weft_mpi_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif
