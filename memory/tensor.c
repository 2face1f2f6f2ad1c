/* Tensors: views (dtype, shape, strides, offset) of a reference-counted
 * storage block from the runtime's pool (see include/weft/tensor.h). */
#include "weft/tensor.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "memory/memory.h"
#include "base/base.h"

typedef struct storage {
    _Atomic int refs;
    weft_runtime_t *rt;
    char *data;
    int64_t nelem; /* elements the block holds */
    weft_mem_kind_t kind;
    int device;
    int idle_free; /* a mirror's: freed when nothing uses it any more */
} storage_t;

struct weft_tensor {
    _Atomic int refs;
    weft_dtype_t dtype;
    int ndim;
    int64_t shape[WEFT_TENSOR_MAX_DIMS];
    int64_t strides[WEFT_TENSOR_MAX_DIMS]; /* elements */
    int64_t offset;                        /* elements from the block's start */
    storage_t *st;
    /* copies in other memories (memory/memory.h), under mlock */
    _Atomic int mlock;
    int nmirrors;
    weft__mirror_t *mirrors;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[WEFT_DTYPE_COUNT] = {
    [WEFT_F16] = {"f16", 2}, [WEFT_BF16] = {"bf16", 2}, [WEFT_F32] = {"f32", 4},
    [WEFT_F64] = {"f64", 8}, [WEFT_I8] = {"i8", 1},     [WEFT_I32] = {"i32", 4},
    [WEFT_I64] = {"i64", 8}, [WEFT_U8] = {"u8", 1},     [WEFT_BOOL] = {"bool", 1},
};

size_t weft_dtype_size(weft_dtype_t d)
{
    return (unsigned)d < WEFT_DTYPE_COUNT ? dtypes[d].size : 0;
}

const char *weft_dtype_name(weft_dtype_t d)
{
    return (unsigned)d < WEFT_DTYPE_COUNT ? dtypes[d].name : NULL;
}

/* ---- lifetime ------------------------------------------------------------ */

static void storage_release(storage_t *st)
{
    if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (st->idle_free)
        weft__mem_free_idle(st->rt, st->data);
    else
        weft_mem_free(st->rt, st->data);
    weft__free(st);
}

void weft__tensor_mirrors_drop(weft_tensor_t *t)
{
    for (int i = 0; i < t->nmirrors; i++) {
        weft__mirror_t *m = &t->mirrors[i];
        if (m->ev && m->drop)
            m->drop(m->owner, m->device, m->ev);
        weft_tensor_release(m->copy);
    }
    weft__free(t->mirrors);
    t->mirrors = NULL;
    t->nmirrors = 0;
}

static weft_tensor_t *tensor_new(storage_t *st, weft_dtype_t dtype)
{
    weft_tensor_t *t = weft__calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    t->dtype = dtype;
    t->st = st;
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
    return t;
}

static void set_contiguous(weft_tensor_t *t, int ndim, const int64_t *shape)
{
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        stride *= shape[i] ? shape[i] : 1;
    }
}

/* Product of the extents, -1 on overflow past `limit`. */
static int64_t count(int ndim, const int64_t *shape, int64_t limit)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] && n > limit / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

int weft_tensor_create(weft_runtime_t *rt, weft_dtype_t dtype, int ndim, const int64_t *shape, weft_mem_kind_t kind,
                       int device, weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    size_t esize = weft_dtype_size(dtype);
    if (!rt || !esize || ndim < 0 || ndim > WEFT_TENSOR_MAX_DIMS || (ndim > 0 && !shape))
        return WEFT_EINVAL;
    int64_t n = count(ndim, shape, (int64_t)(((size_t)1 << 46) / esize));
    if (n < 0)
        return WEFT_EINVAL;
    storage_t *st = weft__calloc(1, sizeof *st);
    if (!st)
        return WEFT_ENOMEM;
    void *data = NULL;
    int rc = weft_mem_alloc_kind(rt, kind, device, (size_t)n * esize, &data);
    if (rc) {
        weft__free(st);
        return rc;
    }
    st->rt = rt;
    st->data = data;
    st->nelem = n;
    st->kind = kind;
    st->device = device;
    weft_tensor_t *t = tensor_new(st, dtype);
    if (!t) {
        weft_mem_free(rt, data);
        weft__free(st);
        return WEFT_ENOMEM;
    }
    set_contiguous(t, ndim, shape);
    *out = t;
    return 0;
}

