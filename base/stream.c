/* The GPU stream of the GPU task whose function the calling thread runs
 * (base.h): set by the GPU executor (tasks/gpu.c) around the call, read by
 * the memory pool (memory/gpu.c) to allocate and free device memory
 * in stream order inside GPU tasks. */
#include "base/base.h"

static _Thread_local struct {
    void *stream;
    int dev;
} cur;

void weft__stream_set(void *stream, int dev)
{
    cur.stream = stream;
    cur.dev = dev;
}

void *weft__stream_current(int *dev)
{
    *dev = cur.stream ? cur.dev : -1;
    return cur.stream;
}
