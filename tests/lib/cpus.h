/* Test helper: narrow the calling thread (and the threads it creates) to
 * its first allowed CPU, as `taskset -c N` would. Returns that CPU. */
#ifndef WEFT_TEST_CPUS_H
#define WEFT_TEST_CPUS_H

#include <sched.h>

#include "testlib.h"

static int narrow_to_first_cpu(void)
{
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CHECK_EQ(sched_getaffinity(0, sizeof cs, &cs), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &cs))
            first = c;
    CHECK(first >= 0);
    CPU_ZERO(&cs);
    CPU_SET(first, &cs);
    CHECK_EQ(sched_setaffinity(0, sizeof cs, &cs), 0);
    return first;
}

#endif
