/* workloads/kernels — the cross-module header of the built-in kernels:
 * C functions registered by name that a workflow runs in-process with
 * `kernel = "name"` and `args = { ... }`.
 *
 * A kernel reads its arguments through the weft__karg_* helpers, then
 * calls weft__kargs_check: the workflow first calls every kernel task in
 * `checking` mode (before anything runs), so a bad argument is a load
 * error with the file position of the `args` key, not a failure at run
 * time. */
#ifndef WEFT_WORKLOADS_KERNELS_H
#define WEFT_WORKLOADS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_KERNEL_MAX_ARGS 64

typedef struct weft__kctx weft__kctx_t;
typedef int (*weft__kernel_fn)(weft__kctx_t *k);

typedef struct weft__kernel {
    const char *name;
    const char *summary; /* one line, for `weft kernels` and errors */
    const char *args;    /* "n (integer, required), tol (float, 1e-6)" */
    weft__kernel_fn fn;  /* 0 = success; negative WEFT_E* = failure */
    bool gpu;            /* has a GPU version (weft__kctx_t.device) */
} weft__kernel_t;

struct weft__kctx {
    /* filled by the caller */
    bool checking; /* parse the arguments only */
    int cpus;      /* cores granted to the task */
    int gpu;       /* 0: run on the CPU; g > 0: on GPU
                                      g - 1 (a kernel with a GPU version) */
    size_t nargs;
    const char *const *keys; /* argument names and values (text) */
    const char *const *vals;
    void (*print)(void *ud, const char *text, size_t len); /* task's stdout */
    void (*result)(void *ud, const char *key, const char *value);
    int (*stopping)(void *ud); /* 1 when the run is stopping */
    void *ud;
    /* filled by the kernel and its helpers */
    uint64_t used;   /* bit i: keys[i] was read */
    int bad_arg;     /* index of the offending argument, or -1 */
    char error[256]; /* why it failed ("" = no error) */
};

/* The kernel called `name`, or NULL. */
const weft__kernel_t *weft__kernel_find(const char *name);
/* The i-th kernel (NULL past the end), for listings. */
const weft__kernel_t *weft__kernel_at(size_t i);
/* "noop, sleep, poisson2d"; the second: those with a GPU version. */
void weft__kernel_names(char *buf, size_t size);
void weft__kernel_gpu_names(char *buf, size_t size);

/* Argument helpers: the value of `key` (def when absent); a bad value
 * records an error (the kernel still gets def). */
const char *weft__karg_str(weft__kctx_t *k, const char *key, const char *def);
long long weft__karg_int(weft__kctx_t *k, const char *key, long long def, long long lo, long long hi);
double weft__karg_float(weft__kctx_t *k, const char *key, double def, double lo, double hi);
/* After reading every argument: < 0 when an argument was bad or unknown
 * (k->error says which), 1 in checking mode (return 0 then), 0 to run. */
int weft__kargs_check(weft__kctx_t *k, const weft__kernel_t *self);

void weft__kprintf(weft__kctx_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft__kresult(weft__kctx_t *k, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records why the kernel failed; returns WEFT_ETASK. */
int weft__kfail(weft__kctx_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int weft__kstopping(weft__kctx_t *k);

#endif
