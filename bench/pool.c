/* bench/pool — ns per alloc+free pair from tasks on all workers, at 64 B,
 * 4 KiB, 64 KiB, 1 MiB and 16 MiB: weft's pool against glibc malloc and
 * jemalloc (mallocx, when the program has it: this one links it the
 * weft.pc way, after libc). Each task writes one byte of every block, so
 * nothing is optimized away and a fresh page costs its fault.
 *
 * Every figure is the median of 5 runs of a graph with one task per
 * worker, each task doing `iters` pairs, each allocator and size in a
 * fresh child process (one allocator's leftovers slow the next one down
 * by up to 2x here); the time is per pair and per thread (the workers run
 * at once).
 *
 *   build/bench/pool [scale]     (scale multiplies the iterations; default 1) */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

enum { POOL, GLIBC, JEMALLOC, NALLOC };
static const char *names[NALLOC] = {"weft pool", "glibc malloc", "jemalloc mallocx"};

static void *(*je_mallocx)(size_t, int);
static void (*je_sdallocx)(void *, size_t, int);

typedef struct job {
    int which;
    size_t size;
    long iters;
} job_t;

static int pairs(weft_ctx_t *ctx, void *arg)
{
    const job_t *j = arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    size_t size = j->size;
    for (long i = 0; i < j->iters; i++) {
        volatile char *p;
        switch (j->which) {
        case POOL:
            p = weft_mem_alloc(rt, size);
            p[0] = (char)i;
            weft_mem_free(rt, (void *)p);
            break;
        case GLIBC:
            p = malloc(size);
            p[0] = (char)i;
            free((void *)p);
            break;
        default:
            p = je_mallocx(size, 6); /* MALLOCX_LG_ALIGN(6): 64-byte aligned, like the pool */
            p[0] = (char)i;
            je_sdallocx((void *)p, size, 6);
            break;
        }
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ns per pair per thread, one run of the graph. */
static double measure(weft_runtime_t *rt, weft_graph_t *g, job_t *job)
{
    double t0 = now();
    if (weft_graph_run(rt, g) != 0)
        exit(1);
    return (now() - t0) / (double)job->iters * 1e9;
}

/* Runs body(arg, out) in a fresh child process and returns its two
 * results: allocators leave state behind (arenas, purging, trimming, cold
 * caches) that slows whichever runs next in the same process. The child
 * gets its own runtime (tasks on the workers only). */
typedef int (*child_body_t)(weft_runtime_t *rt, const void *arg, double out[2]);

static void in_child(child_body_t body, const void *arg, double out[2], const char *what)
{
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        close(fds[0]);
        weft_config_t cfg;
        weft_config_init(&cfg);
        cfg.flags = WEFT_CONFIG_QUIET | WEFT_CONFIG_NO_CALLER_HELP;
        weft_runtime_t *rt;
        double res[2] = {0, 0};
        if (weft_runtime_create(&cfg, &rt) != 0 || body(rt, arg, res) != 0 ||
            write(fds[1], res, sizeof res) != sizeof res)
            _exit(1);
        weft_runtime_destroy(rt);
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], out, 2 * sizeof out[0]);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got != 2 * sizeof out[0] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pool: the %s run failed\n", what);
        exit(1);
    }
}

/* One allocator at one size: ns per pair per thread (median of 5 timed
 * runs, each after an untimed one), and the number of threads. */
static int pairs_body(weft_runtime_t *rt, const void *arg, double out[2])
{
    job_t job = *(const job_t *)arg;
    weft_runtime_info_t info;
    weft_runtime_info(rt, &info);
    weft_graph_t *g;
    if (weft_graph_create(&g) != 0)
        return -1;
    for (int i = 0; i < info.threads; i++)
        weft_graph_add(g, NULL, pairs, &job);
    double v[5];
    for (int r = 0; r < 5; r++) {
        measure(rt, g, &job);
        v[r] = measure(rt, g, &job);
    }
    weft_graph_destroy(g);
    qsort(v, 5, sizeof v[0], by_value);
    out[0] = v[2];
    out[1] = info.threads;
    return 0;
}

/* ---- tracking's cost on an allocation-heavy graph ------------------------- */

#define HEAVY_TASKS 4000
#define HEAVY_BLOCKS 16

/* Allocates 16 blocks of 256 B to 16 KiB, writes each whole and reads it
 * back, frees them: work proportional to the memory, as a numerical task's. */
static int heavy(weft_ctx_t *ctx, void *arg)
{
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1, sum = 0;
    unsigned char *p[HEAVY_BLOCKS];
    size_t n[HEAVY_BLOCKS];
    for (int i = 0; i < HEAVY_BLOCKS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n[i] = 256 + x % (16 << 10);
        p[i] = weft_mem_alloc(rt, n[i]);
        if (!p[i])
            return -1;
        memset(p[i], (int)i, n[i]);
    }
    for (int i = 0; i < HEAVY_BLOCKS; i++) {
        for (size_t k = 0; k < n[i]; k += 64)
            sum += p[i][k];
        weft_mem_free(rt, p[i]);
    }
    return sum == 1 ? -1 : 0; /* keeps the reads */
}

