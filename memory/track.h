/* memory/track — where the pool's memory went, like Python's tracemalloc:
 * every live block recorded with its size, the task that allocated it and
 * its call site (file:line when the caller passed them, and up to `depth`
 * return addresses). Internal to memory/ (the public calls are in
 * include/weft/memory.h and defined in pool.c). */
#ifndef WEFT_MEMORY_TRACK_H
#define WEFT_MEMORY_TRACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/memory.h"

#define WEFT__TRACK_MAX_DEPTH 16

typedef struct weft__track weft__track_t;

/* A block's record, kept by the pool next to the block's region (a word
 * per block): the tracker's generation (16 bits, never 0), the site and the
 * task (24 bits each); 0 = none. Records of another generation (an earlier
 * tracker) are ignored. */
#define WEFT__REC_GEN(r) ((unsigned)((r) >> 48))
#define WEFT__REC_SITE(r) ((uint32_t)(((r) >> 24) & 0xFFFFFF))
#define WEFT__REC_TASK(r) ((uint32_t)((r)&0xFFFFFF))

/* gen: 1..65535. Errors: WEFT_EINVAL (depth outside 0..16), WEFT_ENOMEM. */
int weft__track_create(int depth, unsigned gen, weft__track_t **out);
void weft__track_destroy(weft__track_t *t);
int weft__track_depth(const weft__track_t *t);
unsigned weft__track_gen(const weft__track_t *t);

/* What one thread looked up last (kept in the pool's slot caches, not in
 * thread-local storage: libweft's static TLS must stay tiny to be
 * dlopen-able). */
#define WEFT__TRACK_CACHE_SITES 16
typedef struct weft__track_cache {
    const weft__track_t *t;
    const void *task_key;
    const char *task_name; /* the interned copy */
    uint32_t task_id;
    struct {
        const char *file;
        int line;
        void *pc;
        uint32_t id; /* + 1; 0: empty */
    } sites[WEFT__TRACK_CACHE_SITES];
} weft__track_cache_t;

/* The record for a block allocated now by `task` (NULL: outside any task;
 * key: something that tells tasks apart quickly, the task object), at
 * file:line (file NULL: none) with `ntrace` return addresses; 0 when out of
 * memory (the block then goes unrecorded). With a cache
 * (the calling thread's own; NULL: none), recent tasks and sites take no
 * lock. */
uint64_t weft__track_record(weft__track_t *t, weft__track_cache_t *cache, const void *key, const char *task,
                            const char *file, int line, void *const *trace, int ntrace);
/* The task of rec now holds `bytes` more (negative: fewer). */
void weft__track_account(weft__track_t *t, uint64_t rec, int64_t bytes);

/* The bytes the task's blocks hold now and at most (0, 0 for a task never
 * seen). */
void weft__track_task_usage(weft__track_t *t, const char *task, size_t *current, size_t *peak);

/* The pool's live records: calls visit(rec, size, vud) for each. */
typedef void (*weft__track_visit_fn)(void *vud, uint64_t rec, size_t size);
typedef void (*weft__track_walk_fn)(void *wud, weft__track_visit_fn visit, void *vud);

/* A copy of this tracker's records (walk enumerates the pool's),
 * aggregated by (task, site). */
int weft__track_snapshot(weft__track_t *t, weft__track_walk_fn walk, void *wud, weft_mem_snapshot_t **out);

/* The live blocks, grouped by task and site, written as a leak report
 * ("weft: memory leak: ..." lines); returns the number of blocks. */
size_t weft__track_report_leaks(weft__track_t *t, weft__track_walk_fn walk, void *wud, FILE *f);

#endif
