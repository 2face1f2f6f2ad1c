/* bench/pertask: the scheduler's own cost per task, in a form a simulator
 * can count. Builds one graph of N empty tasks — a chain, independent
 * tasks, or a fork-join (one task, N between, one joining them) — runs it
 * R times and prints the median ns per task run. On a
 * shared, noisy machine time cannot bound a few-percent change; the
 * instructions it executes can (valgrind --tool=callgrind is exact and
 * repeatable):
 *
 *   pertask SHAPE THREADS N R     SHAPE: chain | independent | forkjoin
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench/pertask chain 1 100000 1
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench/pertask chain 1 100000 5
 *   -> (Ir of the second - Ir of the first) / (4 * 100000) = instructions per task run
 *
 * Workers do not spin (spin_us = 0), so idle threads add no
 * instructions; bench/RESULTS.md has the figures across commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

static int empty(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "chain") && strcmp(argv[1], "independent") && strcmp(argv[1], "forkjoin")) ||
        atoi(argv[2]) < 1 || atol(argv[3]) < 1 || atoi(argv[4]) < 1 || atoi(argv[4]) > 100) {
        fprintf(stderr, "usage: pertask chain|independent|forkjoin THREADS N RUNS (RUNS 1..100)\n");
        return 2;
    }
    int chain = strcmp(argv[1], "chain") == 0, fj = strcmp(argv[1], "forkjoin") == 0, runs = atoi(argv[4]);
    long n = atol(argv[3]);
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = atoi(argv[2]);
    cfg.spin_us = 0;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    weft_graph_t *g;
    if (weft_runtime_create(&cfg, &rt) != 0 || weft_graph_create(&g) != 0) {
        fprintf(stderr, "pertask: cannot start weft\n");
        return 1;
    }
    weft_task_t *prev = NULL, *fork = fj ? weft_graph_add(g, NULL, empty, NULL) : NULL;
    weft_task_t *join = fj ? weft_graph_add(g, NULL, empty, NULL) : NULL;
    for (long i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_add(g, NULL, empty, NULL);
        if (!t || (chain && prev && weft_task_after(t, prev) != 0) ||
            (fj && (weft_task_after(t, fork) != 0 || weft_task_after(join, t) != 0))) {
            fprintf(stderr, "pertask: cannot build the graph\n");
            return 1;
        }
        prev = t;
    }
    double ns[100];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        if (weft_graph_run(rt, g) != 0) {
            fprintf(stderr, "pertask: run failed: %s\n", weft_graph_error(g));
            return 1;
        }
        ns[r] = (now() - t0) / (double)n * 1e9;
    }
    qsort(ns, (size_t)runs, sizeof ns[0], by_value);
    printf("%s %s threads, %ld tasks: %.1f ns per task run (median of %d)\n", argv[1], argv[2], n, ns[runs / 2], runs);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    return 0;
}
