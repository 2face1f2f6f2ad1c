/* bench — the task-graph shapes of bench/overhead, shared by the weft,
 * OpenMP and oneTBB implementations. Each function builds (when the shape
 * includes construction), runs and tears down one instance and returns the
 * elapsed seconds. */
#ifndef WEFT_BENCH_SHAPES_H
#define WEFT_BENCH_SHAPES_H

#ifdef __cplusplus
extern "C" {
#endif

enum bench_shape { SHAPE_CHAIN, SHAPE_TREE, SHAPE_INDEPENDENT, SHAPE_WAVEFRONT, SHAPE_FORKJOIN, SHAPE_COUNT };

typedef struct bench_params {
    long chain_n;   /* tasks in the chain */
    int tree_depth; /* binary tree levels: 2^depth - 1 tasks */
    long indep_n;   /* independent tasks */
    int wave_n;     /* wavefront side */
    int fj_width;   /* fork-join: tasks between fork and join */
    int fj_runs;    /* fork-join: runs of the same graph */
} bench_params_t;

/* The body of every task: a call the compiler cannot remove. */
void bench_nop(void);

/* Tasks one instance runs (for ns/task). */
double bench_tasks(const bench_params_t *p, int shape);

/* oneTBB (bench/overhead_tbb.cpp); returns < 0 when built without it. */
double bench_tbb(const bench_params_t *p, int shape, int threads);
int bench_have_tbb(void);

#ifdef __cplusplus
}
#endif
#endif
