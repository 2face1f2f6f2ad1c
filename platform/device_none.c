/* The GPU backend without CUDA (platform/device.h): there are no devices,
 * so every GPU task fails with WEFT_ENOTSUP saying why, and GPU memory
 * kinds are refused. The other calls are never reached (the users ask for
 * devices first) and fail if they are. */
#include "platform/device.h"

#include <stdio.h>

#include "weft/error.h"

int weft__device_probe(char *why, size_t size)
{
    snprintf(why, size, "weft was built without CUDA (meson feature 'cuda' off or the toolkit not found)");
    return 0;
}

int weft__device_count(void)
{
    return 0;
}

int weft__device_select(int dev)
{
    (void)dev;
    return WEFT_ENOTSUP;
}

const char *weft__device_backend(void)
{
    return "none";
}

static int unsupported(void)
{
    return 1;
}

static int set_device(int dev)
{
    (void)dev;
    return unsupported();
}

static int create(int dev, void **out)
{
    (void)dev;
    *out = NULL;
    return unsupported();
}

static void destroy(int dev, void *h)
{
    (void)dev;
    (void)h;
}

static int pair(void *a, void *b)
{
    (void)a;
    (void)b;
    return unsupported();
}

static int elapsed(void *a, void *b, float *ms)
{
    (void)a;
    (void)b;
    *ms = 0;
    return unsupported();
}

static int query(void *e)
{
    (void)e;
    return unsupported();
}

static int last_error(void)
{
    return 0;
}

static int fatal(int err)
{
    (void)err;
    return 0;
}

static void describe(int err, char *buf, size_t size)
{
    snprintf(buf, size, "GPU error %d: weft was built without CUDA", err);
}

static int none_prepare(int d, int *pools, void **stream)
{
    (void)d, (void)pools, (void)stream;
    return unsupported();
}

static void none_unprepare(int d, void *stream)
{
    (void)d, (void)stream;
}

static int none_dev_alloc(int d, int pools, size_t bytes, void *s, int sync, void **out)
{
    (void)d, (void)pools, (void)bytes, (void)s, (void)sync, (void)out;
    return unsupported();
}

static int none_dev_free(int d, int pools, void *p, void *s, int sync)
{
    (void)d, (void)pools, (void)p, (void)s, (void)sync;
    return unsupported();
}

static int none_host_alloc(size_t bytes, void **out)
{
    (void)bytes, (void)out;
    return unsupported();
}

static int none_host_free(void *p)
{
    (void)p;
    return unsupported();
}

static int none_reserved(int d, uint64_t *out)
{
    (void)d, (void)out;
    return unsupported();
}

static int none_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s)
{
    (void)dst, (void)dpitch, (void)src, (void)spitch, (void)width, (void)height, (void)s;
    return unsupported();
}

static int none_oom(int err)
{
    (void)err;
    return 0;
}

const weft__gpu_ops_t weft__gpu_default_ops = {
    .name = "none",
    .devices = weft__device_probe,
    .set_device = set_device,
    .stream_create = create,
    .stream_destroy = destroy,
    .event_create = create,
    .event_create_timed = create,
    .event_destroy = destroy,
    .elapsed = elapsed,
    .record = pair,
    .wait = pair,
    .query = query,
    .last_error = last_error,
    .fatal = fatal,
    .describe = describe,
    .mem_prepare = none_prepare,
    .mem_unprepare = none_unprepare,
    .dev_alloc = none_dev_alloc,
    .dev_free = none_dev_free,
    .host_alloc = none_host_alloc,
    .host_free = none_host_free,
    .pool_reserved = none_reserved,
    .copy2d = none_copy2d,
    .oom = none_oom,
};