int weft_tensor_retain(weft_tensor_t *t)
{
    if (!t)
        return WEFT_EINVAL;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return 0;
}

void weft_tensor_release(weft_tensor_t *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    weft__tensor_mirrors_drop(t);
    storage_release(t->st);
    weft__free(t);
}

/* ---- queries -------------------------------------------------------------- */

weft_dtype_t weft_tensor_dtype(const weft_tensor_t *t)
{
    return t ? t->dtype : WEFT_DTYPE_COUNT;
}

int weft_tensor_ndim(const weft_tensor_t *t)
{
    return t ? t->ndim : -1;
}

const int64_t *weft_tensor_shape(const weft_tensor_t *t)
{
    return t ? t->shape : NULL;
}

const int64_t *weft_tensor_strides(const weft_tensor_t *t)
{
    return t ? t->strides : NULL;
}

int64_t weft_tensor_numel(const weft_tensor_t *t)
{
    return t ? count(t->ndim, t->shape, INT64_MAX) : 0;
}

void *weft_tensor_data(const weft_tensor_t *t)
{
    return t ? t->st->data + t->offset * (int64_t)weft_dtype_size(t->dtype) : NULL;
}

weft_mem_kind_t weft_tensor_kind(const weft_tensor_t *t)
{
    return t ? t->st->kind : WEFT_MEM_HOST;
}

int weft_tensor_device(const weft_tensor_t *t)
{
    return t ? t->st->device : -1;
}

bool weft_tensor_is_contiguous(const weft_tensor_t *t)
{
    if (!t)
        return false;
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expect)
            return false;
        expect *= t->shape[i];
    }
    return true;
}

bool weft_tensor_shares_storage(const weft_tensor_t *a, const weft_tensor_t *b)
{
    return a && b && a->st == b->st;
}

/* ---- views ----------------------------------------------------------------- */

/* Whether every element of (ndim, shape, strides, offset) lies in st. */
static bool in_bounds(const storage_t *st, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset)
{
    int64_t lo = offset, hi = offset;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        if (shape[i] == 0)
            return true; /* no elements */
        int64_t span;
        if (__builtin_mul_overflow(shape[i] - 1, strides[i], &span) ||
            __builtin_add_overflow(span > 0 ? hi : lo, span, span > 0 ? &hi : &lo))
            return false;
    }
    return lo >= 0 && hi < st->nelem;
}

int weft_tensor_view(weft_tensor_t *t, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset,
                     weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!t || ndim < 0 || ndim > WEFT_TENSOR_MAX_DIMS || (ndim > 0 && (!shape || !strides)))
        return WEFT_EINVAL;
    int64_t base = t->offset + offset;
    if ((offset > 0 && base < t->offset) || (offset < 0 && base > t->offset) ||
        !in_bounds(t->st, ndim, shape, strides, base))
        return WEFT_EINVAL;
    weft_tensor_t *v = tensor_new(t->st, t->dtype);
    if (!v)
        return WEFT_ENOMEM;
    v->ndim = ndim;
    if (ndim) {
        memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
        memcpy(v->strides, strides, (size_t)ndim * sizeof *strides);
    }
    v->offset = base;
    *out = v;
    return 0;
}

