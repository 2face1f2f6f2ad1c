// Kernels for tests/integration/test_cuda.c and bench/cuda.c: an empty
// kernel (launch cost only) and one that writes to an illegal address
// (an asynchronous fault that makes the device unusable for the process).
#include <cuda_runtime.h>

__global__ void weft_test_empty(void) {}

__global__ void weft_test_fault(int *p)
{
    *p = 1;
}

extern "C" int weft_test_empty_kernel(void *stream)
{
    weft_test_empty<<<1, 1, 0, (cudaStream_t)stream>>>();
    return 0;
}

__global__ void weft_test_add(int *p)
{
    *p += 1;
}

extern "C" int weft_test_add_kernel(int *p, void *stream)
{
    weft_test_add<<<1, 1, 0, (cudaStream_t)stream>>>(p);
    return 0;
}

extern "C" int weft_test_fault_kernel(void *stream)
{
    weft_test_fault<<<1, 1, 0, (cudaStream_t)stream>>>((int *)0x10);
    return 0;
}

__global__ void weft_test_axpb(float *out, const float *in, int n, float a, float b)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = a * in[i] + b;
}

extern "C" int weft_test_axpb_kernel(float *out, const float *in, int n, float a, float b, void *stream)
{
    weft_test_axpb<<<(n + 255) / 256, 256, 0, (cudaStream_t)stream>>>(out, in, n, a, b);
    return 0;
}
