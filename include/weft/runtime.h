/* weft — the runtime: worker threads, their placement on the machine, and
 * its configuration. */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include "weft/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_runtime weft_runtime_t; /* opaque */

/* Where worker threads are bound (weft_config_t.pin). */
enum weft_pin {
    WEFT_PIN_NONE = 0, /* workers are left free to migrate */
    WEFT_PIN_CORE = 1, /* each worker bound to all PUs of one core (default) */
    WEFT_PIN_PU = 2    /* each worker bound to one PU (hardware thread) */
};

/* Bits of weft_config_t.flags. */
enum weft_config_flag {
    /* Stop starting new tasks once one task has failed; tasks that never
     * started are reported WEFT_TASK_NOT_RUN. */
    WEFT_CONFIG_FAIL_FAST = 1u << 0,
    /* Threads calling weft_graph_run()/weft_graph_wait() only block instead
     * of helping to run tasks (then exactly `threads` threads run tasks). */
    WEFT_CONFIG_NO_CALLER_HELP = 1u << 1,
    /* Do not print warnings (e.g. binding fell back) to stderr. */
    WEFT_CONFIG_QUIET = 1u << 2,
    /* Do not install the crash reporter. By default the first runtime
     * installs, once per process, handlers for SIGSEGV, SIGBUS, SIGFPE,
     * SIGILL and SIGABRT that write "weft: task 'NAME' (graph ..., task
     * #i, run n) crashed: SIGSEGV ..." to stderr when a task's code
     * faults, then call the handler the program had installed before (or
     * take the default action: the process ends with the same signal);
     * handlers the program installs later replace it. Ignored signals stay
     * ignored. weft's worker threads get an alternate signal stack so
     * that a stack overflow is reported too (a caller's thread helping in
     * a run needs one of its own, set with sigaltstack, for that). */
    WEFT_CONFIG_NO_CRASH_HANDLER = 1u << 3
};

typedef struct weft_config {
    int threads;            /* worker threads; 0 = one per core of the process's cpuset */
    int pin;                /* WEFT_PIN_NONE, WEFT_PIN_CORE (default), WEFT_PIN_PU */
    unsigned flags;         /* WEFT_CONFIG_* bits; unknown bits are WEFT_EINVAL */
    int spin_us;            /* how long an idle worker looks for work before it
                       parks, in microseconds (default 50, 0..100000) */
    int trace;              /* 0 = off (default); 1 = record every task attempt
                       for weft_runtime_write_trace & co. (weft/trace.h) */
    const char *trace_file; /* with trace: also stream the trace to this
                       file as it is recorded (a valid JSON array prefix
                       whenever the program dies; completed by
                       weft_runtime_destroy). Copied. NULL = none */
    int trace_sample_us;    /* with trace: how often memory in use is
                       sampled, in microseconds (default 1000; 0 = never,
                       only at run starts and ends) */
    int gpu_streams;        /* GPU tasks (weft/cuda.h): CUDA streams per device
                       in the executor's pool (0 = default, 8; up to 1024) */
    /* The size of the struct the program was compiled with, set by
     * weft_config_init. Fields added in later versions come after it: a
     * newer libweft reads only what this size covers and takes the
     * defaults for the rest, so programs built against an older weft.h
     * keep working. Do not set it by hand. */
    size_t struct_size;
    /* --- fields added after struct_size (version 0.1 and later) --- */
    int gpus; /* GPUs process tasks may be given (weft/process.h
                       gpus): -1 (default) = the CUDA devices weft sees,
                       counted when a task first asks for one; 0..64 */
    /* The cores budget process tasks and C tasks with cpus share
     * (weft_task_set_cpus): how many core slots it has. 0 (default) = one
     * per core of the process's cpuset (per PU with task_pin
     * WEFT_PIN_PU); more than the machine has wrap around (oversubscription
     * on purpose); up to 4096. */
    int cores;
    /* How tasks with cpus are bound to their granted cores: -1 (default) =
     * as `pin`; WEFT_PIN_NONE (admitted, not bound), WEFT_PIN_CORE,
     * WEFT_PIN_PU. Lets the workers stay unbound while tasks are bound
     * (as `weft run` does) or the other way round. */
    int task_pin;
} weft_config_t;

/* Fills cfg with the defaults. Always start from this. The macro passes
 * the size of the caller's struct (see struct_size); the function of the
 * same name assumes this header's. */
WEFT_API void weft_config_init_sized(weft_config_t *cfg, size_t size);
WEFT_API void weft_config_init(weft_config_t *cfg);
#define weft_config_init(cfg) weft_config_init_sized((cfg), sizeof *(cfg))

/* Discovers the topology, starts the workers and binds them.
 * cfg NULL means defaults. On success *out owns the runtime.
 * Errors: WEFT_EINVAL (out NULL, threads < 0 or > 4096, unknown pin or flag,
 * spin_us out of range, trace not 0 or 1, trace_file set without trace or
 * empty, trace_sample_us out of 0..10000000, gpu_streams out of 0..1024), WEFT_ENOMEM, WEFT_ESYS (a
 * thread could not be started or bound, or trace_file cannot be written:
 * the reason is logged naming it). On error *out is untouched and nothing leaks. */
WEFT_API int weft_runtime_create(const weft_config_t *cfg, weft_runtime_t **out);

/* Waits for every submitted graph to finish, stops the workers and frees
 * the runtime. NULL is a no-op. Must not be called from a task. */
WEFT_API void weft_runtime_destroy(weft_runtime_t *rt);

/* What weft found and what it chose. */
typedef struct weft_runtime_info {
    int threads;                  /* worker threads started */
    int pin;                      /* placement policy in force */
    int cores;                    /* cores in the process's allowed cpuset */
    int pus;                      /* PUs (hardware threads) in the allowed cpuset */
    int packages;                 /* packages (sockets) seen */
    int l3_domains;               /* L3 cache domains seen (1 when unknown) */
    const char *topology_backend; /* "hwloc" or "sysfs" */
    const char *alloc_backend;    /* "jemalloc" or "libc" */
    int gpus;                     /* CUDA devices seen (0 without CUDA) */
    const char *gpu_backend;      /* "cuda" or "none" */
} weft_runtime_info_t;

/* Fills *info. Errors: WEFT_EINVAL (NULL argument). */
WEFT_API int weft_runtime_info(const weft_runtime_t *rt, weft_runtime_info_t *info);

/* The OS indices of the PUs worker `worker` is bound to, written to
 * cpus[0..max-1]; returns how many there are (which may exceed max), 0 when
 * the worker is not pinned. Errors: WEFT_EINVAL (rt NULL, worker out of
 * range, cpus NULL with max > 0, max < 0). */
WEFT_API int weft_runtime_worker_cpus(const weft_runtime_t *rt, int worker, int *cpus, int max);

/* Writes a human-readable description of the topology and placement
 * (one line per worker) into buf, snprintf-style: returns the length it
 * needed, excluding the NUL. Errors: WEFT_EINVAL (rt NULL, buf NULL with
 * size > 0). */
WEFT_API int weft_runtime_describe(const weft_runtime_t *rt, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
