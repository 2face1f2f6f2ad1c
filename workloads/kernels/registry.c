/* The table of built-in kernels, and the helpers they read their
 * arguments and write their output with. */
#include "workloads/kernels/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/error.h"

int weft__kernel_noop(weft__kctx_t *k);
int weft__kernel_sleep(weft__kctx_t *k);
int weft__kernel_poisson2d(weft__kctx_t *k);

static const weft__kernel_t kernels[] = {
    {"noop", "does nothing (measures the runtime's own overhead)", "none", weft__kernel_noop, false},
    {"sleep", "sleeps without using the CPU", "seconds (float, required)", weft__kernel_sleep, false},
    {"poisson2d",
     "solves -laplace(u) = f on the unit square (n x n interior points, zero boundary) by Jacobi "
     "iteration to a relative residual tol; reports iterations, residual and the error against "
     "the exact solution",
     "n (integer 3..8192, required), tol (float, 1e-6), max_iters (integer, 1000000)", weft__kernel_poisson2d, true},
};

#define NKERNELS (sizeof kernels / sizeof kernels[0])

const weft__kernel_t *weft__kernel_find(const char *name)
{
    for (size_t i = 0; i < NKERNELS; i++)
        if (strcmp(kernels[i].name, name) == 0)
            return &kernels[i];
    return NULL;
}

const weft__kernel_t *weft__kernel_at(size_t i)
{
    return i < NKERNELS ? &kernels[i] : NULL;
}

static void names(char *buf, size_t size, bool gpu_only)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NKERNELS && len < size; i++)
        if (!gpu_only || kernels[i].gpu)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", kernels[i].name);
}

void weft__kernel_names(char *buf, size_t size)
{
    names(buf, size, false);
}

void weft__kernel_gpu_names(char *buf, size_t size)
{
    names(buf, size, true);
}

/* ---- arguments ------------------------------------------------------------ */

static int lookup(weft__kctx_t *k, const char *key)
{
    for (size_t i = 0; i < k->nargs; i++) {
        if (strcmp(k->keys[i], key) == 0) {
            if (i < 64)
                k->used |= UINT64_C(1) << i;
            return (int)i;
        }
    }
    return -1;
}

static void bad(weft__kctx_t *k, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(weft__kctx_t *k, int i, const char *fmt, ...)
{
    if (k->error[0])
        return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->error, sizeof k->error, fmt, ap);
    va_end(ap);
    k->bad_arg = i;
}

const char *weft__karg_str(weft__kctx_t *k, const char *key, const char *def)
{
    int i = lookup(k, key);
    return i < 0 ? def : k->vals[i];
}

long long weft__karg_int(weft__kctx_t *k, const char *key, long long def, long long lo, long long hi)
{
    int i = lookup(k, key);
    if (i < 0) {
        if (def < lo || def > hi)
            bad(k, -1, "argument '%s' is required (an integer from %lld to %lld)", key, lo, hi);
        return def;
    }
    char *end;
    errno = 0;
    long long v = strtoll(k->vals[i], &end, 10);
    if (errno || end == k->vals[i] || *end || v < lo || v > hi) {
        bad(k, i, "argument '%s' must be an integer from %lld to %lld, got '%s'", key, lo, hi, k->vals[i]);
        return def;
    }
    return v;
}

double weft__karg_float(weft__kctx_t *k, const char *key, double def, double lo, double hi)
{
    int i = lookup(k, key);
    if (i < 0) {
        if (!(def >= lo && def <= hi))
            bad(k, -1, "argument '%s' is required (a number from %g to %g)", key, lo, hi);
        return def;
    }
    char *end;
    errno = 0;
    double v = strtod(k->vals[i], &end);
    if (errno || end == k->vals[i] || *end || !(v >= lo && v <= hi)) {
        bad(k, i, "argument '%s' must be a number from %g to %g, got '%s'", key, lo, hi, k->vals[i]);
        return def;
    }
    return v;
}

int weft__kargs_check(weft__kctx_t *k, const weft__kernel_t *self)
{
    for (size_t i = 0; i < k->nargs && !k->error[0]; i++)
        if (i >= 64 || !(k->used >> i & 1))
            bad(k, (int)i, "kernel '%s' has no argument '%s' (it takes: %s)", self->name, k->keys[i], self->args);
    if (k->error[0])
        return WEFT_EINVAL;
    return k->checking ? 1 : 0;
}

/* ---- output --------------------------------------------------------------- */

void weft__kprintf(weft__kctx_t *k, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && k->print)
        k->print(k->ud, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void weft__kresult(weft__kctx_t *k, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (k->result)
        k->result(k->ud, key, buf);
}

int weft__kfail(weft__kctx_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->error, sizeof k->error, fmt, ap);
    va_end(ap);
    return WEFT_ETASK;
}

int weft__kstopping(weft__kctx_t *k)
{
    return k->stopping ? k->stopping(k->ud) : 0;
}
