/* libweft-memtrace.so: plain malloc attributed to weft tasks, opt-in.
 *
 *   LD_PRELOAD=libweft-memtrace.so [WEFT_MEMTRACE_OUT=report.txt|.json] prog
 *   weft run --trace-malloc flow.toml      (re-executes itself with it)
 *
 * It interposes malloc, calloc, realloc, reallocarray, free,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * malloc_usable_size. Each block gets a 16-byte header in front (its
 * requested size, where it came from) and is attributed to the weft task
 * running on the calling thread (libweft hands over the calls that name it,
 * memory/memtrace.h) and to its call site (the caller's return address).
 * The memory itself comes from the next allocator in the process (jemalloc
 * in the weft command, else the C library).
 *
 * Kept per task: bytes now and at most, allocations and bytes allocated;
 * per (task, call site): bytes and blocks now, allocations. Written by
 * weft_memtrace_report() (the weft command calls it after a run), and at
 * exit to $WEFT_MEMTRACE_OUT when it is set, or to stderr when no report
 * was asked for. Not part of libweft: it must not depend on it. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/intern.h"
#include "memory/memtrace.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT weft_memtrace_attach_fn weft_memtrace_attach;
EXPORT weft_memtrace_report_fn weft_memtrace_report;
#define HDR 16
#define MAGIC UINT64_C(0x57EF)
#define MAX_SIZE (UINT64_C(1) << 47)
#define CHUNK 4096
#define MAX_CHUNKS 1024 /* up to 4M tasks and 4M sites */
#define SITE_CACHE 64

/* In front of every block: its size (with MAGIC in the top 16 bits), its
 * entry (task and site) and how far the block is from what the allocator
 * gave (16-byte units; aligned blocks). */
typedef struct hdr {
    uint32_t entry;
    uint32_t off16;
    uint64_t size_magic;
} hdr_t;

typedef struct task {
    char *label; /* NULL: outside any task */
    _Atomic int64_t current, peak;
    _Atomic uint64_t allocs, bytes;
} task_t;

typedef struct entry {
    uint32_t task;
    const void *pc;
    _Atomic int64_t current, blocks;
    _Atomic uint64_t allocs;
} entry_t;

/* ---- the next allocator ---------------------------------------------------- */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static size_t (*next_usable)(void *);

/* What dlsym itself allocates while the next allocator is looked up. */
static alignas(16) char boot[8192];
static size_t boot_used;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *boot_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static bool is_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static __thread int looking_up;

