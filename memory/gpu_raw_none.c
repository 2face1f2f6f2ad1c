/* The GPU runtime's calls for memory/gpu.c without CUDA: no devices. */
#include "memory/gpu_raw.h"

#include "platform/device.h"

static int none_fail(void)
{
    return 1;
}

static int none_prepare(int d, int *pools, void **stream)
{
    (void)d, (void)pools, (void)stream;
    return none_fail();
}

static void none_unprepare(int d, void *stream)
{
    (void)d, (void)stream;
}

static int none_dev_alloc(int d, int pools, size_t bytes, void *s, int sync, void **out)
{
    (void)d, (void)pools, (void)bytes, (void)s, (void)sync, (void)out;
    return none_fail();
}

static int none_dev_free(int d, int pools, void *p, void *s, int sync)
{
    (void)d, (void)pools, (void)p, (void)s, (void)sync;
    return none_fail();
}

static int none_host_alloc(size_t bytes, void **out)
{
    (void)bytes, (void)out;
    return none_fail();
}

static int none_host_free(void *p)
{
    (void)p;
    return none_fail();
}

static int none_reserved(int d, uint64_t *out)
{
    (void)d, (void)out;
    return none_fail();
}

static int none_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s)
{
    (void)dst, (void)dpitch, (void)src, (void)spitch, (void)width, (void)height, (void)s;
    return none_fail();
}

static int none_oom(int err)
{
    (void)err;
    return 0;
}

static const char *none_describe(int err)
{
    (void)err;
    return "weft was built without CUDA";
}

const weft__gpuraw_t weft__gpuraw_default = {
    .name = "none",
    .devices = weft__device_probe,
    .prepare = none_prepare,
    .unprepare = none_unprepare,
    .dev_alloc = none_dev_alloc,
    .dev_free = none_dev_free,
    .host_alloc = none_host_alloc,
    .host_free = none_host_free,
    .reserved = none_reserved,
    .copy2d = none_copy2d,
    .oom = none_oom,
    .describe = none_describe,
};
