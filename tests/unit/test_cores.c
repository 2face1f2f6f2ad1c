/* Admission and placement of multi-core tasks on made-up machines: FIFO
 * order, close placement inside an L3 domain, PU slots, oversubscription,
 * stop, misuse. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "tasks/tasks.h"
#include "testlib.h"
#include "weft/runtime.h"

/* 2 packages x 2 L3 x 2 cores x 2 PUs: core c has PUs 2c and 2c+1. */
static weft__topo_t *machine(void)
{
    weft__topo_t *t;
    CHECK_EQ(weft__topo_new("test", &t), 0);
    for (int c = 0; c < 8; c++) {
        CHECK_EQ(weft__topo_add_core(t, c / 4, c / 2), 0);
        CHECK_EQ(weft__topo_add_pu(t, 2 * c), 0);
        CHECK_EQ(weft__topo_add_pu(t, 2 * c + 1), 0);
    }
    weft__topo_finish(t);
    return t;
}

typedef struct got {
    int calls, status;
    weft__lease_t *lease;
    char cpus[64];
} got_t;

static void grant(void *ud, weft__lease_t *l, int status)
{
    got_t *g = ud;
    g->calls++;
    g->status = status;
    g->lease = l;
    weft__cpuset_format(&l->set, g->cpus, sizeof g->cpus);
}

TEST(close_cores_then_fifo)
{
    weft__topo_t *t = machine();
    weft__cores_t *c;
    CHECK_EQ(weft__cores_create(t, 0, WEFT_PIN_CORE, &c), 0);
    CHECK_EQ(weft__cores_slots(c), 8);
    char buf[64];
    CHECK_STR(weft__cpuset_format(weft__cores_all(c), buf, sizeof buf), "0-15");

    got_t a = {0}, b = {0}, d = {0}, e = {0};
    CHECK_EQ(weft__cores_request(c, 1, grant, &a), 0); /* core 0 */
    CHECK_EQ(a.calls, 1);
    CHECK_STR(a.cpus, "0-1");
    /* 2 cores: not core 1 + core 2 (two L3 domains) but cores 2-3 */
    CHECK_EQ(weft__cores_request(c, 2, grant, &b), 0);
    CHECK_STR(b.cpus, "4-7");
    /* 5 cores: only 5 free (1, 4-7): waits for nothing, takes them all */
    CHECK_EQ(weft__cores_request(c, 5, grant, &d), 0);
    CHECK_EQ(d.calls, 1);
    CHECK_STR(d.cpus, "2-3,8-15");
    /* Full: a 1-core request waits ... */
    CHECK_EQ(weft__cores_request(c, 1, grant, &e), 0);
    CHECK_EQ(e.calls, 0);
    weft__cores_release(c, b.lease); /* ... and gets the first freed core */
    CHECK_EQ(e.calls, 1);
    CHECK_EQ(e.status, 0);
    CHECK_STR(e.cpus, "4-5");

    /* FIFO: a 3-core waiter is not overtaken by a later 1-core one. */
    got_t big = {0}, small = {0};
    CHECK_EQ(weft__cores_request(c, 3, grant, &big), 0);
    CHECK_EQ(weft__cores_request(c, 1, grant, &small), 0);
    weft__cores_release(c, a.lease); /* 2 free: core 0, core 3 */
    CHECK_EQ(big.calls, 0);
    CHECK_EQ(small.calls, 0);
    weft__cores_release(c, e.lease); /* 3 free */
    CHECK_EQ(big.calls, 1);
    CHECK_STR(big.cpus, "0-1,4-7");
    CHECK_EQ(small.calls, 0);

    /* Misuse */
    CHECK_EQ(weft__cores_request(c, 0, grant, &small), WEFT_EINVAL);
    CHECK_EQ(weft__cores_request(c, 9, grant, &small), WEFT_EINVAL);
    CHECK_EQ(weft__cores_request(c, 1, NULL, &small), WEFT_EINVAL);

    /* Stop: the waiter is canceled, later requests too. */
    weft__cores_stop(c);
    CHECK_EQ(small.calls, 1);
    CHECK_EQ(small.status, WEFT_ECANCELED);
    weft__cores_release(c, small.lease);
    got_t late = {0};
    CHECK_EQ(weft__cores_request(c, 1, grant, &late), 0);
    CHECK_EQ(late.status, WEFT_ECANCELED);
    weft__cores_release(c, late.lease);
    weft__cores_release(c, big.lease);
    weft__cores_release(c, d.lease);
    weft__cores_destroy(c);
    weft__topo_destroy(t);
}

