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

/* Errors: WEFT_EINVAL (depth outside 0..16), WEFT_ENOMEM. */
int weft__track_create(int depth, weft__track_t **out);
void weft__track_destroy(weft__track_t *t);
int weft__track_depth(const weft__track_t *t);

/* Records block p (size bytes). task may be NULL (outside any task), file
 * NULL (no file:line). Out of memory: the block goes unrecorded and is
 * counted as such. */
void weft__track_alloc(weft__track_t *t, const void *p, size_t size, const char *task, const char *file, int line,
                       void *const *trace, int ntrace);
/* Forgets p; returns 1 if it was recorded. */
int weft__track_free(weft__track_t *t, const void *p);

/* The bytes the task's blocks hold now and at most (0, 0 for a task never
 * seen). */
void weft__track_task_usage(weft__track_t *t, const char *task, size_t *current, size_t *peak);

/* A copy of the records, aggregated by (task, site). */
int weft__track_snapshot(weft__track_t *t, weft_mem_snapshot_t **out);

/* The live blocks, grouped by task and site, written as a leak report
 * ("weft: memory leak: ..." lines); returns the number of blocks. */
size_t weft__track_report_leaks(weft__track_t *t, FILE *f);

#endif
