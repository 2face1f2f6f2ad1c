// The oneTBB baselines of bench/overhead: flow graph continue_nodes for the
// DAG shapes (reused graph for fork-join), task_group for independent tasks.
#include <memory>
#include <vector>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include "shapes.h"

#include <chrono>

using namespace oneapi::tbb;
using node_t = flow::continue_node<flow::continue_msg>;

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double chain(long n)
{
    double t0 = now();
    {
        flow::graph g;
        std::vector<std::unique_ptr<node_t>> v;
        v.reserve(n);
        for (long i = 0; i < n; i++) {
            v.emplace_back(new node_t(g, [](const flow::continue_msg &) { bench_nop(); }));
            if (i)
                flow::make_edge(*v[i - 1], *v[i]);
        }
        v[0]->try_put(flow::continue_msg());
        g.wait_for_all();
    }
    return now() - t0;
}

static double tree(int depth)
{
    double t0 = now();
    {
        long n = (1L << depth) - 1;
        flow::graph g;
        std::vector<std::unique_ptr<node_t>> v;
        v.reserve(n);
        for (long i = 0; i < n; i++) {
            v.emplace_back(new node_t(g, [](const flow::continue_msg &) { bench_nop(); }));
            if (i)
                flow::make_edge(*v[(i - 1) / 2], *v[i]);
        }
        v[0]->try_put(flow::continue_msg());
        g.wait_for_all();
    }
    return now() - t0;
}

static double independent(long n)
{
    double t0 = now();
    task_group tg;
    for (long i = 0; i < n; i++)
        tg.run([] { bench_nop(); });
    tg.wait();
    return now() - t0;
}

static double wavefront(int n)
{
    double t0 = now();
    {
        flow::graph g;
        std::vector<std::unique_ptr<node_t>> v;
        v.reserve((size_t)n * n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                v.emplace_back(new node_t(g, [](const flow::continue_msg &) { bench_nop(); }));
                if (i)
                    flow::make_edge(*v[(size_t)(i - 1) * n + j], *v.back());
                if (j)
                    flow::make_edge(*v[(size_t)i * n + j - 1], *v.back());
            }
        v[0]->try_put(flow::continue_msg());
        g.wait_for_all();
    }
    return now() - t0;
}

static double forkjoin(int width, int runs)
{
    flow::graph g;
    node_t fork(g, [](const flow::continue_msg &) { bench_nop(); });
    node_t join(g, [](const flow::continue_msg &) { bench_nop(); });
    std::vector<std::unique_ptr<node_t>> v;
    for (int i = 0; i < width; i++) {
        v.emplace_back(new node_t(g, [](const flow::continue_msg &) { bench_nop(); }));
        flow::make_edge(fork, *v.back());
        flow::make_edge(*v.back(), join);
    }
    double t0 = now();
    for (int r = 0; r < runs; r++) {
        fork.try_put(flow::continue_msg());
        g.wait_for_all();
    }
    return now() - t0;
}

extern "C" int bench_have_tbb(void)
{
    return 1;
}

extern "C" double bench_tbb(const bench_params_t *p, int shape, int threads)
{
    global_control gc(global_control::max_allowed_parallelism, (size_t)threads);
    switch (shape) {
    case SHAPE_CHAIN:
        return chain(p->chain_n);
    case SHAPE_TREE:
        return tree(p->tree_depth);
    case SHAPE_INDEPENDENT:
        return independent(p->indep_n);
    case SHAPE_WAVEFRONT:
        return wavefront(p->wave_n);
    case SHAPE_FORKJOIN:
        return forkjoin(p->fj_width, p->fj_runs);
    }
    return -1;
}