TEST(pu_slots_and_oversubscription)
{
    weft__topo_t *t = machine();
    weft__cores_t *c;
    CHECK_EQ(weft__cores_create(t, 0, WEFT_PIN_PU, &c), 0);
    CHECK_EQ(weft__cores_slots(c), 16);
    got_t a = {0}, b = {0};
    CHECK_EQ(weft__cores_request(c, 3, grant, &a), 0);
    CHECK_STR(a.cpus, "0-2");
    CHECK_EQ(weft__cores_request(c, 1, grant, &b), 0);
    CHECK_STR(b.cpus, "3");
    weft__cores_release(c, a.lease);
    weft__cores_release(c, b.lease);
    weft__cores_destroy(c);

    /* 12 slots over 8 cores: slots 8..11 are cores 0..3 again. */
    CHECK_EQ(weft__cores_create(t, 12, WEFT_PIN_CORE, &c), 0);
    CHECK_EQ(weft__cores_request(c, 10, grant, &a), 0);
    CHECK_STR(a.cpus, "0-15");
    CHECK_EQ(weft__cores_request(c, 2, grant, &b), 0);
    CHECK_STR(b.cpus, "4-7");
    weft__cores_release(c, a.lease);
    weft__cores_release(c, b.lease);
    weft__cores_destroy(c);

    /* pin none: admission only, no cpus */
    CHECK_EQ(weft__cores_create(t, 2, WEFT_PIN_NONE, &c), 0);
    a = (got_t){0};
    CHECK_EQ(weft__cores_request(c, 2, grant, &a), 0);
    CHECK_EQ(a.calls, 1);
    CHECK_STR(a.cpus, "");
    weft__cores_release(c, a.lease);
    weft__cores_destroy(c);

    weft__cores_t *bad = (weft__cores_t *)1;
    CHECK_EQ(weft__cores_create(t, -1, WEFT_PIN_CORE, &bad), WEFT_EINVAL);
    CHECK_EQ(weft__cores_create(t, 0, 7, &bad), WEFT_EINVAL);
    CHECK_EQ(weft__cores_create(NULL, 0, WEFT_PIN_CORE, &bad), WEFT_EINVAL);
    CHECK(bad == (weft__cores_t *)1);
    weft__topo_destroy(t);
}

TEST(cpuset_format)
{
    weft__cpuset_t s;
    memset(&s, 0, sizeof s);
    char buf[16];
    CHECK_STR(weft__cpuset_format(&s, buf, sizeof buf), "");
    weft__cpuset_set(&s, 0);
    weft__cpuset_set(&s, 2);
    weft__cpuset_set(&s, 3);
    weft__cpuset_set(&s, 4);
    weft__cpuset_set(&s, 4095);
    CHECK_STR(weft__cpuset_format(&s, buf, sizeof buf), "0,2-4,4095");
    char tiny[6];
    CHECK_STR(weft__cpuset_format(&s, tiny, sizeof tiny), "0,2-4");
}

TEST(cpuset_next_across_words)
{
    weft__cpuset_t s;
    memset(&s, 0, sizeof s);
    CHECK_EQ(weft__cpuset_next(&s, 0), -1);
    weft__cpuset_set(&s, 63);
    weft__cpuset_set(&s, 64);
    weft__cpuset_set(&s, 4095);
    CHECK_EQ(weft__cpuset_next(&s, -5), 63);
    CHECK_EQ(weft__cpuset_next(&s, 63), 63);
    CHECK_EQ(weft__cpuset_next(&s, 64), 64);
    CHECK_EQ(weft__cpuset_next(&s, 65), 4095);
    CHECK_EQ(weft__cpuset_next(&s, 4096), -1);
    char buf[32];
    CHECK_STR(weft__cpuset_format(&s, buf, sizeof buf), "63-64,4095");
}

/* A worker asking for the slots it held last gets them back when they are
 * free, and the closest free ones otherwise; the queue stays FIFO. */
TEST(near_slots)
{
    weft__topo_t *t = machine();
    weft__cores_t *c;
    CHECK_EQ(weft__cores_create(t, 0, WEFT_PIN_CORE, &c), 0);
    got_t a = {0}, b = {0}, d = {0}, e = {0};
    int five[] = {5}, six_seven[] = {6, 7}, dup[] = {3, 3}, out[] = {8};
    CHECK_EQ(weft__cores_request_near(c, 1, five, grant, &a), 0);
    CHECK_STR(a.cpus, "10-11");
    CHECK_EQ(a.lease->slots[0], 5);
    CHECK_EQ(weft__cores_request_near(c, 2, six_seven, grant, &b), 0);
    CHECK_STR(b.cpus, "12-15");
    /* busy, repeated or out of range: the usual choice */
    CHECK_EQ(weft__cores_request_near(c, 1, five, grant, &d), 0);
    CHECK_STR(d.cpus, "0-1");
    weft__cores_release(c, d.lease);
    d = (got_t){0};
    CHECK_EQ(weft__cores_request_near(c, 2, dup, grant, &d), 0);
    CHECK_STR(d.cpus, "0-3");
    CHECK_EQ(weft__cores_request_near(c, 1, out, grant, &e), 0);
    CHECK_STR(e.cpus, "4-5");
    weft__cores_release(c, e.lease);
    weft__cores_release(c, d.lease);
    /* queued, a wish is looked at when its turn comes */
    got_t big = {0}, small = {0};
    CHECK_EQ(weft__cores_request(c, 4, grant, &big), 0); /* free: 0-4 */
    CHECK_STR(big.cpus, "0-7");
    d = (got_t){0};
    CHECK_EQ(weft__cores_request_near(c, 2, six_seven, grant, &d), 0);
    CHECK_EQ(d.calls, 0);
    CHECK_EQ(weft__cores_request_near(c, 1, five, grant, &small), 0);
    CHECK_EQ(small.calls, 0);
    weft__cores_release(c, a.lease); /* free: 4, 5 - but 6, 7 are wished */
    CHECK_EQ(d.calls, 1);
    CHECK_STR(d.cpus, "8-11");
    CHECK_EQ(small.calls, 0);
    weft__cores_release(c, b.lease); /* free: 6, 7 */
    CHECK_EQ(small.calls, 1);
    CHECK_STR(small.cpus, "12-13");
    weft__cores_release(c, d.lease);
    weft__cores_release(c, small.lease);
    weft__cores_release(c, big.lease);
    weft__cores_destroy(c);
    weft__topo_destroy(t);
}

