/* GPU discovery without CUDA: there are no devices. */
#include "runtime/device.h"

int weft__device_count(void)
{
    return 0;
}

const char *weft__device_backend(void)
{
    return "none";
}
