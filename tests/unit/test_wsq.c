/* The Chase–Lev deque: owner LIFO, thieves FIFO, growth, and under
 * concurrency every element taken exactly once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "scheduler/wsq.h"
#include "testlib.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((long)(uintptr_t)(p)-1)

TEST(owner_lifo_thief_fifo)
{
    weft__wsq_t q;
    CHECK_EQ(weft__wsq_init(&q, 4), 0);
    CHECK(weft__wsq_pop(&q) == NULL);
    void *x;
    CHECK_EQ(weft__wsq_steal(&q, &x), WEFT_WSQ_EMPTY);
    for (long i = 0; i < 5; i++)
        CHECK_EQ(weft__wsq_push(&q, ITEM(i)), 0);
    CHECK_EQ(weft__wsq_size(&q), 5);
    CHECK(weft__wsq_pop(&q) == ITEM(4));
    CHECK_EQ(weft__wsq_steal(&q, &x), WEFT_WSQ_OK);
    CHECK(x == ITEM(0));
    CHECK(weft__wsq_pop(&q) == ITEM(3));
    CHECK(weft__wsq_pop(&q) == ITEM(2));
    CHECK(weft__wsq_pop(&q) == ITEM(1));
    CHECK(weft__wsq_pop(&q) == NULL);
    weft__wsq_fini(&q);
}

TEST(grows_and_keeps_order)
{
    weft__wsq_t q;
    CHECK_EQ(weft__wsq_init(&q, 1), 0);
    for (long i = 0; i < 10000; i++)
        CHECK_EQ(weft__wsq_push(&q, ITEM(i)), 0);
    for (long i = 0; i < 5000; i++) {
        void *x;
        CHECK_EQ(weft__wsq_steal(&q, &x), WEFT_WSQ_OK);
        CHECK_EQ(INDEX(x), i);
    }
    for (long i = 9999; i >= 5000; i--)
        CHECK_EQ(INDEX(weft__wsq_pop(&q)), i);
    weft__wsq_fini(&q);
}

enum { N = 200000, THIEVES = 3 };
static atomic_int taken[N];
static weft__wsq_t shared;
static atomic_int owner_done;

static void *thief(void *arg)
{
    (void)arg;
    for (;;) {
        void *x;
        int r = weft__wsq_steal(&shared, &x);
        if (r == WEFT_WSQ_OK)
            atomic_fetch_add(&taken[INDEX(x)], 1);
        else if (r == WEFT_WSQ_EMPTY && atomic_load(&owner_done))
            break;
    }
    return NULL;
}

TEST(concurrent_each_element_once)
{
    CHECK_EQ(weft__wsq_init(&shared, 16), 0);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        pthread_create(&th[i], NULL, thief, NULL);
    /* The owner pushes in bursts and pops some back, racing the thieves
     * for the last elements. */
    long next = 0;
    while (next < N) {
        int burst = (int)(next % 7) + 1;
        for (int b = 0; b < burst && next < N; b++)
            CHECK_EQ(weft__wsq_push(&shared, ITEM(next++)), 0);
        for (int b = 0; b < burst / 2; b++) {
            void *x = weft__wsq_pop(&shared);
            if (x)
                atomic_fetch_add(&taken[INDEX(x)], 1);
        }
    }
    void *x;
    while ((x = weft__wsq_pop(&shared)) != NULL)
        atomic_fetch_add(&taken[INDEX(x)], 1);
    atomic_store(&owner_done, 1);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(th[i], NULL);
    for (long i = 0; i < N; i++)
        if (atomic_load(&taken[i]) != 1)
            FAIL("element %ld taken %d times", i, atomic_load(&taken[i]));
    weft__wsq_fini(&shared);
}
