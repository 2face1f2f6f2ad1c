/* GPU discovery through the CUDA runtime. The only file (so far) that
 * includes <cuda_runtime.h>. */
#include "runtime/device.h"

#include <cuda_runtime.h>

int weft__device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0; /* no driver or no device: a CPU-only machine */
    return n;
}

const char *weft__device_backend(void)
{
    return "cuda";
}
