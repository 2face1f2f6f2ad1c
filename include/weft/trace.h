/* weft — timing instrumentation: traces of what ran where and when, user
 * regions and counters inside tasks, and their exports (Chrome/Perfetto
 * trace JSON, a text summary, a self-contained HTML report).
 *
 * Turn it on with weft_config_t.trace = 1 (weft_config_t.trace_file to
 * stream the trace to a file as it is recorded). Recording costs two clock
 * reads and one 16-byte record per task in the running worker's chunk (no
 * lock; what does not fit, such as a non-zero return code or a long gap,
 * takes extra records); off, it costs one predictable branch. */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <stdio.h>

#include "weft/export.h"
#include "weft/graph.h"
#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes everything recorded so far as Chrome trace-event JSON (one track
 * per worker, process slot and CUDA stream; a complete event per task
 * attempt with its name, run, index, state, return code and notes in args;
 * flow events for dependencies; counter events), through a temporary file
 * renamed over path. Callable while graphs run (it reads what has been
 * published). Errors: WEFT_EINVAL (NULL argument), WEFT_ESTATE (the runtime
 * was created with trace = 0), WEFT_ESYS (path cannot be written; the
 * reason is logged naming it), WEFT_ENOMEM. */
WEFT_API int weft_runtime_write_trace(weft_runtime_t *rt, const char *path);

/* Writes the text summary to out: total time, tasks by state, the slowest
 * tasks, the critical path of the longest run (the chain of dependencies
 * that bounded it, with its length against the run's), per-worker busy and
 * idle time, scheduling delay (ready -> start) percentiles.
 * Errors: as weft_runtime_write_trace (WEFT_ESYS: out reported an error). */
WEFT_API int weft_runtime_write_summary(weft_runtime_t *rt, FILE *out);
/* The summary's bottlenecks: the task families (names with their numbers
 * as '#': "solve-#"), tasks and regions whose share of the tasks' run
 * time, or of the critical path, is at least percent (default 5).
 * Errors: WEFT_EINVAL (NULL rt, percent not in (0, 100]), WEFT_ESTATE
 * (tracing off). */
WEFT_API int weft_runtime_set_bottleneck(weft_runtime_t *rt, double percent);

/* Writes the HTML report (one file, no network access needed): timeline
 * with the critical path, memory plot, sortable task table, configuration.
 * Errors: as weft_runtime_write_trace. */
WEFT_API int weft_runtime_write_report(weft_runtime_t *rt, const char *path);

/* A user region, shown as a slice nested in the running task's slice. Only
 * recorded on a thread running a task of a traced runtime; elsewhere (and
 * with tracing off) these do nothing. Regions nest up to 32 deep; an end
 * without a begin is ignored. name is copied. */
WEFT_API void weft_region_begin(const char *name);
WEFT_API void weft_region_end(void);

/* A region lasting until the end of the enclosing block (GCC and Clang):
 *     { WEFT_TIME_SCOPE("assemble"); ... } */
static inline void weft__region_scope_end(int *unused)
{
    (void)unused;
    weft_region_end();
}
#define WEFT__SCOPE_CAT2(a, b) a##b
#define WEFT__SCOPE_CAT(a, b) WEFT__SCOPE_CAT2(a, b)
#define WEFT_TIME_SCOPE(name)                                                                                          \
    __attribute__((cleanup(weft__region_scope_end), unused)) int WEFT__SCOPE_CAT(weft__scope_, __LINE__) =             \
        (weft_region_begin(name), 0)

/* A sample of a named counter (a counter track in the trace), from the
 * running task. Returns 0, also when tracing is off (then it records
 * nothing). Errors: WEFT_EINVAL (ctx or name NULL, empty name). */
WEFT_API int weft_ctx_counter(weft_ctx_t *ctx, const char *name, double value);
/* The same from any thread. Errors: WEFT_EINVAL. */
WEFT_API int weft_runtime_counter(weft_runtime_t *rt, const char *name, double value);

#ifdef __cplusplus
}
#endif
#endif