static void look_up(void)
{
    looking_up = 1;
    *(void **)&next_malloc = dlsym(RTLD_NEXT, "malloc");
    *(void **)&next_calloc = dlsym(RTLD_NEXT, "calloc");
    *(void **)&next_realloc = dlsym(RTLD_NEXT, "realloc");
    *(void **)&next_free = dlsym(RTLD_NEXT, "free");
    *(void **)&next_usable = dlsym(RTLD_NEXT, "malloc_usable_size");
    looking_up = 0;
    if (!next_malloc || !next_calloc || !next_realloc || !next_free) {
        static const char msg[] = "weft-memtrace: the next malloc cannot be found; aborting\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
}

static inline bool ready(void)
{
    if (__builtin_expect(next_malloc != NULL, 1))
        return true;
    if (looking_up)
        return false;
    pthread_once(&once, look_up);
    return true;
}

/* ---- tasks and sites --------------------------------------------------------- */

static _Atomic(const weft_memtrace_ops_t *) ops;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(task_t *) task_chunks[MAX_CHUNKS];
static _Atomic(entry_t *) entry_chunks[MAX_CHUNKS];
static uint32_t ntasks, nentries;
static _Atomic int reported;

static task_t *task_at(uint32_t i)
{
    task_t *c = atomic_load_explicit(&task_chunks[i / CHUNK], memory_order_acquire);
    return c ? &c[i % CHUNK] : NULL;
}

static entry_t *entry_at(uint32_t i)
{
    entry_t *c = atomic_load_explicit(&entry_chunks[i / CHUNK], memory_order_acquire);
    return c ? &c[i % CHUNK] : NULL;
}

/* The calling thread: inside the tracer (its own allocations and libweft's
 * calls go straight to the next allocator), and what it looked up last. */
static __thread struct {
    int busy;
    const void *task; /* the weft task seen last ... */
    char label[64];   /* ... its name (a copy; truncated names are compared whole below) */
    uint32_t task_id; /* ... and its id + 1 */
    struct {
        const void *pc;
        uint32_t task, id; /* id + 1 */
    } sites[SITE_CACHE];
} me;

static weft__intern_t task_ix, entry_ix; /* ids by hash (lock held) */

static uint64_t hash_label(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h ^ (s ? 0 : 0x5bd1e995);
}

static uint64_t hash_entry(uint32_t task, const void *pc)
{
    uint64_t h = ((uint64_t)(uintptr_t)pc ^ ((uint64_t)task << 40)) * UINT64_C(0x9E3779B97F4A7C15);
    return h ^ h >> 29;
}

static uint64_t task_hash_of(void *ctx, uint32_t id)
{
    (void)ctx;
    return hash_label(task_at(id)->label);
}

static uint64_t entry_hash_of(void *ctx, uint32_t id)
{
    (void)ctx;
    return hash_entry(entry_at(id)->task, entry_at(id)->pc);
}

/* next_calloc and next_free, as functions for weft__intern_grow */
static void *real_calloc(size_t n, size_t size)
{
    return next_calloc(n, size);
}

static void real_free(void *p)
{
    next_free(p);
}

/* lock held. */
static uint32_t intern_task(const char *label)
{
    uint64_t h = hash_label(label);
    for (size_t i = task_ix.cap ? h & (task_ix.cap - 1) : 0; task_ix.cap && task_ix.slots[i];
         i = (i + 1) & (task_ix.cap - 1)) {
        const char *l = task_at(task_ix.slots[i] - 1)->label;
        if (l == label || (l && label && !strcmp(l, label)))
            return task_ix.slots[i] - 1;
    }
    if (ntasks == (uint32_t)MAX_CHUNKS * CHUNK ||
        weft__intern_grow(&task_ix, ntasks, task_hash_of, NULL, real_calloc, real_free))
        return UINT32_MAX;
    if (!atomic_load_explicit(&task_chunks[ntasks / CHUNK], memory_order_relaxed)) {
        task_t *c = next_calloc(CHUNK, sizeof *c);
        if (!c)
            return UINT32_MAX;
        atomic_store_explicit(&task_chunks[ntasks / CHUNK], c, memory_order_release);
    }
    task_t *t = task_at(ntasks);
    if (label) {
        size_t n = strlen(label) + 1;
        if (!(t->label = next_malloc(n)))
            return UINT32_MAX;
        memcpy(t->label, label, n);
    }
    weft__intern_put(&task_ix, h, ntasks);
    return ntasks++;
}

/* lock held. */
static uint32_t intern_entry(uint32_t task, const void *pc)
{
    uint64_t h = hash_entry(task, pc);
    for (size_t i = entry_ix.cap ? h & (entry_ix.cap - 1) : 0; entry_ix.cap && entry_ix.slots[i];
         i = (i + 1) & (entry_ix.cap - 1)) {
        entry_t *e = entry_at(entry_ix.slots[i] - 1);
        if (e->task == task && e->pc == pc)
            return entry_ix.slots[i] - 1;
    }
    if (nentries == (uint32_t)MAX_CHUNKS * CHUNK ||
        weft__intern_grow(&entry_ix, nentries, entry_hash_of, NULL, real_calloc, real_free))
        return UINT32_MAX;
    if (!atomic_load_explicit(&entry_chunks[nentries / CHUNK], memory_order_relaxed)) {
        entry_t *c = next_calloc(CHUNK, sizeof *c);
        if (!c)
            return UINT32_MAX;
        atomic_store_explicit(&entry_chunks[nentries / CHUNK], c, memory_order_release);
    }
    entry_t *e = entry_at(nentries);
    e->task = task;
    e->pc = pc;
    weft__intern_put(&entry_ix, h, nentries);
    return nentries++;
}

/* The entry of an allocation made now from pc; UINT32_MAX: none (out of
 * memory, or called from inside the tracer). */
static uint32_t entry_now(const void *pc)
{
    const weft_memtrace_ops_t *o = atomic_load_explicit(&ops, memory_order_acquire);
    me.busy = 1;
    const void *task = o ? o->running() : NULL;
    char buf[32];
    const char *label = task ? o->label(task, buf, sizeof buf) : NULL;
    if (!me.task_id || me.task != task ||
        (label ? strncmp(me.label, label, sizeof me.label) || strlen(label) >= sizeof me.label : me.label[0])) {
        /* another task (or one whose name does not fit the copy: looked up each time) */
        pthread_mutex_lock(&lock);
        uint32_t id = intern_task(label);
        pthread_mutex_unlock(&lock);
        if (id == UINT32_MAX) {
            me.busy = 0;
            return UINT32_MAX;
        }
        me.task = task;
        me.task_id = id + 1;
        snprintf(me.label, sizeof me.label, "%s", label ? label : "");
    }
    uint32_t tid = me.task_id - 1;
    size_t slot = (((uintptr_t)pc >> 2) ^ tid * 0x9E3779B1u) % SITE_CACHE;
    uint32_t id;
    if (me.sites[slot].id && me.sites[slot].pc == pc && me.sites[slot].task == tid) {
        id = me.sites[slot].id - 1;
    } else {
        pthread_mutex_lock(&lock);
        id = intern_entry(tid, pc);
        pthread_mutex_unlock(&lock);
        if (id != UINT32_MAX) {
            me.sites[slot].pc = pc;
            me.sites[slot].task = tid;
            me.sites[slot].id = id + 1;
        }
    }
    me.busy = 0;
    return id;
}

static void peak_at_least(_Atomic int64_t *peak, int64_t v)
{
    int64_t p = atomic_load_explicit(peak, memory_order_relaxed);
    while (v > p && !atomic_compare_exchange_weak_explicit(peak, &p, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

static void account(uint32_t id, int64_t bytes)
{
    entry_t *e = entry_at(id);
    task_t *t = task_at(e->task);
    atomic_fetch_add_explicit(&e->current, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->blocks, bytes >= 0 ? 1 : -1, memory_order_relaxed);
    int64_t now = atomic_fetch_add_explicit(&t->current, bytes, memory_order_relaxed) + bytes;
    if (bytes >= 0) {
        atomic_fetch_add_explicit(&e->allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->bytes, (uint64_t)bytes, memory_order_relaxed);
        peak_at_least(&t->peak, now);
    }
}

/* ---- blocks -------------------------------------------------------------------- */

static hdr_t *hdr_of(void *p)
{
    hdr_t *h = (hdr_t *)((char *)p - HDR);
    return h->size_magic >> 48 == MAGIC ? h : NULL;
}

/* A block of `size` bytes aligned to `align` (a power of two >= 16) from
 * base (what the next allocator gave), recorded; NULL when base is. */
static void *place(void *base, size_t size, size_t align, const void *pc)
{
    if (!base)
        return NULL;
    uintptr_t p = ((uintptr_t)base + HDR + align - 1) & ~(uintptr_t)(align - 1);
    hdr_t *h = (hdr_t *)(p - HDR);
    uint32_t id = me.busy ? UINT32_MAX : entry_now(pc);
    h->entry = id;
    h->off16 = (uint32_t)((p - (uintptr_t)base) / 16);
    h->size_magic = (uint64_t)size | MAGIC << 48;
    if (id != UINT32_MAX)
        account(id, (int64_t)size);
    return (void *)p;
}

/* The block's accounting undone; what the next allocator must free. */
static void *unplace(void *p, hdr_t *h)
{
    if (h->entry != UINT32_MAX)
        account(h->entry, -(int64_t)(h->size_magic & (MAX_SIZE * 2 - 1)));
    h->size_magic = 0; /* a second free is not counted twice */
    return (char *)p - (size_t)h->off16 * 16;
}

static void *alloc_aligned(size_t size, size_t align, const void *pc)
{
    if (size >= MAX_SIZE || align > MAX_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    if (align < 16)
        align = 16;
    size_t extra = HDR + (align > 16 ? align : 0);
    return place(next_malloc(size + extra), size, align, pc);
}

EXPORT void *malloc(size_t size)
{
    if (!ready())
        return boot_alloc(size);
    return alloc_aligned(size, 16, __builtin_return_address(0));
}

EXPORT void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total) || total >= MAX_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    if (!ready())
        return boot_alloc(total); /* static: zeroed */
    return place(next_calloc(1, total + HDR), total, 16, __builtin_return_address(0));
}

EXPORT void free(void *p)
{
    if (!p || is_boot(p))
        return;
    if (!ready())
        return;
    hdr_t *h = hdr_of(p);
    if (!h) { /* not ours (a double free comes here too): the next allocator judges */
        next_free(p);
        return;
    }
    next_free(unplace(p, h));
}

EXPORT void *realloc(void *p, size_t size)
{
    const void *pc = __builtin_return_address(0);
    if (!p)
        return ready() ? alloc_aligned(size, 16, pc) : boot_alloc(size);
    if (!ready() || is_boot(p)) { /* a boot block moves to the next allocator */
        void *n = ready() ? alloc_aligned(size, 16, pc) : boot_alloc(size);
        size_t room = (size_t)(boot + sizeof boot - (char *)p); /* (a boot block's size is not kept) */
        if (n)
            memcpy(n, p, size < room ? size : room);
        return n;
    }
    if (size == 0) {
        free(p);
        return NULL;
    }
    hdr_t *h = hdr_of(p);
    if (!h)
        return next_realloc(p, size);
    size_t old = (size_t)(h->size_magic & (MAX_SIZE * 2 - 1));
    if (h->off16 != 1 || size >= MAX_SIZE) { /* aligned, or too big: a new block */
        void *n = alloc_aligned(size, 16, pc);
        if (n) {
            memcpy(n, p, old < size ? old : size);
            free(p);
        }
        return n;
    }
    uint32_t entry = h->entry;
    void *base = (char *)p - HDR;
    void *nb = next_realloc(base, size + HDR);
    if (!nb)
        return NULL; /* p stays as it was */
    h = nb;
    if (entry != UINT32_MAX)
        account(entry, -(int64_t)old);
    h->size_magic = 0;
    return place(nb, size, 16, pc);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!align || (align & (align - 1)) || align % sizeof(void *))
        return EINVAL;
    if (!ready())
        return ENOMEM;
    void *p = alloc_aligned(size, align, __builtin_return_address(0));
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!align || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return ready() ? alloc_aligned(size, align, __builtin_return_address(0)) : NULL;
}

EXPORT void *memalign(size_t align, size_t size)
{
    return aligned_alloc(align, size);
}

EXPORT void *valloc(size_t size)
{
    return ready() ? alloc_aligned(size, (size_t)sysconf(_SC_PAGESIZE), __builtin_return_address(0)) : NULL;
}

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return ready() ? alloc_aligned((size + page - 1) & ~(page - 1), page, __builtin_return_address(0)) : NULL;
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p || is_boot(p) || !ready())
        return 0;
    hdr_t *h = hdr_of(p);
    if (!h)
        return next_usable ? next_usable(p) : 0;
    if (!next_usable)
        return (size_t)(h->size_magic & (MAX_SIZE * 2 - 1));
    return next_usable((char *)p - (size_t)h->off16 * 16) - (size_t)h->off16 * 16;
}