int weft_tensor_slice(weft_tensor_t *t, int dim, int64_t start, int64_t stop, int64_t step, weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!t || dim < 0 || dim >= t->ndim || step == 0)
        return WEFT_EINVAL;
    int64_t n = t->shape[dim];
    if (start < 0)
        start += n;
    if (stop < 0)
        stop += n;
    /* clamp like Python: start in [0, n) for counting, stop in [-1, n] */
    if (step > 0) {
        start = start < 0 ? 0 : start > n ? n : start;
        stop = stop < start ? start : stop > n ? n : stop;
    } else {
        start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
        stop = stop > start ? start : stop < -1 ? -1 : stop;
    }
    int64_t len = step > 0 ? (stop - start + step - 1) / step : (start - stop + (-step) - 1) / (-step);
    int64_t shape[WEFT_TENSOR_MAX_DIMS], strides[WEFT_TENSOR_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(strides, t->strides, sizeof strides);
    shape[dim] = len;
    strides[dim] = t->strides[dim] * step;
    return weft_tensor_view(t, t->ndim, shape, strides, len ? start * t->strides[dim] : 0, out);
}

int weft_tensor_reshape(weft_tensor_t *t, int ndim, const int64_t *shape, weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!t || ndim < 0 || ndim > WEFT_TENSOR_MAX_DIMS || (ndim > 0 && !shape) || !weft_tensor_is_contiguous(t))
        return WEFT_EINVAL;
    if (count(ndim, shape, INT64_MAX) != weft_tensor_numel(t))
        return WEFT_EINVAL;
    weft_tensor_t tmp;
    set_contiguous(&tmp, ndim, shape);
    return weft_tensor_view(t, ndim, tmp.shape, tmp.strides, 0, out);
}

/* ---- elements --------------------------------------------------------------- */

static uint16_t to_half(double d)
{
    float f = (float)d;
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) /* inf, nan */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u); /* overflow: inf */
    if (e <= 0) {                          /* subnormal or zero */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift, rest = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
        h++; /* may carry into the exponent, up to inf: correct */
    return (uint16_t)(sign | h);
}

static double from_half(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp(man, -24);
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexp(man | 0x400, exp - 25);
    return sign ? -v : v;
}

static uint16_t to_bf16(double d)
{
    float f = (float)d;
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* nan stays nan */
    x += 0x7fffu + ((x >> 16) & 1u);          /* round to nearest even */
    return (uint16_t)(x >> 16);
}

static double from_bf16(uint16_t b)
{
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static int64_t to_int(double v, int64_t lo, int64_t hi)
{
    if (v != v)
        return 0;
    if (v <= (double)lo)
        return lo;
    if (v >= (double)hi)
        return hi;
    return (int64_t)v;
}

static void put(void *p, weft_dtype_t d, double v)
{
    switch (d) {
    case WEFT_F16: {
        uint16_t h = to_half(v);
        memcpy(p, &h, 2);
        break;
    }
    case WEFT_BF16: {
        uint16_t b = to_bf16(v);
        memcpy(p, &b, 2);
        break;
    }
    case WEFT_F32: {
        float f = (float)v;
        memcpy(p, &f, 4);
        break;
    }
    case WEFT_F64: memcpy(p, &v, 8); break;
    case WEFT_I8: *(int8_t *)p = (int8_t)to_int(v, INT8_MIN, INT8_MAX); break;
    case WEFT_I32: {
        int32_t i = (int32_t)to_int(v, INT32_MIN, INT32_MAX);
        memcpy(p, &i, 4);
        break;
    }
    case WEFT_I64: {
        int64_t i = to_int(v, INT64_MIN, INT64_MAX);
        memcpy(p, &i, 8);
        break;
    }
    case WEFT_U8: *(uint8_t *)p = (uint8_t)to_int(v, 0, UINT8_MAX); break;
    default: *(uint8_t *)p = v != 0; break;
    }
}

static double get(const void *p, weft_dtype_t d)
{
    switch (d) {
    case WEFT_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return from_half(h);
    }
    case WEFT_BF16: {
        uint16_t b;
        memcpy(&b, p, 2);
        return from_bf16(b);
    }
    case WEFT_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case WEFT_F64: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case WEFT_I8: return *(const int8_t *)p;
    case WEFT_I32: {
        int32_t i;
        memcpy(&i, p, 4);
        return i;
    }
    case WEFT_I64: {
        int64_t i;
        memcpy(&i, p, 8);
        return (double)i;
    }
    case WEFT_U8: return *(const uint8_t *)p;
    default: return *(const uint8_t *)p != 0;
    }
}

