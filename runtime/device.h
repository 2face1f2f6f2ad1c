/* runtime/device — GPU discovery. One backend file (device_cuda.c) plus a
 * fallback (device_none.c) without CUDA. The CUDA stream executor builds on
 * this. */
#ifndef WEFT_RUNTIME_DEVICE_H
#define WEFT_RUNTIME_DEVICE_H

/* Number of usable CUDA devices (0 without CUDA, a driver, or a GPU). */
int weft__device_count(void);
/* "cuda" or "none". */
const char *weft__device_backend(void);

#endif
