/* bench/overhead — scheduling overhead per task of weft against OpenMP
 * tasks and oneTBB, in one process, on five graph shapes with empty task
 * bodies. Prints ns per task (median of several repetitions) at 1 thread
 * and at all threads, and the ratios weft/Taskflow-equivalent and
 * weft/OpenMP.
 *
 * Taskflow is not packaged; as ../shared/DESIGN.md prescribes, its figure
 * is oneTBB's from the same run times the Taskflow/oneTBB ratio measured on
 * the reference 2-core machine (table in DESIGN.md).
 *
 *   overhead [--quick] [--reps R] [--threads T1,T2,...]
 *
 * weft runs with exactly T threads running tasks (T workers, the calling
 * thread only waits: WEFT_CONFIG_NO_CALLER_HELP), as do OpenMP (a team of
 * T) and oneTBB (max_allowed_parallelism T). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "shapes.h"

static const char *shape_name[SHAPE_COUNT] = {"chain", "tree", "independent", "wavefront", "fork-join"};
/* Taskflow ÷ oneTBB, 1 thread / 2 threads (DESIGN.md). */
static const double tf_ratio[SHAPE_COUNT][2] = {{0.38, 0.38}, {0.43, 0.63}, {1.63, 0.78}, {0.46, 0.47}, {1.59, 0.82}};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_tasks(const bench_params_t *p, int shape)
{
    switch (shape) {
    case SHAPE_CHAIN: return (double)p->chain_n;
    case SHAPE_TREE: return (double)((1L << p->tree_depth) - 1);
    case SHAPE_INDEPENDENT: return (double)p->indep_n;
    case SHAPE_WAVEFRONT: return (double)p->wave_n * p->wave_n;
    default: return (double)p->fj_width * p->fj_runs;
    }
}

/* Every task body, in every runtime, is one call to this: an empty task the
 * compiler cannot drop. */
__attribute__((noinline)) void bench_nop(void)
{
    __asm__ volatile("" ::: "memory");
}

/* ==== weft =============================================================== */

static int empty(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    bench_nop();
    return 0;
}

static void must(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "overhead: %s: %s\n", what, weft_strerror(rc));
        exit(1);
    }
}

static weft_task_t *add(weft_graph_t *g)
{
    weft_task_t *t = weft_graph_add(g, NULL, empty, NULL);
    if (!t)
        must(WEFT_ENOMEM, "weft_graph_add");
    return t;
}

static double weft_shape(weft_runtime_t *rt, const bench_params_t *p, int shape)
{
    weft_graph_t *g;
    if (shape == SHAPE_FORKJOIN) {
        must(weft_graph_create(&g), "weft_graph_create");
        weft_task_t *fork = add(g), *join = add(g);
        for (int i = 0; i < p->fj_width; i++) {
            weft_task_t *t = add(g);
            must(weft_task_after(t, fork), "after");
            must(weft_task_after(join, t), "after");
        }
        must(weft_graph_run(rt, g), "run"); /* validation outside the timing */
        double t0 = now();
        for (int r = 0; r < p->fj_runs; r++)
            must(weft_graph_run(rt, g), "run");
        double el = now() - t0;
        weft_graph_destroy(g);
        return el;
    }
    double t0 = now();
    must(weft_graph_create(&g), "weft_graph_create");
    if (shape == SHAPE_CHAIN) {
        weft_task_t *prev = add(g);
        for (long i = 1; i < p->chain_n; i++) {
            weft_task_t *t = add(g);
            must(weft_task_after(t, prev), "after");
            prev = t;
        }
    } else if (shape == SHAPE_TREE) {
        long n = (1L << p->tree_depth) - 1;
        add(g);
        for (long i = 1; i < n; i++)
            must(weft_task_after(add(g), weft_graph_task(g, (size_t)(i - 1) / 2)), "after");
    } else if (shape == SHAPE_INDEPENDENT) {
        for (long i = 0; i < p->indep_n; i++)
            add(g);
    } else {
        int n = p->wave_n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                weft_task_t *t = add(g);
                if (i)
                    must(weft_task_after(t, weft_graph_task(g, (size_t)(i - 1) * n + j)), "after");
                if (j)
                    must(weft_task_after(t, weft_graph_task(g, (size_t)i * n + j - 1)), "after");
            }
    }
    must(weft_graph_run(rt, g), "run");
    weft_graph_destroy(g);
    return now() - t0;
}

/* ==== OpenMP ============================================================= */

static void omp_tree(int depth)
{
    if (depth <= 1) {
        bench_nop();
        return;
    }
    bench_nop();
#pragma omp task
    omp_tree(depth - 1);
#pragma omp task
    omp_tree(depth - 1);
}

