/* The link between ranks without MPI (cli/mpilink.h): a run over several
 * ranks is refused, saying what it needs. */
#include "cli/mpilink.h"

#include <stdio.h>

int weft__mpilink_open(double timeout_s, weft__link_t **out, char *err, size_t errlen)
{
    (void)timeout_s;
    *out = NULL;
    snprintf(err, errlen,
             "this weft was built without MPI, which a run over several ranks needs (libopenmpi-dev, meson setup "
             "-Dmpi=enabled)");
    return WEFT_ENOTSUP;
}

void weft__mpilink_close(weft__link_t *l, bool finalize)
{
    (void)l;
    (void)finalize;
}
