/* The embedding API through the public header only: building, running,
 * results, children, submit/wait, reuse, concurrency, and every misuse a
 * caller can make. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"

static int count_fn(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static int noop(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

TEST(strerror_names_every_code)
{
    CHECK_STR(weft_strerror(0), "success");
    CHECK_STR(weft_err_name(0), "OK");
    int codes[] = {WEFT_EINVAL,    WEFT_ENOMEM,  WEFT_ECYCLE, WEFT_ETASK, WEFT_EBUSY,
                   WEFT_ECANCELED, WEFT_ENOTSUP, WEFT_ESYS,   WEFT_ESTATE};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(codes[i] < 0);
        CHECK(strcmp(weft_strerror(codes[i]), "unknown error") != 0);
        CHECK(strcmp(weft_err_name(codes[i]), "UNKNOWN") != 0);
    }
    CHECK_STR(weft_err_name(WEFT_ECYCLE), "ECYCLE");
    CHECK_STR(weft_strerror(-999), "unknown error");
    CHECK_STR(weft_err_name(12345), "UNKNOWN");
}

TEST(config_validation)
{
    weft_runtime_t *rt = NULL;
    weft_config_t cfg;
    CHECK_EQ(weft_runtime_create(NULL, NULL), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.threads = -1;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.threads = 100000;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.pin = 7;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.flags = 1u << 30;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.spin_us = -5;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    CHECK(rt == NULL);
    (weft_config_init)(NULL); /* no crash */
    weft_config_init_sized(NULL, sizeof cfg);
    weft_runtime_destroy(NULL);
    weft_graph_destroy(NULL);
}

TEST(defaults_and_info)
{
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(NULL, &rt), 0);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    CHECK(info.threads >= 1);
    CHECK_EQ(info.threads, info.cores);
    CHECK_EQ(info.pin, WEFT_PIN_CORE);
    CHECK(info.pus >= info.cores);
    CHECK(info.packages >= 1);
    CHECK(info.topology_backend != NULL);
    CHECK_EQ(weft_runtime_info(NULL, &info), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_info(rt, NULL), WEFT_EINVAL);
    char buf[4096];
    int n = weft_runtime_describe(rt, buf, sizeof buf);
    CHECK(n > 0 && (size_t)n < sizeof buf);
    CHECK(strstr(buf, "worker 0: PU") != NULL);
    CHECK_EQ(weft_runtime_describe(rt, NULL, 0), n); /* size query */
    char tiny[8];
    CHECK_EQ(weft_runtime_describe(rt, tiny, sizeof tiny), n);
    CHECK_EQ(strlen(tiny), 7);
    CHECK_EQ(weft_runtime_describe(NULL, buf, sizeof buf), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_describe(rt, NULL, 5), WEFT_EINVAL);
    int cpus[64];
    CHECK(weft_runtime_worker_cpus(rt, 0, cpus, 64) >= 1);
    CHECK_EQ(weft_runtime_worker_cpus(rt, -1, cpus, 64), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_worker_cpus(rt, info.threads, cpus, 64), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_worker_cpus(rt, 0, NULL, 4), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_worker_cpus(rt, 0, cpus, -1), WEFT_EINVAL);
    weft_runtime_destroy(rt);
}

