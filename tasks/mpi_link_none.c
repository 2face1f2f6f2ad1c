/* The link between ranks without MPI (tasks/mpi_link.h): a run over several
 * ranks is refused, saying what it needs. */
#include "tasks/mpi_link.h"

#include <stdio.h>

int weft__mpilink_open(double timeout_s, weft_flow_link_t **out, char *err, size_t errlen)
{
    (void)timeout_s;
    *out = NULL;
    snprintf(err, errlen,
             "this weft was built without MPI, which a run over several ranks needs (libopenmpi-dev, meson setup "
             "-Dmpi=enabled)");
    return WEFT_ENOTSUP;
}

int weft__mpilink_open_on(const void *comm, double timeout_s, weft_flow_link_t **out, char *err, size_t errlen)
{
    (void)comm;
    return weft__mpilink_open(timeout_s, out, err, errlen);
}

void weft__mpilink_close(weft_flow_link_t *l, bool finalize)
{
    (void)l;
    (void)finalize;
}
