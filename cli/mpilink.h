/* The `weft` command's link between ranks (mpilink.c with MPI, mpilink_none.c
 * without): how the messages of a run over several ranks travel. */
#ifndef WEFT_CLI_MPILINK_H
#define WEFT_CLI_MPILINK_H

#include <stdbool.h>
#include <stddef.h>

#include "workloads/workflow/workflow.h"

/* Initialises MPI and the link; a peer silent for timeout_s is lost.
 * Errors: WEFT_ENOTSUP (built without MPI, or too little thread support),
 * WEFT_ESYS, WEFT_ENOMEM; err says which. */
int weft__mpilink_open(double timeout_s, weft__link_t **out, char *err, size_t errlen);
/* Sends what is queued (waiting at most the timeout for a slow peer),
 * stops the link's thread, frees it; finalize: MPI_Finalize too (not done
 * when a peer was lost, which would wait for it forever). */
void weft__mpilink_close(weft__link_t *l, bool finalize);

#endif
