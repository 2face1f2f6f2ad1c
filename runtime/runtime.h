/* runtime — the cross-module header of the runtime object (nothing below
 * needs it yet; the public API is include/weft/runtime.h). */
#ifndef WEFT_RUNTIME_RUNTIME_H
#define WEFT_RUNTIME_RUNTIME_H

#include "weft/graph.h"
#include "weft/runtime.h"

#endif
