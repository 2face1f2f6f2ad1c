/* weft/tensor.h — n-dimensional arrays in the runtime's memory pool.
 *
 * A tensor is a view (dtype, shape, strides, offset) of a storage block
 * that comes from the pool (weft/memory.h). Views, slices and reshapes
 * share the storage; both tensors and storage are reference counted, and
 * the block goes back to the pool when the last view is released. A task
 * can publish a tensor as its result: it is released when the task's last
 * successor finishes. */
#ifndef WEFT_TENSOR_H
#define WEFT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/export.h"
#include "weft/graph.h"
#include "weft/memory.h"
#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_dtype {
    WEFT_F16 = 0, /* IEEE binary16 */
    WEFT_BF16,    /* bfloat16 */
    WEFT_F32,
    WEFT_F64,
    WEFT_I8,
    WEFT_I32,
    WEFT_I64,
    WEFT_U8,
    WEFT_BOOL, /* one byte, 0 or 1 */
    WEFT_DTYPE_COUNT
} weft_dtype_t;

#define WEFT_TENSOR_MAX_DIMS 8

typedef struct weft_tensor weft_tensor_t;

/* Bytes per element (0 for an unknown dtype) and the name ("f32"; NULL). */
WEFT_API size_t weft_dtype_size(weft_dtype_t dtype);
WEFT_API const char *weft_dtype_name(weft_dtype_t dtype);

/* A new contiguous (row-major) tensor, uninitialized, with one reference.
 * ndim 0 is a scalar. Errors: WEFT_EINVAL (NULL rt/out, bad dtype, ndim
 * outside 0..8, shape NULL with ndim > 0, a negative extent, a size that
 * overflows), WEFT_ENOMEM, WEFT_ENOTSUP (a memory kind not in this build). */
WEFT_API int weft_tensor_create(weft_runtime_t *rt, weft_dtype_t dtype, int ndim, const int64_t *shape,
                                weft_mem_kind_t kind, int device, weft_tensor_t **out);
/* One more reference. Errors: WEFT_EINVAL (NULL). */
WEFT_API int weft_tensor_retain(weft_tensor_t *t);
/* One reference less; the last one frees the tensor, and the storage when
 * no other view holds it. NULL is a no-op. */
WEFT_API void weft_tensor_release(weft_tensor_t *t);

WEFT_API weft_dtype_t weft_tensor_dtype(const weft_tensor_t *t);
WEFT_API int weft_tensor_ndim(const weft_tensor_t *t);
WEFT_API const int64_t *weft_tensor_shape(const weft_tensor_t *t);   /* ndim extents */
WEFT_API const int64_t *weft_tensor_strides(const weft_tensor_t *t); /* in elements */
WEFT_API int64_t weft_tensor_numel(const weft_tensor_t *t);
/* The first element of the view (device memory for device tensors). */
WEFT_API void *weft_tensor_data(const weft_tensor_t *t);
WEFT_API weft_mem_kind_t weft_tensor_kind(const weft_tensor_t *t);
WEFT_API int weft_tensor_device(const weft_tensor_t *t);
/* Row-major with no gaps. */
WEFT_API bool weft_tensor_is_contiguous(const weft_tensor_t *t);
/* Views of the same storage (tensors, views, slices: they share memory). */
WEFT_API bool weft_tensor_shares_storage(const weft_tensor_t *a, const weft_tensor_t *b);

/* Views, sharing t's storage; each a new tensor with one reference.
 * view: any shape/strides (elements, may be negative)/offset (elements
 * from t's first element) whose elements all lie in the storage.
 * slice: dimension `dim` cut to start, start+step, ... < stop (> stop for a
 * negative step); negative start/stop count from the end.
 * reshape: the same elements in a new shape (t must be contiguous).
 * Errors: WEFT_EINVAL (NULL, out of range, shape mismatch, not contiguous),
 * WEFT_ENOMEM. */
WEFT_API int weft_tensor_view(weft_tensor_t *t, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset,
                              weft_tensor_t **out);
WEFT_API int weft_tensor_slice(weft_tensor_t *t, int dim, int64_t start, int64_t stop, int64_t step,
                               weft_tensor_t **out);
WEFT_API int weft_tensor_reshape(weft_tensor_t *t, int ndim, const int64_t *shape, weft_tensor_t **out);

/* Every element of the view set to value (converted to the dtype; floats
 * round to nearest even, integers truncate toward zero and saturate).
 * Errors: WEFT_EINVAL (NULL), WEFT_ENOTSUP (device memory). */
WEFT_API int weft_tensor_fill(weft_tensor_t *t, double value);
/* One element, by index (ndim entries), as a double / from a double.
 * Errors: WEFT_EINVAL (NULL, index out of range), WEFT_ENOTSUP (device). */
WEFT_API int weft_tensor_get(const weft_tensor_t *t, const int64_t *index, double *out);
WEFT_API int weft_tensor_set(weft_tensor_t *t, const int64_t *index, double value);
/* Copies src's elements into dst (same dtype and shape; any strides, any
 * memory kinds — host, pinned, device, across devices —; overlapping views
 * of one storage are copied as if through a temporary). Done at return
 * (device memory: as cudaMemcpy, after nothing but the copy itself: the
 * caller orders it after the work that wrote src). Errors: WEFT_EINVAL
 * (NULL, dtype or shape differ), WEFT_ENOMEM, WEFT_ENOTSUP (device memory
 * in a build or on a machine without CUDA), WEFT_EDEVICE (a CUDA error,
 * logged). */
WEFT_API int weft_tensor_copy(weft_tensor_t *dst, const weft_tensor_t *src);

/* Publishes t as the running task's result: the task's successors read it
 * with weft_ctx_dep_result (a weft_tensor_t *), and it is released when the
 * last of them finishes (a task without successors keeps it until the
 * graph runs again or is destroyed: read it with weft_task_result). Takes
 * over the caller's reference. Errors: WEFT_EINVAL (NULL, or a spawned
 * child task), in which case the caller keeps its reference. */
WEFT_API int weft_ctx_publish(weft_ctx_t *ctx, weft_tensor_t *t);

/* The tensor the i-th dependency published (weft_ctx_publish), in memory
 * the running task can use — the way to read tensors across devices:
 *  - in a GPU task (weft/cuda.h) on device d: device memory of d. A
 *    tensor elsewhere (host, pinned, another device) is copied there on
 *    the task's stream, ahead of the work the function enqueues after this
 *    call; the dependency's other consumers on d share that copy (on
 *    other streams they wait for it with an event, never on the host);
 *  - in any other task: host-accessible memory. A GPU task whose result is
 *    in device memory and that has successors other than GPU tasks copies
 *    it to pinned host memory on its stream after its work, before its
 *    completion event: those successors find it ready when they start
 *    (a tensor in device memory published by a CPU task is copied at this
 *    call instead).
 * Copies are contiguous, borrowed (valid while the task runs; they live
 * with the published tensor and go with it), and for reading: what a
 * consumer writes to one is neither seen by the producer nor copied back.
 * Publishing the tensor again drops its copies. Errors: WEFT_EINVAL (NULL,
 * i out of range, the dependency published no tensor), WEFT_ESTATE (in a
 * function being captured into a CUDA graph), WEFT_ENOMEM, WEFT_ENOTSUP
 * (no such memory in this build or machine), WEFT_EDEVICE (the copy
 * failed); a GPU task returning the error fails with the reason in
 * weft_task_error. */
WEFT_API int weft_ctx_dep_tensor(const weft_ctx_t *ctx, size_t i, weft_tensor_t **out);

#ifdef __cplusplus
}
#endif

#endif
