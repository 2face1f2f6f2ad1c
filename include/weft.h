/* weft — task-graph parallel execution runtime. The umbrella header: the
 * core API. Opt-in, included by name where used: weft/cuda.h (GPU tasks)
 * and weft/toml.h (the TOML parser). */
#ifndef WEFT_H
#define WEFT_H

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

#include "weft/error.h"
#include "weft/alloc.h"
#include "weft/log.h"
#include "weft/runtime.h"
#include "weft/graph.h"
#include "weft/process.h"
#include "weft/memory.h"
#include "weft/tensor.h"
#include "weft/trace.h"
#include "weft/metrics.h"

#endif