/* ---- libweft and reports ---------------------------------------------------------- */

EXPORT void weft_memtrace_attach(const weft_memtrace_ops_t *o)
{
    if (o && o->version == WEFT_MEMTRACE_OPS_VERSION)
        atomic_store_explicit(&ops, o, memory_order_release);
}

static int by_peak(const void *a, const void *b)
{
    const task_t *x = *(task_t *const *)a, *y = *(task_t *const *)b;
    int64_t px = atomic_load(&x->peak), py = atomic_load(&y->peak);
    return (px < py) - (px > py);
}

static int by_current(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int64_t cx = atomic_load(&x->current), cy = atomic_load(&y->current);
    if (cx != cy)
        return (cx < cy) - (cx > cy);
    uint64_t ax = atomic_load(&x->allocs), ay = atomic_load(&y->allocs);
    return (ax < ay) - (ax > ay);
}

/* "function+0xoff (library)" for pc, or its address. */
static void site_name(const void *pc, char *buf, size_t size)
{
    Dl_info di;
    if (pc && dladdr(pc, &di) && di.dli_fname) {
        const char *lib = strrchr(di.dli_fname, '/');
        lib = lib ? lib + 1 : di.dli_fname;
        if (di.dli_sname)
            snprintf(buf, size, "%s+0x%tx (%s)", di.dli_sname, (const char *)pc - (const char *)di.dli_saddr, lib);
        else
            snprintf(buf, size, "%s+0x%tx", lib, (const char *)pc - (const char *)di.dli_fbase);
    } else {
        snprintf(buf, size, "%p", pc);
    }
}

