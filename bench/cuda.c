/* bench/cuda — what weft's GPU tasks cost over launching by hand, in one
 * process run, on the same stream pool and the same empty kernel.
 *
 *  1. chain: 10,000 empty kernels in a dependency chain — launched
 *     directly on one stream (then one synchronise) vs as 10,000 chained
 *     weft GPU tasks (target: weft <= 1.2x the direct time);
 *  2. fan-out: 1,000 independent empty kernels — directly on one stream,
 *     directly round-robin over as many streams as weft's pool, and as
 *     1,000 independent weft GPU tasks;
 *  3. replay: a 1,000-kernel chain as weft tasks, launched task by task,
 *     vs the same weft graph captured once into a weft CUDA graph task
 *     (weft_graph_add_cuda_graph) and replayed, vs capturing and launching
 *     it by hand (cudaStreamBeginCapture / cudaGraphLaunch).
 *
 * Each figure is the median of --rounds runs after one warm-up run (the
 * weft graphs are built once and run again, as a solver would).
 * Usage: cuda [--rounds N] [--threads N]. Without a GPU it says so and
 * exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>
#include <weft.h>
#include <weft/cuda.h>

/* tests/integration/cuda_kernels.cu */
int weft_test_empty_kernel(void *stream);

#define STREAMS 8

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "cuda: %s: %s\n", what, cudaGetErrorString(e));
        exit(1);
    }
}

static int empty_task(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_test_empty_kernel(weft_ctx_stream(ctx));
}

/* n kernels, chained or independent, as one weft graph. */
static weft_graph_t *weft_graph(int n, int chained)
{
    weft_graph_t *g;
    if (weft_graph_create(&g))
        exit(1);
    weft_task_t *prev = NULL;
    for (int i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_add_cuda(g, "k", empty_task, NULL);
        if (!t || (chained && prev && weft_task_after(t, prev)))
            exit(1);
        prev = t;
    }
    return g;
}

static double time_weft(weft_runtime_t *rt, weft_graph_t *g)
{
    double t0 = now();
    int rc = weft_graph_run(rt, g);
    double t = now() - t0;
    if (rc) {
        fprintf(stderr, "weft run: %s (%s)\n", weft_strerror(rc), weft_graph_error(g));
        exit(1);
    }
    return t;
}

static double time_direct(cudaStream_t *s, int nstreams, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++)
        weft_test_empty_kernel(s[i % nstreams]);
    check(cudaGetLastError(), "launch");
    for (int k = 0; k < nstreams; k++)
        check(cudaStreamSynchronize(s[k]), "synchronize");
    return now() - t0;
}

static double time_replay(cudaGraphExec_t ge, cudaStream_t s)
{
    double t0 = now();
    check(cudaGraphLaunch(ge, s), "graph launch");
    check(cudaStreamSynchronize(s), "synchronize");
    return now() - t0;
}

int main(int argc, char **argv)
{
    int rounds = 7, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: cuda [--rounds N] [--threads N]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 1000)
        rounds = 7;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("bench/cuda: no CUDA device here: nothing to measure\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, 0), "properties");
    weft_config_t c;
    weft_config_init(&c);
    c.threads = threads;
    c.gpu_streams = STREAMS;
    weft_runtime_t *rt;
    if (weft_runtime_create(&c, &rt))
        return 1;
    weft_runtime_info_t info;
    weft_runtime_info(rt, &info);
    printf("bench/cuda on %s (driver device 0 of %d), %d weft workers, %d streams, %d rounds\n", prop.name, ndev,
           info.threads, STREAMS, rounds);

    cudaStream_t s[STREAMS];
    for (int k = 0; k < STREAMS; k++)
        check(cudaStreamCreateWithFlags(&s[k], cudaStreamNonBlocking), "stream");
    double *a = malloc(sizeof(double) * (size_t)rounds), *b = malloc(sizeof(double) * (size_t)rounds),
           *d = malloc(sizeof(double) * (size_t)rounds);

    /* 1. chain of 10,000 */
    weft_graph_t *chain = weft_graph(10000, 1);
    time_direct(s, 1, 10000);
    time_weft(rt, chain);
    for (int r = 0; r < rounds; r++) {
        a[r] = time_direct(s, 1, 10000);
        b[r] = time_weft(rt, chain);
    }
    double da = median(a, rounds), db = median(b, rounds);
    printf("chain 10000   direct 1 stream %8.2f ms (%5.2f us/kernel)   weft %8.2f ms (%5.2f us/task)   "
           "weft/direct %.2fx (target <= 1.2)\n",
           da * 1e3, da * 1e6 / 10000, db * 1e3, db * 1e6 / 10000, db / da);

    /* 2. fan-out of 1,000 */
    weft_graph_t *fan = weft_graph(1000, 0);
    time_direct(s, STREAMS, 1000);
    time_weft(rt, fan);
    for (int r = 0; r < rounds; r++) {
        a[r] = time_direct(s, 1, 1000);
        d[r] = time_direct(s, STREAMS, 1000);
        b[r] = time_weft(rt, fan);
    }
    da = median(a, rounds);
    double dd = median(d, rounds);
    db = median(b, rounds);
    printf("fan-out 1000  direct 1 stream %8.2f ms   direct %d streams %8.2f ms   weft %8.2f ms   "
           "weft/direct-%d %.2fx\n",
           da * 1e3, STREAMS, dd * 1e3, db * 1e3, STREAMS, db / dd);

    /* 3. a captured 1,000-kernel chain replayed vs weft task by task */
    cudaGraph_t cg;
    cudaGraphExec_t ge;
    check(cudaStreamBeginCapture(s[0], cudaStreamCaptureModeThreadLocal), "begin capture");
    for (int i = 0; i < 1000; i++)
        weft_test_empty_kernel(s[0]);
    check(cudaStreamEndCapture(s[0], &cg), "end capture");
    check(cudaGraphInstantiate(&ge, cg, 0), "instantiate");
    weft_graph_t *sub = weft_graph(1000, 1), *outer;
    weft_task_t *cgt;
    if (weft_graph_create(&outer) || weft_graph_add_cuda_graph(outer, "replay", sub, 0, &cgt))
        return 1;
    time_replay(ge, s[0]);
    time_weft(rt, sub);
    double t0 = now();
    time_weft(rt, outer); /* captures */
    double capture = now() - t0;
    for (int r = 0; r < rounds; r++) {
        a[r] = time_replay(ge, s[0]);
        b[r] = time_weft(rt, sub);
        d[r] = time_weft(rt, outer);
    }
    da = median(a, rounds);
    db = median(b, rounds);
    dd = median(d, rounds);
    printf("replay 1000   by hand (cudaGraphLaunch) %8.2f ms   weft task by task %8.2f ms   "
           "weft CUDA graph task %8.2f ms (first run with capture %.2f ms)   task-by-task/replay %.2fx   "
           "weft replay/by hand %.2fx\n",
           da * 1e3, db * 1e3, dd * 1e3, capture * 1e3, db / dd, dd / da);
    weft_graph_destroy(outer);

    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(cg);
    weft_graph_destroy(chain);
    weft_graph_destroy(fan);
    weft_graph_destroy(sub);
    for (int k = 0; k < STREAMS; k++)
        cudaStreamDestroy(s[k]);
    weft_runtime_destroy(rt);
    free(a);
    free(b);
    free(d);
    return 0;
}
