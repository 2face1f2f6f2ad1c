/* platform/device — GPU discovery. One backend file (device_cuda.c) plus a
 * fallback (device_none.c) without CUDA. The CUDA stream executor builds on
 * this. */
#ifndef WEFT_PLATFORM_DEVICE_H
#define WEFT_PLATFORM_DEVICE_H

#include <stddef.h>

/* Number of usable CUDA devices (0 without CUDA, a driver, or a GPU). */
int weft__device_count(void);
/* The same, and when there are none the reason into why ("no CUDA device
 * (...)", "weft was built without CUDA (...)"). For the executors'
 * backends (tasks/gpu_cuda.c, memory/gpu_raw_cuda.c). */
int weft__device_probe(char *why, size_t size);
/* Makes CUDA device dev the calling thread's current one (cudaSetDevice):
 * 0, or WEFT_EDEVICE / WEFT_ENOTSUP (built without CUDA). */
int weft__device_select(int dev);
/* "cuda" or "none". */
const char *weft__device_backend(void);

#endif
