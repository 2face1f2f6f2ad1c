/* Test helpers shared by several tests: a monotonic clock in seconds, and
 * a small file read whole. */
#ifndef WEFT_TEST_UTIL_H
#define WEFT_TEST_UTIL_H

#include <stdio.h>
#include <time.h>

static inline double test_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first 4 KiB of a file (a static buffer, overwritten by the next
 * call), or NULL when it cannot be read. trim: drop trailing newlines. */
static inline char *test_slurp(const char *path, int trim)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (trim && n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

#endif