TEST(graph_argument_errors)
{
    weft_graph_t *g, *g2;
    CHECK_EQ(weft_graph_create(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *t = NULL;
    CHECK(weft_graph_add(NULL, "x", noop, NULL) == NULL);
    CHECK(weft_graph_add(g, "x", NULL, NULL) == NULL);
    CHECK_EQ(weft_graph_add_ex(g, "x", noop, NULL, 1u << 7, &t), WEFT_EINVAL); /* unknown flag */
    static const char borrowed[] = "borrowed";
    CHECK_EQ(weft_graph_add_ex(g2, borrowed, noop, NULL, WEFT_ADD_NAME_BORROWED, &t), 0);
    CHECK(weft_task_name(t) == borrowed); /* not a copy */
    CHECK_EQ(weft_graph_add_ex(g, "x", noop, NULL, 0, NULL), WEFT_EINVAL);
    weft_task_t *a = weft_graph_add(g, "a", noop, NULL);
    weft_task_t *b = weft_graph_add(g, "b", noop, NULL);
    weft_task_t *c = weft_graph_add(g2, "c", noop, NULL);
    CHECK(a && b && c);
    CHECK_EQ(weft_task_after(a, a), WEFT_EINVAL); /* self */
    CHECK_EQ(weft_task_after(a, c), WEFT_EINVAL); /* two graphs */
    CHECK_EQ(weft_task_after(NULL, a), WEFT_EINVAL);
    CHECK_EQ(weft_task_after(a, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_graph_size(g), 2);
    CHECK_EQ(weft_graph_size(NULL), 0);
    CHECK(weft_graph_task(g, 1) == b);
    CHECK(weft_graph_task(g, 2) == NULL);
    CHECK(weft_graph_task(NULL, 0) == NULL);
    CHECK_STR(weft_task_name(a), "a");
    CHECK_STR(weft_task_name(NULL), "");
    CHECK_EQ(weft_task_state(a), WEFT_TASK_NOT_RUN);
    CHECK_EQ(weft_task_state(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_run(NULL, g), WEFT_EINVAL);
    CHECK_EQ(weft_graph_submit(NULL, g), WEFT_EINVAL);
    CHECK_EQ(weft_graph_wait(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_wait(g), WEFT_ESTATE); /* never submitted */
    CHECK_EQ(weft_graph_done(g), WEFT_ESTATE);
    CHECK_EQ(weft_graph_done(NULL), WEFT_EINVAL);
    weft_run_stats_t st;
    CHECK_EQ(weft_graph_stats(NULL, &st), WEFT_EINVAL);
    CHECK_EQ(weft_graph_stats(g, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_stats(g, &st), 0);
    CHECK_EQ(st.not_run, 2);
    CHECK(weft_graph_first_failure(g) == NULL);
    CHECK_STR(weft_graph_error(NULL), "");
    /* Unnamed tasks are shown by index. */
    weft_task_t *u = weft_graph_add(g, NULL, noop, NULL);
    CHECK_STR(weft_task_name(u), "#2");
    weft_graph_destroy(g);
    weft_graph_destroy(g2);
}

TEST(ctx_null_arguments)
{
    void *out;
    CHECK_EQ(weft_ctx_worker(NULL), -1);
    CHECK_STR(weft_ctx_name(NULL), "");
    CHECK(weft_ctx_runtime(NULL) == NULL);
    CHECK_EQ(weft_ctx_set_result(NULL, NULL, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_ndeps(NULL), 0);
    CHECK_EQ(weft_ctx_dep_result(NULL, NULL, &out), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_dep_result_at(NULL, 0, &out), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_spawn(NULL, "x", noop, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_cancel_run(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_stopping(NULL), 0);
}

TEST(empty_graph_runs)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* A chain records the order it ran in. */
typedef struct order {
    atomic_int next;
    int seen[64];
} order_t;

typedef struct step {
    order_t *o;
    int id;
} step_t;

static int record(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    step_t *s = arg;
    s->o->seen[atomic_fetch_add(&s->o->next, 1)] = s->id;
    return 0;
}

TEST(chain_runs_in_order_and_graph_is_reusable)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    order_t o;
    step_t steps[50];
    weft_task_t *prev = NULL;
    for (int i = 0; i < 50; i++) {
        steps[i] = (step_t){&o, i};
        weft_task_t *t = weft_graph_add(g, "step", record, &steps[i]);
        CHECK(t);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    for (int rep = 0; rep < 20; rep++) {
        atomic_store(&o.next, 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&o.next), 50);
        for (int i = 0; i < 50; i++)
            CHECK_EQ(o.seen[i], i);
        weft_run_stats_t st;
        CHECK_EQ(weft_graph_stats(g, &st), 0);
        CHECK_EQ(st.done, 50);
        CHECK_EQ(weft_task_state(prev), WEFT_TASK_DONE);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(cycle_is_refused_and_named)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    atomic_int ran = 0;
    weft_task_t *src = weft_graph_add(g, "src", count_fn, &ran);
    weft_task_t *a = weft_graph_add(g, "a", count_fn, &ran);
    weft_task_t *b = weft_graph_add(g, "b", count_fn, &ran);
    weft_task_t *c = weft_graph_add(g, "c", count_fn, &ran);
    weft_task_t *d = weft_graph_add(g, "d", count_fn, &ran);
    CHECK_EQ(weft_task_after(a, src), 0);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(c, b), 0);
    CHECK_EQ(weft_task_after(a, c), 0); /* a -> b -> c -> a */
    CHECK_EQ(weft_task_after(d, c), 0); /* downstream of the cycle */
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ECYCLE);
    CHECK_EQ(atomic_load(&ran), 0);
    const char *e = weft_graph_error(g);
    CHECK(strncmp(e, "cycle: ", 7) == 0);
    CHECK(strstr(e, "a") && strstr(e, "b") && strstr(e, "c"));
    CHECK(strstr(e, "src") == NULL && strstr(e, "d") == NULL);
    /* The cycle reads in dependency order and closes on itself. */
    CHECK(strstr(e, "a -> b -> c -> a") || strstr(e, "b -> c -> a -> b") || strstr(e, "c -> a -> b -> c"));
    CHECK_EQ(weft_graph_submit(rt, g), WEFT_ECYCLE);
    CHECK_EQ(weft_graph_wait(g), WEFT_ESTATE); /* nothing was started */
    /* A two-task cycle and a self-cycle through another graph's edges. */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *x = weft_graph_add(g2, "x", noop, NULL);
    weft_task_t *y = weft_graph_add(g2, "y", noop, NULL);
    CHECK_EQ(weft_task_after(x, y), 0);
    CHECK_EQ(weft_task_after(y, x), 0);
    CHECK_EQ(weft_graph_run(rt, g2), WEFT_ECYCLE);
    CHECK(strstr(weft_graph_error(g2), "x -> y -> x") || strstr(weft_graph_error(g2), "y -> x -> y"));
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(backward_edges_without_cycle_run)
{
    /* Edges added against creation order: validation must do the full
     * check and still run everything. */
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    order_t o;
    atomic_store(&o.next, 0);
    step_t st[3] = {{&o, 2}, {&o, 1}, {&o, 0}};
    weft_task_t *last = weft_graph_add(g, "last", record, &st[0]);
    weft_task_t *mid = weft_graph_add(g, "mid", record, &st[1]);
    weft_task_t *first = weft_graph_add(g, "first", record, &st[2]);
    CHECK_EQ(weft_task_after(last, mid), 0);
    CHECK_EQ(weft_task_after(mid, first), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(o.seen[0], 0);
    CHECK_EQ(o.seen[1], 1);
    CHECK_EQ(o.seen[2], 2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- results ---- */

static atomic_int freed;
static void free_int(void *p)
{
    atomic_fetch_add(&freed, 1);
    free(p);
}

static int produce(weft_ctx_t *ctx, void *arg)
{
    int *v = malloc(sizeof *v);
    *v = (int)(intptr_t)arg;
    return weft_ctx_set_result(ctx, v, free_int);
}

typedef struct sum_arg {
    weft_task_t *a, *b, *other;
    int sum;
} sum_arg_t;

static int consume(weft_ctx_t *ctx, void *arg)
{
    sum_arg_t *s = arg;
    void *ra, *rb, *r0, *r1, *bad;
    CHECK_EQ(weft_ctx_ndeps(ctx), 2);
    CHECK_EQ(weft_ctx_dep_result(ctx, s->a, &ra), 0);
    CHECK_EQ(weft_ctx_dep_result(ctx, s->b, &rb), 0);
    CHECK_EQ(weft_ctx_dep_result_at(ctx, 0, &r0), 0);
    CHECK_EQ(weft_ctx_dep_result_at(ctx, 1, &r1), 0);
    CHECK(r0 == ra && r1 == rb);
    CHECK_EQ(weft_ctx_dep_result_at(ctx, 2, &bad), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_dep_result(ctx, s->other, &bad), WEFT_EINVAL); /* not a dependency */
    CHECK_EQ(weft_ctx_dep_result(ctx, NULL, &bad), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_dep_result(ctx, s->a, NULL), WEFT_EINVAL);
    CHECK_STR(weft_ctx_name(ctx), "sum");
    CHECK(weft_ctx_worker(ctx) >= 0);
    CHECK(weft_ctx_runtime(ctx) != NULL);
    s->sum = *(int *)ra + *(int *)rb;
    return 0;
}

TEST(results_flow_to_successors_and_are_freed)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    sum_arg_t s = {0};
    s.a = weft_graph_add(g, "a", produce, (void *)(intptr_t)40);
    s.b = weft_graph_add(g, "b", produce, (void *)(intptr_t)2);
    s.other = weft_graph_add(g, "other", noop, NULL);
    weft_task_t *sum = weft_graph_add(g, "sum", consume, &s);
    CHECK_EQ(weft_task_after(sum, s.a), 0);
    CHECK_EQ(weft_task_after(sum, s.b), 0);
    atomic_store(&freed, 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(s.sum, 42);
    CHECK_EQ(*(int *)weft_task_result(s.a), 40);
    CHECK(weft_task_result(sum) == NULL);
    CHECK(weft_task_result(NULL) == NULL);
    CHECK_EQ(atomic_load(&freed), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0); /* the previous results are released */
    CHECK_EQ(atomic_load(&freed), 2);
    weft_graph_destroy(g);
    CHECK_EQ(atomic_load(&freed), 4);
    weft_runtime_destroy(rt);
}

/* ---- children ---- */

typedef struct fib {
    int n;
    long result;
} fib_t;

static int fib_task(weft_ctx_t *ctx, void *arg);

static int fib_join(fib_t *f, fib_t *a, fib_t *b)
{
    (void)f;
    (void)a;
    (void)b;
    return 0;
}

/* Each node spawns two children and writes into slots the children fill;
 * the parent's successor sums the tree afterwards. */
static int fib_task(weft_ctx_t *ctx, void *arg)
{
    fib_t *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return 0;
    }
    fib_t *kids = malloc(2 * sizeof *kids);
    kids[0] = (fib_t){f->n - 1, 0};
    kids[1] = (fib_t){f->n - 2, 0};
    f->result = (long)(intptr_t)kids; /* resolved by fib_collect */
    CHECK_EQ(weft_ctx_spawn(ctx, "fib", fib_task, &kids[0]), 0);
    CHECK_EQ(weft_ctx_spawn(ctx, NULL, fib_task, &kids[1]), 0);
    return fib_join(f, &kids[0], &kids[1]);
}

static long fib_collect(fib_t *f)
{
    if (f->n < 2)
        return f->result;
    fib_t *kids = (fib_t *)(intptr_t)f->result;
    long r = fib_collect(&kids[0]) + fib_collect(&kids[1]);
    free(kids);
    return r;
}

typedef struct after_fib {
    fib_t *root;
    long value;
} after_fib_t;

static int after_fib(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    after_fib_t *a = arg;
    a->value = fib_collect(a->root); /* all children must be done */
    return 0;
}

TEST(children_finish_before_successors)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    fib_t root = {20, 0};
    after_fib_t af = {&root, 0};
    weft_task_t *p = weft_graph_add(g, "fib", fib_task, &root);
    weft_task_t *s = weft_graph_add(g, "after", after_fib, &af);
    CHECK_EQ(weft_task_after(s, p), 0);
    for (int rep = 0; rep < 3; rep++) {
        root.result = 0;
        af.value = 0;
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(af.value, 6765);
        CHECK_EQ(weft_task_state(p), WEFT_TASK_DONE);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int child_fails(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 9;
}

static int spawns_failing_child(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    CHECK_EQ(weft_ctx_spawn(ctx, "bad-child", child_fails, NULL), 0);
    CHECK_EQ(weft_ctx_spawn(ctx, "good-child", noop, NULL), 0);
    CHECK_EQ(weft_ctx_spawn(ctx, "x", NULL, NULL), WEFT_EINVAL);
    /* A child's result cannot outlive it. */
    return 0;
}

static int child_sets_result(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_set_result(ctx, NULL, NULL) == WEFT_EINVAL ? 0 : 1;
}

static int spawns_result_child(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_spawn(ctx, "c", child_sets_result, NULL);
}

TEST(failing_child_fails_parent)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    atomic_int ran = 0;
    weft_task_t *p = weft_graph_add(g, "parent", spawns_failing_child, NULL);
    weft_task_t *s = weft_graph_add(g, "succ", count_fn, &ran);
    weft_task_t *r = weft_graph_add(g, "rparent", spawns_result_child, NULL);
    CHECK_EQ(weft_task_after(s, p), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(p), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(p), 9);
    CHECK_EQ(weft_task_state(s), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(r), WEFT_TASK_DONE);
    CHECK_EQ(atomic_load(&ran), 0);
    CHECK_STR(weft_graph_first_failure(g), "bad-child");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- busy graphs ---- */

typedef struct busy {
    weft_graph_t *g;
    weft_task_t *other;
    int add_rc, after_rc, run_rc, destroy_ok;
    weft_runtime_t *rt;
} busy_t;

static int modify_self(weft_ctx_t *ctx, void *arg)
{
    busy_t *b = arg;
    weft_task_t *t = NULL;
    b->add_rc = weft_graph_add_ex(b->g, "late", noop, NULL, 0, &t);
    b->after_rc = weft_task_after(b->other, b->other == NULL ? NULL : b->other);
    weft_task_t *self = weft_graph_task(b->g, 0);
    b->after_rc = weft_task_after(b->other, self);
    b->run_rc = weft_graph_run(weft_ctx_runtime(ctx), b->g);
    weft_graph_destroy(b->g);    /* refused from inside: must not free */
    weft_runtime_destroy(b->rt); /* refused from inside */
    return 0;
}

TEST(changing_a_running_graph_is_ebusy)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    busy_t b = {g, NULL, 0, 0, 0, 0, rt};
    weft_graph_add(g, "modifier", modify_self, &b);
    b.other = weft_graph_add(g, "other", noop, NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(b.add_rc, WEFT_EBUSY);
    CHECK_EQ(b.after_rc, WEFT_EBUSY);
    CHECK_EQ(b.run_rc, WEFT_EBUSY);
    CHECK_EQ(weft_graph_size(g), 2);
    /* Submitted but not waited: still busy, and a second submit too. */
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    CHECK(weft_graph_add(g, "x", noop, NULL) == NULL);
    CHECK_EQ(weft_graph_submit(rt, g), WEFT_EBUSY);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_EBUSY);
    CHECK_EQ(weft_graph_wait(g), 0);
    CHECK_EQ(weft_graph_wait(g), WEFT_ESTATE);
    CHECK(weft_graph_add(g, "x", noop, NULL) != NULL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- submit / wait, several graphs at once ---- */

static int slow_count(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    usleep(200);
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

TEST(submit_then_wait)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    atomic_int n = 0;
    for (int i = 0; i < 100; i++)
        CHECK(weft_graph_add(g, "t", slow_count, &n));
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    int d = weft_graph_done(g);
    CHECK(d == 0 || d == 1);
    CHECK_EQ(weft_graph_wait(g), 0);
    CHECK_EQ(atomic_load(&n), 100);
    /* Workers make progress without anyone waiting. */
    atomic_store(&n, 0);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    for (int i = 0; i < 2000 && weft_graph_done(g) != 1; i++)
        usleep(1000);
    CHECK_EQ(weft_graph_done(g), 1);
    CHECK_EQ(atomic_load(&n), 100);
    CHECK_EQ(weft_graph_wait(g), 0);
    /* Destroying a submitted graph waits for it. */
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(runtime_destroy_waits_for_submitted_graphs)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    atomic_int n = 0;
    for (int i = 0; i < 50; i++)
        CHECK(weft_graph_add(g, "t", slow_count, &n));
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    weft_runtime_destroy(rt);
    CHECK_EQ(atomic_load(&n), 50);
    CHECK_EQ(weft_graph_wait(g), 0);
    weft_graph_destroy(g);
}

typedef struct thr {
    weft_runtime_t *rt;
    int reps;
    int ok;
} thr_t;

static void *run_from_thread(void *arg)
{
    thr_t *t = arg;
    weft_graph_t *g;
    if (weft_graph_create(&g))
        return NULL;
    atomic_int n = 0;
    weft_task_t *root = weft_graph_add(g, "root", count_fn, &n);
    weft_task_t *join = weft_graph_add(g, "join", count_fn, &n);
    for (int i = 0; i < 200; i++) {
        weft_task_t *x = weft_graph_add(g, "leaf", count_fn, &n);
        weft_task_after(x, root);
        weft_task_after(join, x);
    }
    t->ok = 1;
    for (int r = 0; r < t->reps; r++) {
        atomic_store(&n, 0);
        if (weft_graph_run(t->rt, g) != 0 || atomic_load(&n) != 202)
            t->ok = 0;
    }
    weft_graph_destroy(g);
    return NULL;
}

TEST(several_graphs_at_once_from_threads)
{
    for (int help = 0; help < 2; help++) {
        weft_runtime_t *rt = make_rt(2, help ? 0 : WEFT_CONFIG_NO_CALLER_HELP);
        pthread_t th[12];
        thr_t args[12];
        for (int i = 0; i < 12; i++) { /* more threads than helper slots */
            args[i] = (thr_t){rt, 100, 0};
            CHECK_EQ(pthread_create(&th[i], NULL, run_from_thread, &args[i]), 0);
        }
        for (int i = 0; i < 12; i++) {
            pthread_join(th[i], NULL);
            CHECK(args[i].ok);
        }
        weft_runtime_destroy(rt);
    }
}

typedef struct nested {
    weft_graph_t *inner;
    int rc;
} nested_t;

static int run_inner(weft_ctx_t *ctx, void *arg)
{
    nested_t *n = arg;
    n->rc = weft_graph_run(weft_ctx_runtime(ctx), n->inner);
    return n->rc;
}

TEST(graph_run_from_inside_a_task)
{
    weft_runtime_t *rt = make_rt(2, 0);
    enum { K = 8 };
    weft_graph_t *outer, *inner[K];
    nested_t ns[K];
    atomic_int n = 0;
    CHECK_EQ(weft_graph_create(&outer), 0);
    for (int k = 0; k < K; k++) {
        CHECK_EQ(weft_graph_create(&inner[k]), 0);
        for (int i = 0; i < 100; i++)
            CHECK(weft_graph_add(inner[k], "in", count_fn, &n));
        ns[k] = (nested_t){inner[k], -100};
        CHECK(weft_graph_add(outer, "outer", run_inner, &ns[k]));
    }
    CHECK_EQ(weft_graph_run(rt, outer), 0);
    CHECK_EQ(atomic_load(&n), K * 100);
    for (int k = 0; k < K; k++) {
        CHECK_EQ(ns[k].rc, 0);
        weft_graph_destroy(inner[k]);
    }
    weft_graph_destroy(outer);
    weft_runtime_destroy(rt);
}

TEST(one_graph_on_two_runtimes)
{
    weft_runtime_t *a = make_rt(1, 0), *b = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    atomic_int n = 0;
    for (int i = 0; i < 1000; i++)
        CHECK(weft_graph_add(g, "t", count_fn, &n));
    CHECK_EQ(weft_graph_run(a, g), 0);
    CHECK_EQ(weft_graph_run(b, g), 0);
    CHECK_EQ(atomic_load(&n), 2000);
    weft_graph_destroy(g);
    weft_runtime_destroy(a);
    weft_runtime_destroy(b);
}

TEST(alloc_hooks_validation)
{
    weft_alloc_hooks_t h = {0};
    CHECK_EQ(weft_alloc_set_hooks(&h), WEFT_EINVAL);
    CHECK_EQ(weft_alloc_set_hooks(NULL), 0);
    const char *b = weft_alloc_backend();
    CHECK(strcmp(b, "jemalloc") == 0 || strcmp(b, "libc") == 0);
}

/* ---- weft_graph_add_copy: a task owns a copy of its argument ------------- */

typedef struct copied_args {
    long double precise; /* the strictest alignment there is */
    int index;
    char label[24];
} copied_args_t;

static atomic_int copies_ok, copies_seen;

static int check_copy(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    copied_args_t *a = arg;
    char want[24];
    snprintf(want, sizeof want, "task %d", a->index);
    atomic_fetch_add(&copies_seen, 1);
    if ((uintptr_t)a % _Alignof(max_align_t) == 0 && a->precise == (long double)a->index / 3 &&
        strcmp(a->label, want) == 0)
        atomic_fetch_add(&copies_ok, 1);
    return 0;
}

static int gets_null(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    return arg == NULL ? 0 : -1;
}

TEST(add_copy_owns_its_argument)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t;
    for (int i = 0; i < 1000; i++) {
        copied_args_t a; /* one stack variable, reused: each task must have its own */
        memset(&a, 0, sizeof a);
        a.index = i;
        a.precise = (long double)i / 3;
        snprintf(a.label, sizeof a.label, "task %d", i);
        CHECK_EQ(weft_graph_add_copy(g, NULL, check_copy, &a, sizeof a, &t), 0);
        memset(&a, 0xff, sizeof a);
    }
    CHECK_EQ(weft_graph_add_copy(g, "null", gets_null, NULL, 0, &t), 0);
    for (int rep = 0; rep < 2; rep++) {
        atomic_store(&copies_ok, 0);
        atomic_store(&copies_seen, 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&copies_seen), 1000);
        CHECK_EQ(atomic_load(&copies_ok), 1000);
    }
    /* misuse */
    int x = 1;
    CHECK_EQ(weft_graph_add_copy(NULL, "x", check_copy, &x, sizeof x, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_copy(g, "x", NULL, &x, sizeof x, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_copy(g, "x", check_copy, &x, sizeof x, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_copy(g, "x", check_copy, NULL, 8, &t), WEFT_EINVAL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- the config's size: room to grow without breaking programs --------- */

TEST(config_struct_size)
{
    weft_runtime_t *rt = NULL;
    weft_config_t cfg;
    weft_config_init(&cfg);
    CHECK_EQ(cfg.struct_size, sizeof cfg);
    (weft_config_init)(&cfg); /* the function, as dlsym finds it */
    CHECK_EQ(cfg.struct_size, sizeof cfg);
    /* not made by weft_config_init: refused, not misread */
    memset(&cfg, 0, sizeof cfg);
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    CHECK(rt == NULL);
    /* a program built against a newer weft.h: a larger struct; what this
     * version does not know is ignored */
    union {
        weft_config_t c;
        char bytes[sizeof(weft_config_t) + 64];
    } big;
    memset(&big, 0xab, sizeof big);
    weft_config_init_sized(&big.c, sizeof big);
    CHECK_EQ(big.c.struct_size, sizeof big);
    CHECK_EQ(big.bytes[sizeof(weft_config_t) + 10], 0); /* zeroed */
    big.c.threads = 2;
    big.c.pin = WEFT_PIN_NONE;
    CHECK_EQ(weft_runtime_create(&big.c, &rt), 0);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    CHECK_EQ(info.threads, 2);
    weft_runtime_destroy(rt);
    rt = NULL;
    /* a size no weft ever had: left alone, then refused */
    memset(&cfg, 0, sizeof cfg);
    weft_config_init_sized(&cfg, 8);
    CHECK_EQ(cfg.struct_size, 0u);
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
}

/* ---- the log handler ---------------------------------------------------- */

static char logged[1024];
static int nlogged;
static void take_log(void *ud, const char *msg)
{
    CHECK(ud == (void *)logged);
    snprintf(logged, sizeof logged, "%s", msg);
    nlogged++;
}

TEST(log_handler_takes_warnings)
{
    weft_runtime_t *rt = make_rt(1, 0);
    int x;
    CHECK_EQ(weft_log_set_handler(take_log, logged), 0);
    weft_mem_free(NULL, &x); /* a warning: NULL runtime */
    CHECK_EQ(nlogged, 1);
    CHECK(strncmp(logged, "weft_mem_free(", 14) == 0); /* no "weft: " prefix, no newline */
    CHECK(strchr(logged, '\n') == NULL);
    CHECK_EQ(weft_log_set_handler(take_log, logged), 0); /* replaced: still one call per warning */
    weft_mem_free(NULL, &x);
    CHECK_EQ(nlogged, 2);
    CHECK_EQ(weft_log_set_handler(NULL, NULL), 0); /* back to stderr */
    weft_mem_free(NULL, &x);
    CHECK_EQ(nlogged, 2);
    weft_runtime_destroy(rt);
}
