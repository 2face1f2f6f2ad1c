/* runtime — the cross-module header of the runtime object (used by the
 * workflow executor; the public API is include/weft/runtime.h). */
#ifndef WEFT_RUNTIME_RUNTIME_H
#define WEFT_RUNTIME_RUNTIME_H

#include "scheduler/scheduler.h"
#include "weft/graph.h"
#include "weft/runtime.h"

/* The trace recorder of a runtime created with trace = 1 (NULL: off), for
 * executors that record their own lanes (processes, CUDA streams). */
weft__trace_t *weft__runtime_recorder(const weft_runtime_t *rt);
/* The runtime's process tasks' service (tasks/tasks.h): its cores budget,
 * GPUs and process executor. */
struct weft__proc_svc *weft__runtime_procs(const weft_runtime_t *rt);
/* The title of the runtime's trace exports and extra configuration shown
 * in the report (JSON object members; copied; dropped when over 12 KiB). */
void weft__runtime_trace_label(weft_runtime_t *rt, const char *title, const char *config_json);

#endif