/* GPUs in the budget: lowest free numbers, granted with the cores in one
 * queue; a waiter short of GPUs holds back its cores only, so CPU tasks
 * behind it go on while it cannot starve. */
TEST(gpus)
{
    weft__topo_t *t = machine();
    weft__cores_t *c;
    CHECK_EQ(weft__cores_create(t, 4, WEFT_PIN_CORE, &c), 0);
    CHECK_EQ(weft__cores_gpus(c), 0);
    got_t x = {0};
    CHECK_EQ(weft__cores_request_ex(c, 1, 1, NULL, grant, &x), WEFT_EINVAL); /* no GPU in the budget */
    CHECK_EQ(weft__cores_set_gpus(c, 65), WEFT_EINVAL);
    CHECK_EQ(weft__cores_set_gpus(c, -1), WEFT_EINVAL);
    CHECK_EQ(weft__cores_set_gpus(c, 3), 0);
    CHECK_EQ(weft__cores_gpus(c), 3);
    CHECK_EQ(weft__cores_request_ex(c, 1, 4, NULL, grant, &x), WEFT_EINVAL);
    CHECK_EQ(weft__cores_request_ex(c, 1, -1, NULL, grant, &x), WEFT_EINVAL);
    CHECK_EQ(x.calls, 0);

    got_t a = {0}, b = {0}, d = {0}, e = {0}, f = {0};
    CHECK_EQ(weft__cores_request_ex(c, 1, 2, NULL, grant, &a), 0);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.lease->g, 2);
    CHECK_EQ(a.lease->gpus, 0x3u);
    CHECK_EQ(weft__cores_request_ex(c, 1, 1, NULL, grant, &b), 0);
    CHECK_EQ(b.lease->gpus, 0x4u);
    /* no GPU left: waits, holding back one core */
    CHECK_EQ(weft__cores_request_ex(c, 1, 1, NULL, grant, &d), 0);
    CHECK_EQ(d.calls, 0);
    /* a CPU task behind it takes the last free core but one */
    CHECK_EQ(weft__cores_request(c, 1, grant, &e), 0);
    CHECK_EQ(e.calls, 1);
    CHECK_EQ(e.lease->g, 0);
    CHECK_EQ(e.lease->gpus, 0u);
    /* the last core is held back for the GPU waiter */
    CHECK_EQ(weft__cores_request(c, 1, grant, &f), 0);
    CHECK_EQ(f.calls, 0);
    weft__cores_release(c, a.lease); /* GPUs 0 and 1 free: the waiter first */
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.lease->gpus, 0x1u);
    CHECK_EQ(f.calls, 1); /* and a core was freed for the CPU task */
    weft__cores_release(c, f.lease);
    weft__cores_release(c, e.lease);
    weft__cores_release(c, d.lease);
    /* a GPU waiter behind a CPU waiter keeps FIFO order among what both need */
    got_t big = {0}, g1 = {0};
    CHECK_EQ(weft__cores_request(c, 4, grant, &big), 0); /* b holds a core: waits */
    CHECK_EQ(big.calls, 0);
    CHECK_EQ(weft__cores_request_ex(c, 1, 1, NULL, grant, &g1), 0);
    CHECK_EQ(g1.calls, 0);
    weft__cores_release(c, b.lease);
    CHECK_EQ(big.calls, 1);
    CHECK_EQ(g1.calls, 0);
    weft__cores_release(c, big.lease);
    CHECK_EQ(g1.calls, 1);
    CHECK_EQ(g1.lease->gpus, 0x1u);
    /* stop: waiters fail holding nothing */
    got_t w = {0};
    weft__lease_t *keep = g1.lease;
    CHECK_EQ(weft__cores_request_ex(c, 4, 3, NULL, grant, &w), 0);
    CHECK_EQ(w.calls, 0);
    weft__cores_stop(c);
    CHECK_EQ(w.calls, 1);
    CHECK_EQ(w.status, WEFT_ECANCELED);
    CHECK_EQ(w.lease->g, 0);
    weft__cores_release(c, w.lease);
    weft__cores_release(c, keep);
    weft__cores_destroy(c);
    weft__topo_destroy(t);
}