EXPORT int weft_memtrace_report(FILE *f, int json, size_t top)
{
    if (!f || !ready())
        return -1;
    atomic_store(&reported, 1);
    me.busy++; /* the report's own allocations (stdio, dladdr) are not counted */
    pthread_mutex_lock(&lock);
    uint32_t nt = ntasks, ne = nentries;
    pthread_mutex_unlock(&lock);
    task_t **ts = next_malloc((nt + 1) * sizeof *ts);
    entry_t **es = next_malloc((ne + 1) * sizeof *es);
    if (!ts || !es) {
        next_free(ts);
        next_free(es);
        me.busy--;
        return -1;
    }
    for (uint32_t i = 0; i < nt; i++)
        ts[i] = task_at(i);
    for (uint32_t i = 0; i < ne; i++)
        es[i] = entry_at(i);
    qsort(ts, nt, sizeof *ts, by_peak);
    qsort(es, ne, sizeof *es, by_current);
    size_t top_tasks = top == 0 || top > nt ? nt : top;
    if (top == 0 || top > ne)
        top = ne;
    char name[512];
    if (json) {
        fprintf(f, "{\"tasks\": [");
        for (size_t i = 0; i < top_tasks; i++) {
            fprintf(f, "%s\n  {\"task\": ", i ? "," : "");
            if (ts[i]->label)
                weft__json_fputs(f, ts[i]->label);
            else
                fputs("null", f);
            fprintf(f,
                    ", \"current\": %" PRId64 ", \"peak\": %" PRId64 ", \"allocs\": %" PRIu64 ", \"bytes\": %" PRIu64
                    "}",
                    atomic_load(&ts[i]->current), atomic_load(&ts[i]->peak), atomic_load(&ts[i]->allocs),
                    atomic_load(&ts[i]->bytes));
        }
        fprintf(f, "],\n\"sites\": [");
        for (size_t i = 0; i < top; i++) {
            const char *label = task_at(es[i]->task)->label;
            site_name(es[i]->pc, name, sizeof name);
            fprintf(f, "%s\n  {\"task\": ", i ? "," : "");
            if (label)
                weft__json_fputs(f, label);
            else
                fputs("null", f);
            fprintf(f, ", \"site\": ");
            weft__json_fputs(f, name);
            fprintf(f, ", \"current\": %" PRId64 ", \"blocks\": %" PRId64 ", \"allocs\": %" PRIu64 "}",
                    atomic_load(&es[i]->current), atomic_load(&es[i]->blocks), atomic_load(&es[i]->allocs));
        }
        fprintf(f, "]}\n");
    } else {
        fprintf(f,
                "malloc by task (%zu of %" PRIu32 ", biggest peak first; current: still allocated now)\n"
                "  %14s %14s %12s %16s  %s\n",
                top_tasks, nt, "current", "peak", "allocs", "bytes allocated", "task");
        for (size_t i = 0; i < top_tasks; i++)
            fprintf(f, "  %14" PRId64 " %14" PRId64 " %12" PRIu64 " %16" PRIu64 "  %s\n", atomic_load(&ts[i]->current),
                    atomic_load(&ts[i]->peak), atomic_load(&ts[i]->allocs), atomic_load(&ts[i]->bytes),
                    ts[i]->label ? ts[i]->label : "(outside any task)");
        fprintf(f, "malloc by call site (%zu of %" PRIu32 ", most bytes still allocated first)\n  %14s %8s %12s  %s\n",
                top, ne, "current", "blocks", "allocs", "task / site");
        for (size_t i = 0; i < top; i++) {
            const char *label = task_at(es[i]->task)->label;
            site_name(es[i]->pc, name, sizeof name);
            fprintf(f, "  %14" PRId64 " %8" PRId64 " %12" PRIu64 "  %s / %s\n", atomic_load(&es[i]->current),
                    atomic_load(&es[i]->blocks), atomic_load(&es[i]->allocs), label ? label : "(outside any task)",
                    name);
        }
    }
    next_free(ts);
    next_free(es);
    int rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
    me.busy--;
    return rc;
}

__attribute__((destructor)) static void at_exit(void)
{
    if (!next_malloc)
        return;
    const char *out = getenv("WEFT_MEMTRACE_OUT");
    if (out && *out) {
        FILE *f = fopen(out, "w");
        size_t n = strlen(out);
        if (!f || weft_memtrace_report(f, n > 5 && !strcmp(out + n - 5, ".json"), 20) != 0)
            fprintf(stderr, "weft-memtrace: cannot write the report to %s\n", out);
        if (f)
            fclose(f);
    } else if (!atomic_load(&reported)) {
        weft_memtrace_report(stderr, 0, 20);
    }
}
