/* weft — task-graph parallel execution runtime. The umbrella header. */
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
#include "weft/cuda.h"
#include "weft/memory.h"
#include "weft/tensor.h"
#include "weft/toml.h"
#include "weft/trace.h"
#include "weft/metrics.h"

#endif
