/* heat — a blocked Gauss–Seidel relaxation of the Laplace equation on an
 * N×N grid, the way a solver author would hand it to weft.
 *
 * One sweep updates the grid in place, row by row. Cut into B×B blocks,
 * block (i, j) needs the new values of the blocks above and to its left and
 * the old values of those below and to its right — so the blocks form a
 * wavefront DAG, and running it in parallel gives bit for bit the serial
 * sweep's result. The graph is built once and run once per sweep; a last
 * task of each sweep reduces the blocks' largest change into a result.
 *
 *   heat [--small] [--n N] [--block B] [--sweeps S] [--threads T]
 * Exits 0 when the parallel grid equals the serial one exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

typedef struct grid {
    int n;     /* interior is 1..n-2 in both directions */
    double *u; /* n*n, row-major */
} grid_t;

typedef struct block {
    grid_t *g;
    int r0, r1, c0, c1; /* interior rows [r0, r1), columns [c0, c1) */
    double change;      /* largest |update| in the last sweep */
} block_t;

static double sweep_block(grid_t *g, int r0, int r1, int c0, int c1)
{
    int n = g->n;
    double *u = g->u, change = 0.0;
    for (int i = r0; i < r1; i++)
        for (int j = c0; j < c1; j++) {
            double v = 0.25 * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1]);
            double d = fabs(v - u[i * n + j]);
            if (d > change)
                change = d;
            u[i * n + j] = v;
        }
    return change;
}

static int block_task(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    block_t *b = arg;
    b->change = sweep_block(b->g, b->r0, b->r1, b->c0, b->c1);
    return 0;
}

typedef struct reduce {
    block_t *blocks;
    int nblocks;
    double max_change;
} reduce_t;

static int reduce_task(weft_ctx_t *ctx, void *arg)
{
    reduce_t *r = arg;
    r->max_change = 0.0;
    for (int k = 0; k < r->nblocks; k++)
        if (r->blocks[k].change > r->max_change)
            r->max_change = r->blocks[k].change;
    /* Borrowed pointer, no destructor: the caller reads it after the run. */
    return weft_ctx_set_result(ctx, &r->max_change, NULL);
}

static void grid_init(grid_t *g, int n)
{
    g->n = n;
    g->u = calloc((size_t)n * (size_t)n, sizeof *g->u);
    if (!g->u) {
        fprintf(stderr, "heat: out of memory\n");
        exit(2);
    }
    for (int j = 0; j < n; j++) /* hot top edge, cold elsewhere */
        g->u[j] = 100.0;
    for (int i = 0; i < n; i++)
        g->u[i * n + n - 1] = 50.0 * i / (n - 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "heat: %s: %s\n", what, weft_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    int n = 2050, bs = 128, sweeps = 40, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--small")) {
            n = 258;
            bs = 32;
            sweeps = 10;
        } else if (i + 1 < argc && !strcmp(argv[i], "--n")) {
            n = atoi(argv[++i]) + 2;
        } else if (i + 1 < argc && !strcmp(argv[i], "--block")) {
            bs = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--sweeps")) {
            sweeps = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--threads")) {
            threads = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: heat [--small] [--n N] [--block B] [--sweeps S] [--threads T]\n");
            return 2;
        }
    }
    if (n < 3 || bs < 1 || sweeps < 1 || threads < 0) {
        fprintf(stderr, "heat: N, B and S must be positive\n");
        return 2;
    }

    /* Serial reference. */
    grid_t ref, par;
    grid_init(&ref, n);
    grid_init(&par, n);
    double t0 = now_s(), ref_change = 0.0;
    for (int s = 0; s < sweeps; s++)
        ref_change = sweep_block(&ref, 1, n - 1, 1, n - 1);
    double t_serial = now_s() - t0;

    /* The same sweeps as a weft graph: one task per block. */
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    weft_runtime_t *rt;
    int rc = weft_runtime_create(&cfg, &rt);
    if (rc)
        return die("weft_runtime_create", rc);
    weft_runtime_info_t info;
    weft_runtime_info(rt, &info);

    int nb = (n - 2 + bs - 1) / bs;
    block_t *blocks = calloc((size_t)nb * (size_t)nb, sizeof *blocks);
    weft_task_t **tasks = calloc((size_t)nb * (size_t)nb, sizeof *tasks);
    weft_graph_t *g;
    if (!blocks || !tasks || (rc = weft_graph_create(&g)) != 0)
        return die("setup", rc ? rc : WEFT_ENOMEM);
    reduce_t red = {blocks, nb * nb, 0.0};
    weft_task_t *reduce = weft_graph_add(g, "reduce", reduce_task, &red);
    if (!reduce)
        return die("weft_graph_add", WEFT_ENOMEM);
    for (int bi = 0; bi < nb; bi++)
        for (int bj = 0; bj < nb; bj++) {
            block_t *b = &blocks[bi * nb + bj];
            *b = (block_t){&par, 1 + bi * bs, 1 + (bi + 1) * bs, 1 + bj * bs, 1 + (bj + 1) * bs, 0};
            if (b->r1 > n - 1)
                b->r1 = n - 1;
            if (b->c1 > n - 1)
                b->c1 = n - 1;
            char name[48];
            snprintf(name, sizeof name, "block-%d-%d", bi, bj);
            weft_task_t *t = tasks[bi * nb + bj] = weft_graph_add(g, name, block_task, b);
            if (!t)
                return die("weft_graph_add", WEFT_ENOMEM);
            if ((bi > 0 && (rc = weft_task_after(t, tasks[(bi - 1) * nb + bj]))) ||
                (bj > 0 && (rc = weft_task_after(t, tasks[bi * nb + bj - 1]))) || (rc = weft_task_after(reduce, t)))
                return die("weft_task_after", rc);
        }

    t0 = now_s();
    double par_change = 0.0;
    for (int s = 0; s < sweeps; s++) {
        rc = weft_graph_run(rt, g);
        if (rc) {
            fprintf(stderr, "heat: sweep %d: %s (%s)\n", s, weft_strerror(rc), weft_graph_error(g));
            return 1;
        }
        par_change = *(double *)weft_task_result(reduce);
    }
    double t_par = now_s() - t0;

    size_t diff = 0;
    for (size_t k = 0; k < (size_t)n * (size_t)n; k++)
        diff += ref.u[k] != par.u[k];
    double center = par.u[(n / 2) * n + n / 2];
    printf("heat: %d x %d grid, %d x %d blocks of %d, %d sweeps, %zu tasks per sweep\n", n - 2, n - 2, nb, nb, bs,
           sweeps, weft_graph_size(g));
    printf("heat: weft on %d worker(s) (%s, %d core(s)): %.3f s; serial loop: %.3f s; speed-up %.2fx\n", info.threads,
           info.topology_backend, info.cores, t_par, t_serial, t_serial / t_par);
    printf("heat: u(center) = %.9f, last sweep's largest change = %.3e (serial %.3e)\n", center, par_change,
           ref_change);
    printf("heat: %s: %zu of %zu cells differ from the serial sweep\n",
           diff == 0 && par_change == ref_change ? "OK" : "MISMATCH", diff, (size_t)n * (size_t)n);

    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    free(tasks);
    free(blocks);
    free(ref.u);
    free(par.u);
    return diff == 0 && par_change == ref_change ? 0 : 1;
}
