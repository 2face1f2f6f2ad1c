/* memory/memtrace — what libweft and the malloc tracer (libweft-memtrace.so,
 * memory/memtrace.c, preloaded with LD_PRELOAD) tell each other. The tracer
 * interposes malloc & co. and attributes each block to the weft task
 * running on the calling thread; libweft, when it finds the tracer in the
 * process, hands it the calls that name that task. */
#ifndef WEFT_MEMORY_MEMTRACE_H
#define WEFT_MEMORY_MEMTRACE_H

#include <stddef.h>
#include <stdio.h>

#define WEFT_MEMTRACE_OPS_VERSION 1

typedef struct weft_memtrace_ops {
    int version; /* WEFT_MEMTRACE_OPS_VERSION */
    /* The task the calling thread runs (in any runtime), or NULL. Allocates
     * nothing. */
    const void *(*running)(void);
    /* The task's name, or "#<index>" written into buf (size >= 16).
     * Allocates nothing. */
    const char *(*label)(const void *task, char *buf, size_t size);
} weft_memtrace_ops_t;

/* In the tracer: libweft calls it (found with dlsym) when its first
 * runtime is created. */
typedef void weft_memtrace_attach_fn(const weft_memtrace_ops_t *ops);
/* In the tracer: writes what malloc holds and held, by task (biggest peak
 * first) and by call site (most bytes held first), the first `top` of each
 * (0: all), as text or JSON; 0, or -1 when writing failed. */
typedef int weft_memtrace_report_fn(FILE *f, int json, size_t top);

/* In libweft: hands the tracer the ops, once, when it is in the process. */
void weft__memtrace_attach(void);
/* In libweft: the tracer's report call, or NULL when it is not loaded. */
weft_memtrace_report_fn *weft__memtrace_report(void);

#endif