static bool on_host(const weft_tensor_t *t)
{
    return t->st->kind != WEFT_MEM_DEVICE;
}

/* Calls fn on each element's address, row-major. */
static void each(const weft_tensor_t *t, void (*fn)(char *elem, void *ud), void *ud)
{
    int64_t n = weft_tensor_numel(t);
    if (n == 0)
        return;
    size_t es = weft_dtype_size(t->dtype);
    int64_t idx[WEFT_TENSOR_MAX_DIMS] = {0};
    char *base = t->st->data;
    int64_t off = t->offset;
    for (int64_t k = 0; k < n; k++) {
        fn(base + off * (int64_t)es, ud);
        for (int d = t->ndim - 1; d >= 0; d--) {
            off += t->strides[d];
            if (++idx[d] < t->shape[d])
                break;
            off -= t->strides[d] * t->shape[d];
            idx[d] = 0;
        }
    }
}

typedef struct fill_arg {
    char value[8];
    size_t size;
} fill_arg_t;

static void fill_one(char *elem, void *ud)
{
    const fill_arg_t *f = ud;
    memcpy(elem, f->value, f->size);
}

int weft_tensor_fill(weft_tensor_t *t, double value)
{
    if (!t)
        return WEFT_EINVAL;
    if (!on_host(t))
        return WEFT_ENOTSUP;
    fill_arg_t f = {.size = weft_dtype_size(t->dtype)};
    put(f.value, t->dtype, value);
    each(t, fill_one, &f);
    return 0;
}

/* The address of element `index` of a host tensor into *at. */
static int element(const weft_tensor_t *t, const int64_t *index, char **at)
{
    if (!t || (t->ndim && !index))
        return WEFT_EINVAL;
    if (!on_host(t))
        return WEFT_ENOTSUP;
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d])
            return WEFT_EINVAL;
        off += index[d] * t->strides[d];
    }
    *at = t->st->data + off * (int64_t)weft_dtype_size(t->dtype);
    return 0;
}

int weft_tensor_get(const weft_tensor_t *t, const int64_t *index, double *out)
{
    char *at;
    int rc = out ? element(t, index, &at) : WEFT_EINVAL;
    if (rc == 0)
        *out = get(at, t->dtype);
    return rc;
}

int weft_tensor_set(weft_tensor_t *t, const int64_t *index, double value)
{
    char *at;
    int rc = element(t, index, &at);
    if (rc == 0)
        put(at, t->dtype, value);
    return rc;
}

typedef struct copy_arg {
    const weft_tensor_t *src;
    int64_t idx[WEFT_TENSOR_MAX_DIMS], off;
    size_t size;
} copy_arg_t;

/* dst is walked by each(); src follows in the same order. */
static void copy_one(char *elem, void *ud)
{
    copy_arg_t *c = ud;
    const weft_tensor_t *s = c->src;
    memmove(elem, s->st->data + c->off * (int64_t)c->size, c->size);
    for (int d = s->ndim - 1; d >= 0; d--) {
        c->off += s->strides[d];
        if (++c->idx[d] < s->shape[d])
            break;
        c->off -= s->strides[d] * s->shape[d];
        c->idx[d] = 0;
    }
}

/* src's elements into dst by the GPU runtime's copies (any memories),
 * enqueued on stream s or (NULL) done at return. */
