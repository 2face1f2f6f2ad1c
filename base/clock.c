/* The monotonic clock every timing in weft uses, and the cheap tick clock
 * (the TSC where it can be trusted) with its calibration against it. */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t weft__clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int weft__tick_tsc;
static weft__tick_map_t tick_ref;
static pthread_once_t tick_once = PTHREAD_ONCE_INIT;

/* The TSC counts at one rate on every core, through sleep states, only
 * when the CPU says constant_tsc and nonstop_tsc. */
static int tsc_invariant(void)
{
#if defined(__x86_64__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[4096];
    int ok = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
            break;
        }
    fclose(f);
    return ok;
#else
    return 0;
#endif
}

/* A (tick, ns) pair read as close together as we can: the tightest of a
 * few tries. */
static void pair(uint64_t *tick, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = weft__tick();
        uint64_t n = weft__clock_ns();
        uint64_t b = weft__tick();
        if (b - a < best) {
            best = b - a;
            *tick = a + (b - a) / 2;
            *ns = n;
        }
    }
}

static void tick_setup(void)
{
    weft__tick_tsc = tsc_invariant();
    pair(&tick_ref.tick0, &tick_ref.ns0);
    tick_ref.ns_per_tick = 1.0;
}

void weft__tick_init(void)
{
    pthread_once(&tick_once, tick_setup);
}

weft__tick_map_t weft__tick_scale(void)
{
    weft__tick_init();
    weft__tick_map_t m = tick_ref;
    if (!weft__tick_tsc)
        return m;
    uint64_t t1, n1;
    for (;;) {
        pair(&t1, &n1);
        if (n1 - m.ns0 >= 2000000u && t1 > m.tick0)
            break;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    m.ns_per_tick = (double)(n1 - m.ns0) / (double)(t1 - m.tick0);
    return m;
}

__attribute__((constructor)) static void tick_ctor(void)
{
    weft__tick_init();
}
