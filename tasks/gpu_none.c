/* The GPU executor's fallback for builds without CUDA (tasks/gpu_ops.h):
 * no devices, so every GPU task fails with WEFT_ENOTSUP saying why. The
 * other calls are never reached (the executor asks for devices first). */
#include "tasks/gpu_ops.h"

#include <stdio.h>

#include "platform/device.h"

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
};