static int copy_between(weft_tensor_t *dst, const weft_tensor_t *src, void *s)
{
    int64_t ds[WEFT_TENSOR_MAX_DIMS], ss[WEFT_TENSOR_MAX_DIMS];
    int64_t es = (int64_t)weft_dtype_size(dst->dtype);
    for (int i = 0; i < dst->ndim; i++) {
        ds[i] = dst->strides[i] * es;
        ss[i] = src->strides[i] * es;
    }
    return weft__mem_copy(dst->st->rt, dst->ndim, dst->shape, dst->st->data + dst->offset * es, ds,
                          src->st->data + src->offset * es, ss, (size_t)es, s);
}

/* Through a contiguous copy of src in its own memory kind. */
static int copy_through(weft_tensor_t *dst, const weft_tensor_t *src)
{
    weft_tensor_t *tmp;
    int rc = weft_tensor_create(src->st->rt, src->dtype, src->ndim, src->shape, src->st->kind, src->st->device, &tmp);
    if (rc)
        return rc;
    rc = weft_tensor_copy(tmp, src);
    if (!rc)
        rc = weft_tensor_copy(dst, tmp);
    weft_tensor_release(tmp);
    return rc;
}

int weft_tensor_copy(weft_tensor_t *dst, const weft_tensor_t *src)
{
    if (!dst || !src || dst->dtype != src->dtype || dst->ndim != src->ndim ||
        memcmp(dst->shape, src->shape, (size_t)dst->ndim * sizeof dst->shape[0]))
        return WEFT_EINVAL;
    size_t es = weft_dtype_size(dst->dtype);
    if (!on_host(dst) || !on_host(src)) {
        if (dst->st == src->st) /* they may overlap */
            return copy_through(dst, src);
        return copy_between(dst, src, NULL);
    }
    if (weft_tensor_is_contiguous(dst) && weft_tensor_is_contiguous(src)) {
        memmove(weft_tensor_data(dst), weft_tensor_data(src), (size_t)weft_tensor_numel(src) * es);
        return 0;
    }
    if (dst->st == src->st) /* they may overlap */
        return copy_through(dst, src);
    copy_arg_t c = {.src = src, .off = src->offset, .size = es};
    each(dst, copy_one, &c);
    return 0;
}

/* ---- copies in other memories (memory/memory.h) ------------------------------ */

void weft__tensor_lock(weft_tensor_t *t)
{
    for (int spins = 0;; spins++) {
        int zero = 0;
        if (atomic_compare_exchange_weak_explicit(&t->mlock, &zero, 1, memory_order_acquire, memory_order_relaxed))
            return;
        if (spins > 64)
            sched_yield();
    }
}

void weft__tensor_unlock(weft_tensor_t *t)
{
    atomic_store_explicit(&t->mlock, 0, memory_order_release);
}

weft__mirror_t *weft__tensor_mirror(weft_tensor_t *t, int device)
{
    for (int i = 0; i < t->nmirrors; i++)
        if (t->mirrors[i].device == device)
            return &t->mirrors[i];
    return NULL;
}

int weft__tensor_mirror_make(weft_tensor_t *t, int device, void *s, weft__mirror_t **out)
{
    weft__mirror_t *grown = weft__realloc(t->mirrors, (size_t)(t->nmirrors + 1) * sizeof *grown);
    if (!grown)
        return WEFT_ENOMEM;
    t->mirrors = grown;
    weft_tensor_t *c;
    int rc = weft_tensor_create(t->st->rt, t->dtype, t->ndim, t->shape, device < 0 ? WEFT_MEM_PINNED : WEFT_MEM_DEVICE,
                                device, &c);
    if (rc)
        return rc;
    c->st->idle_free = 1;
    if ((rc = copy_between(c, t, s)) != 0) {
        weft_tensor_release(c);
        return rc;
    }
    weft__mirror_t *m = &t->mirrors[t->nmirrors++];
    *m = (weft__mirror_t){.copy = c, .device = device, .stream = s};
    *out = m;
    return 0;
}
