/* tasks — the watchdog process that ends task process groups when weft
 * dies without a chance to (see watchdog.c). Private to tasks/. */
#ifndef WEFT_TASKS_WATCHDOG_H
#define WEFT_TASKS_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

typedef struct weft__watchdog {
    int fd;    /* our end of the socket pair; -1: none */
    pid_t pid; /* the watchdog process */
} weft__watchdog_t;

/* Forks the watchdog. 0, or -1 (errno set; wd then watches nothing). */
int weft__watchdog_start(weft__watchdog_t *wd);
/* A process group was started (before anything else can reap it) /
 * reaped (while its leader is still a zombie). Any one thread at a time. */
void weft__watchdog_add(const weft__watchdog_t *wd, int pgid, uint64_t grace_ns);
void weft__watchdog_remove(const weft__watchdog_t *wd, int pgid);
/* Lets it go (it kills what it still watches, then exits) and reaps it. */
void weft__watchdog_stop(weft__watchdog_t *wd);

#endif