/* Seconds per run (median of 7, each after a warm-up run) of the heavy
 * graph, tracking at depth *arg (-1: off). */
static int heavy_body(weft_runtime_t *rt, const void *arg, double out[2])
{
    int depth = *(const int *)arg;
    weft_graph_t *g;
    if (weft_graph_create(&g) != 0)
        return -1;
    for (uintptr_t i = 0; i < HEAVY_TASKS; i++)
        weft_graph_add(g, NULL, heavy, (void *)i);
    if (depth >= 0 && weft_mem_track_start(rt, depth) != 0)
        return -1;
    double v[7];
    for (int r = 0; r < 7; r++) {
        weft_graph_run(rt, g); /* warm */
        double t0 = now();
        if (weft_graph_run(rt, g) != 0)
            return -1;
        v[r] = now() - t0;
    }
    weft_graph_destroy(g);
    qsort(v, 7, sizeof v[0], by_value);
    out[0] = v[3];
    return 0;
}

#define HEAVY_ROUNDS 5

/* The median over HEAVY_ROUNDS fresh processes of each depth in
 * depths[0..n), taken in turn (so that the machine's slow spells fall on
 * all of them alike) into out[]. */
static void heavy_rounds(const int *depths, int n, double *out)
{
    double v[8][HEAVY_ROUNDS];
    for (int r = 0; r < HEAVY_ROUNDS; r++)
        for (int i = 0; i < n; i++) {
            double o[2];
            in_child(heavy_body, &depths[i], o, "tracking");
            v[i][r] = o[0];
        }
    for (int i = 0; i < n; i++) {
        qsort(v[i], HEAVY_ROUNDS, sizeof v[i][0], by_value);
        out[i] = v[i][HEAVY_ROUNDS / 2];
    }
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    if (scale <= 0) {
        fprintf(stderr, "usage: pool [scale > 0]\n");
        return 2;
    }
    void *mx = dlsym(RTLD_DEFAULT, "mallocx"), *sdx = dlsym(RTLD_DEFAULT, "sdallocx");
    memcpy(&je_mallocx, &mx, sizeof mx);
    memcpy(&je_sdallocx, &sdx, sizeof sdx);
    static const size_t sizes[] = {64, 4096, 65536, 1 << 20, 16 << 20};
    static const long iters[] = {2000000, 1000000, 500000, 200000, 20000};
    int threads = 0;
    double t[5][NALLOC];
    for (size_t s = 0; s < 5; s++) {
        long n = (long)((double)iters[s] * scale);
        for (int w = 0; w < NALLOC; w++)
            if (w == JEMALLOC && !je_mallocx) {
                t[s][w] = -1;
            } else {
                job_t job = {w, sizes[s], n < 1 ? 1 : n};
                double out[2];
                in_child(pairs_body, &job, out, names[w]);
                t[s][w] = out[0];
                threads = (int)out[1];
            }
    }
    printf("pool: ns per alloc+free pair, per thread, %d threads (median of 5, each in a fresh process)\n", threads);
    printf("  %-8s %12s %14s %18s %12s\n", "size", names[POOL], names[GLIBC], names[JEMALLOC], "pool/best");
    for (size_t s = 0; s < 5; s++) {
        double best = t[s][GLIBC];
        if (t[s][JEMALLOC] >= 0 && t[s][JEMALLOC] < best)
            best = t[s][JEMALLOC];
        char label[32];
        if (sizes[s] >= 1 << 20)
            snprintf(label, sizeof label, "%zu MiB", sizes[s] >> 20);
        else if (sizes[s] >= 1024)
            snprintf(label, sizeof label, "%zu KiB", sizes[s] >> 10);
        else
            snprintf(label, sizeof label, "%zu B", sizes[s]);
        char je[32];
        if (t[s][JEMALLOC] >= 0)
            snprintf(je, sizeof je, "%.1f", t[s][JEMALLOC]);
        else
            snprintf(je, sizeof je, "(not loaded)");
        printf("  %-8s %12.1f %14.1f %18s %11.2fx\n", label, t[s][POOL], t[s][GLIBC], je, t[s][POOL] / best);
    }
    static const int depths[] = {-1, 1, 8};
    double h[3];
    heavy_rounds(depths, 3, h);
    double off = h[0], d1 = h[1], d8 = h[2];
    printf("tracking: %d tasks x %d blocks of 256 B-16 KiB, each written and read (median of %d processes, "
           "taken in turn, of the median of 7 runs)\n",
           HEAVY_TASKS, HEAVY_BLOCKS, HEAVY_ROUNDS);
    printf("  %-34s %8.2f ms\n", "tracking off", off * 1e3);
    printf("  %-34s %8.2f ms   %+.1f%% (target <= 15%%)\n", "tracking on, 1 return address", d1 * 1e3,
           (d1 / off - 1) * 100);
    printf("  %-34s %8.2f ms   %+.1f%%\n", "tracking on, 8 return addresses", d8 * 1e3, (d8 / off - 1) * 100);
    return 0;
}
