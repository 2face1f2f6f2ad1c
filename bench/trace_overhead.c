/* What tracing costs: 1M tasks of about 1 us of work each (independent,
 * and a chain), run with tracing off and on in the same process, rounds
 * alternating, medians compared (target: on <= 1.05x off); then the time to
 * write the trace of the 1M-task run (target < 1 s), and the empty-task
 * cost per task with tracing off, to set against bench/overhead's figures
 * (tracing compiled in but off must not show there).
 *
 *   build/bench/trace_overhead [tasks] [rounds] [threads]
 *   defaults: 1000000 5 0 (0 = one worker per core) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

static volatile uint64_t sink;
static uint64_t spin_iters = 100;

static inline void work(uint64_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
}

static int task(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    work(spin_iters);
    return 0;
}

static int empty(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

/* iterations of work() taking about 1 us */
static void calibrate(void)
{
    uint64_t n = 1000;
    for (;;) {
        double t0 = weft_seconds();
        work(n * 1000);
        double dt = weft_seconds() - t0;
        if (dt > 0.05) {
            spin_iters = (uint64_t)((double)n * 1e-3 / dt);
            return;
        }
        n *= 2;
    }
}

static weft_runtime_t *make_rt(int threads, int trace)
{
    weft_config_t c;
    weft_config_init(&c);
    c.threads = threads;
    c.trace = trace;
    weft_runtime_t *rt;
    if (weft_runtime_create(&c, &rt) != 0) {
        fprintf(stderr, "cannot create a runtime\n");
        exit(1);
    }
    return rt;
}

static weft_graph_t *make_graph(size_t n, int chain, weft_fn fn)
{
    weft_graph_t *g;
    if (weft_graph_create(&g) != 0)
        exit(1);
    weft_task_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_add(g, NULL, fn, NULL);
        if (!t)
            exit(1);
        if (chain && prev)
            weft_task_after(t, prev);
        prev = t;
    }
    return g;
}

/* One run of g on a fresh runtime; seconds. Keeps rt when keep is set. */
static double one(int threads, int trace, weft_graph_t *g, weft_runtime_t **keep)
{
    weft_runtime_t *rt = make_rt(threads, trace);
    double t0 = weft_seconds();
    if (weft_graph_run(rt, g) != 0) {
        fprintf(stderr, "run failed\n");
        exit(1);
    }
    double dt = weft_seconds() - t0;
    if (keep)
        *keep = rt;
    else
        weft_runtime_destroy(rt);
    return dt;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAXR 64

static double run_on(weft_runtime_t *rt, weft_graph_t *g)
{
    double t0 = weft_seconds();
    if (weft_graph_run(rt, g) != 0) {
        fprintf(stderr, "run failed\n");
        exit(1);
    }
    return weft_seconds() - t0;
}

/* Steady state: one runtime traced and one not, each running the same
 * graph round after round (the trace grows by n events a round). Cold:
 * a fresh runtime per run (the first traced run of a graph also copies the
 * graph's shape into the trace and touches new event chunks). */
static void shape(const char *name, size_t n, int chain, int rounds, int threads, weft_fn fn, double *off_ns,
                  double *on_ns)
{
    weft_graph_t *g = make_graph(n, chain, fn);
    double off[MAXR], on[MAXR], coff[MAXR], con[MAXR];
    weft_runtime_t *a = make_rt(threads, 0), *b = make_rt(threads, 1);
    run_on(a, g); /* warm up: pages, caches, the trace's copy of the graph */
    run_on(b, g);
    for (int r = 0; r < rounds; r++) {
        if (r % 2) {
            on[r] = run_on(b, g);
            off[r] = run_on(a, g);
        } else {
            off[r] = run_on(a, g);
            on[r] = run_on(b, g);
        }
    }
    weft_runtime_destroy(a);
    weft_runtime_destroy(b);
    int cold = rounds < 3 ? rounds : 3;
    for (int r = 0; r < cold; r++) {
        coff[r] = one(threads, 0, g, NULL);
        con[r] = one(threads, 1, g, NULL);
    }
    *off_ns = median(off, rounds) / (double)n * 1e9;
    *on_ns = median(on, rounds) / (double)n * 1e9;
    double c0 = median(coff, cold) / (double)n * 1e9, c1 = median(con, cold) / (double)n * 1e9;
    printf("%-26s off %7.1f ns/task  on %7.1f ns/task  on/off %.3fx (%+5.1f%%)   cold: %.1f / %.1f (%+.1f%%)\n", name,
           *off_ns, *on_ns, *on_ns / *off_ns, 100.0 * (*on_ns / *off_ns - 1), c0, c1, 100.0 * (c1 / c0 - 1));
    weft_graph_destroy(g);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    int threads = argc > 3 ? atoi(argv[3]) : 0;
    if (n < 1000 || rounds < 1 || rounds > MAXR || threads < 0) {
        fprintf(stderr, "usage: trace_overhead [tasks >= 1000] [rounds 1..64] [threads]\n");
        return 2;
    }
    calibrate();
    weft_runtime_t *probe = make_rt(threads, 0);
    weft_runtime_info_t info;
    weft_runtime_info(probe, &info);
    weft_runtime_destroy(probe);
    double t0 = weft_seconds();
    work(spin_iters * 1000);
    printf("trace_overhead: %zu tasks, %d rounds (alternating), %d threads, work %.2f us/task (%llu iterations)\n", n,
           rounds, info.threads, (weft_seconds() - t0) * 1e3, (unsigned long long)spin_iters);

    double off, on, worst = 0;
    shape("independent, ~1 us work", n, 0, rounds, threads, task, &off, &on);
    worst = on / off;
    shape("chain, ~1 us work", n, 1, rounds, threads, task, &off, &on);
    if (on / off > worst)
        worst = on / off;
    printf("  -> tracing on costs %.1f%% at worst (target <= 5%%)\n", 100.0 * (worst - 1));
    shape("independent, empty tasks", n, 0, rounds, threads, empty, &off, &on);
    shape("chain, empty tasks", n, 1, rounds, threads, empty, &off, &on);
    printf("  (empty tasks with tracing off: compare with bench/overhead's 1M independent and chain figures)\n");

    /* writing the trace of one 1M-task run */
    weft_graph_t *g = make_graph(n, 0, task);
    weft_runtime_t *rt;
    one(threads, 1, g, &rt);
    char path[128];
    snprintf(path, sizeof path, "/tmp/weft-trace-overhead-%d.json", (int)getpid());
    double w0 = weft_seconds();
    int rc = weft_runtime_write_trace(rt, path);
    double wt = weft_seconds() - w0;
    FILE *f = fopen(path, "r");
    long size = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fclose(f);
    }
    unlink(path);
    printf("write the trace of %zu tasks: %.3f s, %.1f MiB (target < 1 s)%s\n", n, wt, (double)size / 1048576.0,
           rc ? " FAILED" : "");
    weft_runtime_destroy(rt);
    weft_graph_destroy(g);
    return rc ? 1 : 0;
}
