/* weft — error codes.
 *
 * Every weft function that can fail returns 0 on success or one of the
 * negative codes below (functions returning a pointer return NULL instead).
 * The list is one X-macro so that the enum, weft_strerror() and
 * weft_err_name() can never disagree. */
#ifndef WEFT_ERROR_H
#define WEFT_ERROR_H

#include "weft/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define WEFT_ERRNO_MAP(X)                                                                                              \
    X(EINVAL, -1, "invalid argument")                                                                                  \
    X(ENOMEM, -2, "out of memory")                                                                                     \
    X(ECYCLE, -3, "the graph has a dependency cycle")                                                                  \
    X(ETASK, -4, "at least one task failed")                                                                           \
    X(EBUSY, -5, "the graph is running or has not been waited for")                                                    \
    X(ECANCELED, -6, "the run was canceled")                                                                           \
    X(ENOTSUP, -7, "operation not supported by this build or machine")                                                 \
    X(ESYS, -8, "a system call failed")                                                                                \
    X(ESTATE, -9, "operation not valid in the object's current state")                                                 \
    X(ENOENT, -10, "no such key, file or name")                                                                        \
    X(ETYPE, -11, "the value has another type")                                                                        \
    X(EPARSE, -12, "the input is malformed")                                                                           \
    X(EDEVICE, -13, "a GPU operation failed (the task's error names it)")                                              \
    X(ETIMEDOUT, -14, "the task ran past its timeout")

typedef enum weft_err {
    WEFT_OK = 0,
#define WEFT__ERR_ENUM(name, value, msg) WEFT_##name = (value),
    WEFT_ERRNO_MAP(WEFT__ERR_ENUM)
#undef WEFT__ERR_ENUM
} weft_err_t;

/* A static, human-readable message for err (0 or a WEFT_E* code);
 * "unknown error" for anything else. Never NULL. */
WEFT_API const char *weft_strerror(int err);

/* The code's name without the prefix, e.g. "EINVAL"; "OK" for 0,
 * "UNKNOWN" for anything else. Never NULL. */
WEFT_API const char *weft_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
