/* The address table of pinned and device blocks (memory/ptrmap.h), checked
 * against a plain array: random inserts and erasures, lookups of present
 * and absent addresses, growth, and addresses that share home slots. */
#include <stdint.h>
#include <stdlib.h>

#include "memory/ptrmap.h"
#include "testlib.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_all(weft__ptrmap_t *m, void **keys, const int *live, int n, size_t others)
{
    size_t count = others;
    for (int i = 0; i < n; i++) {
        weft__ptrent_t *e = weft__ptrmap_find(m, keys[i]);
        if (live[i]) {
            CHECK(e != NULL);
            CHECK_EQ(e->size, (size_t)i);
            CHECK_EQ(e->device, i % 3);
            count++;
        } else {
            CHECK(e == NULL);
        }
    }
    CHECK_EQ(m->count, count);
}

TEST(random_inserts_and_erasures)
{
    enum { N = 3000 };
    static void *keys[N];
    static int live[N];
    /* page-aligned addresses, as CUDA hands out: low bits all zero */
    for (int i = 0; i < N; i++)
        keys[i] = (void *)(uintptr_t)(0x7f0000000000ull + (uint64_t)i * 4096);
    weft__ptrmap_t m = {0};
    CHECK(weft__ptrmap_find(&m, keys[0]) == NULL); /* empty */
    for (int round = 0; round < 20000; round++) {
        int i = (int)(next() % N);
        if (live[i]) {
            weft__ptrmap_erase(&m, weft__ptrmap_find(&m, keys[i]));
            live[i] = 0;
        } else {
            CHECK_EQ(weft__ptrmap_insert(&m, (weft__ptrent_t){keys[i], (size_t)i, 2, i % 3}), 0);
            live[i] = 1;
        }
        if (round % 997 == 0)
            check_all(&m, keys, live, N, 0);
    }
    check_all(&m, keys, live, N, 0);
    CHECK(weft__ptrmap_find(&m, NULL) == NULL);
    CHECK(weft__ptrmap_find(&m, (void *)(uintptr_t)0x1000) == NULL);
    weft__free(m.tab);
}

/* Keys crowded onto few home slots: long probe runs that wrap around the
 * end of the table, erased from the middle. */
TEST(colliding_keys_wrap_around)
{
    weft__ptrmap_t m = {0};
    CHECK_EQ(weft__ptrmap_insert(&m, (weft__ptrent_t){(void *)(uintptr_t)4096, 0, 1, 0}), 0);
    enum { N = 30 };
    void *keys[N];
    int live[N], n = 0;
    /* addresses whose home is one of the last two slots of a 64-entry table */
    for (uintptr_t a = 8192; n < N; a += 4096) {
        if (weft__ptrmap_home(&m, (void *)a) >= m.cap - 2) {
            keys[n] = (void *)a;
            live[n] = 1;
            CHECK_EQ(weft__ptrmap_insert(&m, (weft__ptrent_t){(void *)a, (size_t)n, 1, n % 3}), 0);
            n++;
        }
    }
    CHECK_EQ(m.cap, 64); /* 31 entries: no growth yet */
    for (int i = 0; i < N; i += 3) {
        weft__ptrmap_erase(&m, weft__ptrmap_find(&m, keys[i]));
        live[i] = 0;
        check_all(&m, keys, live, N, 1);
    }
    CHECK(weft__ptrmap_find(&m, (void *)(uintptr_t)4096) != NULL);
    weft__free(m.tab);
}
