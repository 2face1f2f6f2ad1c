/* Warnings: to the program's handler (weft/log.h) or to stderr, one
 * write(2) per line. */
#include "base/base.h"
#include "weft/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The handler and its data, replaced together: a reader takes the pair
 * with one atomic load (the pairs are never freed: a handful per process
 * at most). */
typedef struct handler {
    weft_log_fn fn;
    void *ud;
    struct handler *older; /* kept reachable: another thread may still call it */
} handler_t;
static _Atomic(handler_t *) current;
static handler_t *retired; /* handlers replaced, and "back to stderr" markers */

int weft_log_set_handler(weft_log_fn fn, void *ud)
{
    handler_t *h = NULL;
    if (fn) {
        h = malloc(sizeof *h); /* not the hooks: it outlives them */
        if (!h)
            return WEFT_ENOMEM;
        h->fn = fn;
        h->ud = ud;
        h->older = NULL;
    }
    /* release: a logger that sees h sees its fields; the old pair stays
     * allocated (and reachable), as another thread may be calling it */
    handler_t *old = atomic_exchange_explicit(&current, h, memory_order_acq_rel);
    if (old) {
        old->older = retired;
        retired = old;
    }
    return 0;
}

void weft__log(const char *fmt, ...)
{
    char line[1024];
    const size_t pre = 6; /* "weft: " */
    memcpy(line, "weft: ", pre);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + pre, sizeof line - pre - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = pre + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    handler_t *h = atomic_load_explicit(&current, memory_order_acquire);
    if (h) {
        line[len] = '\0';
        h->fn(h->ud, line + pre);
        return;
    }
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc; /* nothing sensible to do when stderr is gone */
}
