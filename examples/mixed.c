/* examples/mixed — C tasks, a process task with cores, and (built with
 * CUDA, on a machine with a GPU) a GPU task, in one graph.
 *
 *   make  (C)        writes the numbers 1..N to data.txt
 *   sum   (process)  awk adds them up on 2 cores (or 1), output to sum.txt
 *   gpu   (GPU)      copies N to a device and back, on the task's stream
 *   check (C)        reads sum.txt (and the GPU's copy) and checks them
 *
 * Run from any directory: it works in a temporary one. Exit 0 when every
 * check holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>
#include <weft/cuda.h>
#ifdef WEFT_EXAMPLE_CUDA
#include <cuda_runtime.h>
#endif

#define N 100000L

static int make(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    FILE *f = fopen("data.txt", "w");
    if (!f)
        return weft_ctx_fail(ctx, 1, "cannot write data.txt");
    for (long i = 1; i <= N; i++)
        fprintf(f, "%ld\n", i);
    return fclose(f) == 0 ? 0 : weft_ctx_fail(ctx, 1, "cannot write data.txt");
}

#ifdef WEFT_EXAMPLE_CUDA
typedef struct gpu_job {
    long *dev;
    long host_in, host_out;
} gpu_job_t;

static int gpu_roundtrip(weft_ctx_t *ctx, void *arg)
{
    gpu_job_t *j = arg;
    cudaStream_t s = weft_ctx_stream(ctx);
    if (cudaMallocAsync((void **)&j->dev, sizeof *j->dev, s) != cudaSuccess)
        return weft_ctx_fail(ctx, 1, "cudaMallocAsync failed");
    cudaMemcpyAsync(j->dev, &j->host_in, sizeof j->host_in, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(&j->host_out, j->dev, sizeof j->host_out, cudaMemcpyDeviceToHost, s);
    cudaFreeAsync(j->dev, s);
    return 0; /* enqueued: the task completes when the stream gets there */
}
#endif

typedef struct check_args {
    long want;
    long *gpu_out; /* NULL: no GPU task */
} check_args_t;

static int check(weft_ctx_t *ctx, void *arg)
{
    const check_args_t *c = arg;
    FILE *f = fopen("sum.txt", "r");
    long got = -1;
    if (!f || fscanf(f, "%ld", &got) != 1)
        got = -1;
    if (f)
        fclose(f);
    if (got != c->want)
        return weft_ctx_fail(ctx, 2, "sum.txt says %ld, expected %ld", got, c->want);
    if (c->gpu_out && *c->gpu_out != N)
        return weft_ctx_fail(ctx, 3, "the GPU gave back %ld, expected %ld", *c->gpu_out, N);
    printf("sum of 1..%ld = %ld (by awk in a process task)%s\n", N, got, c->gpu_out ? ", GPU round trip ok" : "");
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/weft-mixed-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("weft mixed example");
        return 1;
    }
    weft_runtime_t *rt;
    weft_graph_t *g;
    int rc = weft_runtime_create(NULL, &rt);
    if (rc || (rc = weft_graph_create(&g)) != 0) {
        fprintf(stderr, "mixed: %s\n", weft_strerror(rc));
        return 1;
    }
    weft_runtime_info_t info;
    weft_runtime_info(rt, &info);

    weft_task_t *t_make = weft_graph_add(g, "make", make, NULL);

    const char *argv[] = {"awk", "{ s += $1 } END { printf \"%.0f\\n\", s }", "data.txt", NULL};
    weft_process_spec_t spec;
    weft_process_spec_init(&spec);
    spec.argv = argv;
    spec.cpus = info.cores >= 2 ? 2 : 1;
    spec.stdout_path = "sum.txt";
    spec.timeout_s = 60;
    spec.retries = 1;
    weft_task_t *t_sum;
    if ((rc = weft_graph_add_process(g, "sum", &spec, &t_sum)) != 0) {
        fprintf(stderr, "mixed: %s\n", weft_strerror(rc));
        return 1;
    }
    weft_task_after(t_sum, t_make);

    /* The GPU task, when weft was built with CUDA and sees a GPU. */
    check_args_t c = {N * (N + 1) / 2, NULL};
#ifdef WEFT_EXAMPLE_CUDA
    static gpu_job_t job = {NULL, N, 0};
    weft_task_t *t_gpu = NULL;
    if (info.gpus > 0) {
        t_gpu = weft_graph_add_cuda(g, "gpu", gpu_roundtrip, &job);
        weft_task_after(t_gpu, t_make);
        c.gpu_out = &job.host_out;
    }
#endif
    weft_task_t *t_check;
    weft_graph_add_copy(g, "check", check, &c, sizeof c, &t_check); /* the task keeps its own copy of c */
    weft_task_after(t_check, t_sum);
#ifdef WEFT_EXAMPLE_CUDA
    if (t_gpu)
        weft_task_after(t_check, t_gpu);
#endif
    rc = weft_graph_run(rt, g);
    if (rc)
        fprintf(stderr, "mixed: %s: %s\n", weft_strerror(rc), weft_graph_error(g));
    else {
        const weft_process_attempt_t *a;
        int n = weft_task_process_attempts(t_sum, &a);
        if (n > 0)
            printf("awk: exit %d in %.3f s on cpus %s, max RSS %ld KiB\n", a[n - 1].exit_code, a[n - 1].wall_s,
                   a[n - 1].cpus[0] ? a[n - 1].cpus : "(not bound)", a[n - 1].maxrss_kb);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    unlink("data.txt");
    unlink("sum.txt");
    if (chdir("/") == 0)
        rmdir(dir);
    return rc != 0;
}
