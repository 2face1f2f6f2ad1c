/* tasks — the watchdog process that ends task process groups when weft
 * dies without a chance to (see watchdog.c). Private to tasks/. */
#ifndef WEFT_TASKS_WATCHDOG_H
#define WEFT_TASKS_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

struct weft__wd_entry;

typedef struct weft__watchdog {
    int fd;                     /* our end of the socket pair; -1: none */
    pid_t pid;                  /* the watchdog process */
    struct weft__wd_entry *tab; /* shared with it: the groups to end */
    int32_t *free_slots;        /* ours: slots of tab given back */
    size_t nfree, used;
} weft__watchdog_t;

/* Forks the watchdog. 0, or -1 (errno set; wd then watches nothing). */
int weft__watchdog_start(weft__watchdog_t *wd);
/* A process group was started (before anything else can reap it): its
 * slot in the table (-1: not watched) / reaped (while its leader is still
 * a zombie): its slot given back. One thread at a time. */
int weft__watchdog_add(weft__watchdog_t *wd, int pgid, uint64_t grace_ns);
void weft__watchdog_remove(weft__watchdog_t *wd, int slot);
/* Lets it go (it kills what it still watches, then exits) and reaps it. */
void weft__watchdog_stop(weft__watchdog_t *wd);

#endif