static double omp_shape(const bench_params_t *p, int shape, int threads)
{
    double t0 = now();
    if (shape == SHAPE_CHAIN) {
        char x = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
        {
            for (long i = 0; i < p->chain_n; i++) {
#pragma omp task depend(inout : x)
                bench_nop();
            }
#pragma omp taskwait
        }
        (void)x;
    } else if (shape == SHAPE_TREE) {
#pragma omp parallel num_threads(threads)
#pragma omp single
        {
#pragma omp taskgroup
            {
#pragma omp task
                omp_tree(p->tree_depth);
            }
        }
    } else if (shape == SHAPE_INDEPENDENT) {
#pragma omp parallel num_threads(threads)
#pragma omp single
#pragma omp taskloop grainsize(1)
        for (long i = 0; i < p->indep_n; i++)
            bench_nop();
    } else if (shape == SHAPE_WAVEFRONT) {
        int n = p->wave_n;
        char *cell = calloc((size_t)n * n, 1);
#pragma omp parallel num_threads(threads)
#pragma omp single
        {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    char *up = i ? &cell[(size_t)(i - 1) * n + j] : &cell[(size_t)i * n + j];
                    char *left = j ? &cell[(size_t)i * n + j - 1] : &cell[(size_t)i * n + j];
                    char *me = &cell[(size_t)i * n + j];
#pragma omp task depend(in : up[0], left[0]) depend(out : me[0])
                    {
                        (void)up, (void)left, (void)me;
                        bench_nop();
                    }
                }
#pragma omp taskwait
        }
        free(cell);
    } else {
#pragma omp parallel num_threads(threads)
#pragma omp single
        {
            t0 = now();
            for (int r = 0; r < p->fj_runs; r++) {
                for (int i = 0; i < p->fj_width; i++) {
#pragma omp task
                    bench_nop();
                }
#pragma omp taskwait
            }
        }
    }
    return now() - t0;
}

/* ==== driver ============================================================= */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    bench_params_t p = {1000000, 20, 1000000, 1024, 1000, 1000};
    int reps = 5;
    int threads[8], nthreads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            p = (bench_params_t){100000, 16, 100000, 256, 1000, 100};
            reps = 3;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            for (char *s = strtok(argv[++i], ","); s && nthreads < 8; s = strtok(NULL, ","))
                threads[nthreads++] = atoi(s);
        } else {
            fprintf(stderr, "usage: overhead [--quick] [--reps R] [--threads T1,T2,...]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 101)
        reps = 5;
    if (nthreads == 0) {
        long all = sysconf(_SC_NPROCESSORS_ONLN);
        threads[nthreads++] = 1;
        if (all > 1)
            threads[nthreads++] = (int)all;
    }
    printf("bench/overhead: ns per task, median of %d; empty task bodies\n", reps);
    printf("sizes: chain %ld, tree depth %d, independent %ld, wavefront %dx%d, fork-join %d x %d runs\n", p.chain_n,
           p.tree_depth, p.indep_n, p.wave_n, p.wave_n, p.fj_width, p.fj_runs);
    printf("Taskflow-eq = oneTBB (same run) x Taskflow/oneTBB ratio from DESIGN.md%s\n\n",
           bench_have_tbb() ? "" : " (oneTBB not built: no Taskflow-eq)");
    printf("%-12s %3s %9s %9s %9s %11s %9s %10s %9s\n", "shape", "thr", "weft", "OpenMP", "oneTBB", "Taskflow-eq",
           "best", "weft/best", "weft/omp");
    double logsum = 0.0;
    int nlog = 0;
    for (int ti = 0; ti < nthreads; ti++) {
        int T = threads[ti];
        weft_config_t cfg;
        weft_config_init(&cfg);
        cfg.threads = T;
        cfg.flags = WEFT_CONFIG_NO_CALLER_HELP | WEFT_CONFIG_QUIET;
        weft_runtime_t *rt;
        must(weft_runtime_create(&cfg, &rt), "weft_runtime_create");
        for (int s = 0; s < SHAPE_COUNT; s++) {
            double w[101], o[101], b[101];
            double ntask = bench_tasks(&p, s);
            weft_shape(rt, &p, s); /* warm-up */
            for (int r = 0; r < reps; r++) {
                w[r] = weft_shape(rt, &p, s);
                o[r] = omp_shape(&p, s, T);
                b[r] = bench_tbb(&p, s, T);
            }
            double wn = median(w, reps) / ntask * 1e9;
            double on = median(o, reps) / ntask * 1e9;
            double bn = median(b, reps) / ntask * 1e9;
            double tf = bn > 0 ? bn * tf_ratio[s][T > 1] : -1;
            double best = bn > 0 ? (tf < bn ? tf : bn) : -1;
            printf("%-12s %3d %9.1f %9.1f", shape_name[s], T, wn, on);
            if (bn > 0) {
                printf(" %9.1f %11.1f %9.1f %10.2f", bn, tf, best, wn / best);
                logsum += log(wn / best);
                nlog++;
            } else {
                printf(" %9s %11s %9s %10s", "-", "-", "-", "-");
            }
            printf(" %9.2f\n", wn / on);
            fflush(stdout);
        }
        weft_runtime_destroy(rt);
    }
    if (nlog)
        printf("\ngeometric mean of weft/best(oneTBB, Taskflow-eq): %.2f (target <= 0.70)\n", exp(logsum / nlog));
    return 0;
}
