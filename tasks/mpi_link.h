/* The link between the ranks of one workflow run over MPI (the engine is
 * workloads/workflow/cluster.c; this is how its messages travel):
 * mpi_link.c with MPI, mpi_link_none.c without. Used by the weft command
 * and by libweft-mpi's weft_flow_run_mpi; plain libc allocation, no
 * libweft internals, so that either can hold it. */
#ifndef WEFT_TASKS_MPI_LINK_H
#define WEFT_TASKS_MPI_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/error.h"
#include "weft/flow.h"

/* Initialises MPI (MPI_THREAD_SERIALIZED) unless it is already, and a link
 * over MPI_COMM_WORLD; a peer silent for timeout_s is lost. Errors:
 * WEFT_ENOTSUP (built without MPI, or too little thread support),
 * WEFT_ESYS, WEFT_ENOMEM; err says which. */
int weft__mpilink_open(double timeout_s, weft_flow_link_t **out, char *err, size_t errlen);
/* A link over a duplicate of *(const MPI_Comm *)comm (MPI initialised by
 * the caller with MPI_THREAD_SERIALIZED or MULTIPLE). */
int weft__mpilink_open_on(const void *comm, double timeout_s, weft_flow_link_t **out, char *err, size_t errlen);
/* Quiets the link (l->quiet) and frees it; finalize: MPI_Finalize too (not
 * done when a peer was lost, which would wait for it forever). */
void weft__mpilink_close(weft_flow_link_t *l, bool finalize);

#endif
