/* weft — where weft's warnings go.
 *
 * weft warns (a refused call, a binding that fell back, a second
 * completion of one handle, ...) by writing one line "weft: ..." to
 * stderr. An embedding program can take these lines instead. Like the
 * allocation hooks the handler is process-wide: set it before creating
 * weft objects or while no weft call is running. */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include "weft/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives one warning: `message` is the text without the "weft: " prefix
 * and without a newline, borrowed for the call. It may be called from any
 * thread, concurrently, also from weft's own threads while they hold
 * locks: it must not call back into weft. */
typedef void (*weft_log_fn)(void *ud, const char *message);

/* Sends weft's warnings to fn(ud, message); fn NULL restores stderr.
 * Returns 0. */
WEFT_API int weft_log_set_handler(weft_log_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
