/* weft_flow_run_mpi (weft/mpi.h): one workflow run over the ranks of an
 * MPI communicator, through weft_flow_run_over (weft/flow.h) on a link over
 * MPI (mpi_link.c). */
#include <mpi.h>
#include <stdio.h>

#include "tasks/mpi_link.h"
#include "weft/mpi.h"

WEFT_API int weft_flow_run_mpi(weft_flow_t *f, MPI_Comm comm, double rank_timeout_s)
{
    if (!f || comm == MPI_COMM_NULL || !(rank_timeout_s == 0 || (rank_timeout_s >= 0.5 && rank_timeout_s <= 86400)))
        return WEFT_EINVAL;
    int inited = 0, finalized = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return WEFT_ESTATE;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED)
        return WEFT_ENOTSUP;
    weft_flow_link_t *l = NULL;
    char err[256];
    int rc = weft__mpilink_open_on(&comm, rank_timeout_s > 0 ? rank_timeout_s : 10, &l, err, sizeof err);
    if (rc)
        return rc;
    rc = weft_flow_run_over(f, l);
    weft__mpilink_close(l, false); /* MPI stays the program's */
    return rc;
}
