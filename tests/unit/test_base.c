/* base: error codes, allocation hooks, aligned and large blocks,
 * the clock. */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "failalloc.h"
#include "testlib.h"

TEST(error_map_is_consistent)
{
#define X(name, value, msg)                                                                                            \
    CHECK_STR(weft_err_name(value), #name);                                                                            \
    CHECK_STR(weft_strerror(value), msg);                                                                              \
    CHECK(value < 0);
    WEFT_ERRNO_MAP(X)
#undef X
}

TEST(malloc_wrappers)
{
    CHECK(weft__malloc(0) == NULL);
    CHECK(weft__calloc(0, 8) == NULL);
    CHECK(weft__calloc(SIZE_MAX / 2, 4) == NULL); /* overflow */
    int *z = weft__calloc(16, sizeof *z);
    CHECK(z);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(z[i], 0);
    z = weft__realloc(z, 1024 * sizeof *z);
    CHECK(z);
    CHECK(weft__realloc(z, 0) == NULL); /* refused, block kept */
    weft__free(z);
    weft__free(NULL);
    char *d = weft__strdup("hello");
    CHECK_STR(d, "hello");
    weft__free(d);
}

TEST(aligned_and_large_blocks)
{
    for (size_t a = sizeof(void *); a <= 4096; a *= 2) {
        char *p = weft__aligned_alloc(a, 100);
        CHECK(p && ((uintptr_t)p % a) == 0);
        memset(p, 1, 100);
        weft__aligned_free(p);
    }
    CHECK(weft__aligned_alloc(3, 10) == NULL);
    CHECK(weft__aligned_alloc(64, 0) == NULL);
    weft__aligned_free(NULL);
    char *big = weft__alloc_large((size_t)5 << 20);
    CHECK(big && ((uintptr_t)big % ((size_t)2 << 20)) == 0);
    memset(big, 7, (size_t)5 << 20);
    weft__aligned_free(big);
    char *small = weft__alloc_large(1000);
    CHECK(small && ((uintptr_t)small % 64) == 0);
    weft__aligned_free(small);
}

TEST(hooks_see_every_block_and_failures_propagate)
{
    fa_install(0);
    void *p = weft__malloc(10);
    void *q = weft__aligned_alloc(64, 10);
    CHECK_EQ(atomic_load(&fa_live), 2);
    weft__free(p);
    weft__aligned_free(q);
    CHECK_EQ(atomic_load(&fa_live), 0);
    fa_install(1);
    CHECK(weft__malloc(10) == NULL);
    CHECK_EQ(atomic_load(&fa_failed), 1);
    fa_install(1);
    CHECK(weft__aligned_alloc(64, 10) == NULL);
    fa_remove();
    CHECK(strcmp(weft_alloc_backend(), weft__default_alloc_name()) == 0);
}

TEST(grow_by_doubling)
{
    double *v = NULL;
    size_t cap = 0;
    CHECK_EQ(WEFT__GROW(v, cap, 0, 16), 0); /* nothing needed: nothing made */
    CHECK(v == NULL && cap == 0);
    CHECK_EQ(WEFT__GROW(v, cap, 1, 16), 0);
    CHECK(v != NULL && cap == 16);
    for (size_t i = 0; i < 16; i++)
        v[i] = (double)i;
    CHECK_EQ(WEFT__GROW(v, cap, 17, 16), 0);
    CHECK_EQ(cap, 32u);
    CHECK_EQ(WEFT__GROW(v, cap, 1000, 16), 0); /* far beyond: doubled as often as needed */
    CHECK_EQ(cap, 1024u);
    CHECK(v[15] == 15.0);                                        /* kept */
    CHECK_EQ(WEFT__GROW(v, cap, SIZE_MAX / 4, 16), WEFT_ENOMEM); /* the size would overflow */
    CHECK_EQ(cap, 1024u);
    fa_install(1); /* the allocation fails: the array and its capacity stay */
    double *before = v;
    CHECK_EQ(WEFT__GROW(v, cap, 1025, 16), WEFT_ENOMEM);
    CHECK(v == before && cap == 1024u && v[15] == 15.0);
    fa_remove();
    weft__free(v);
}

TEST(clock_is_monotonic)
{
    uint64_t a = weft__clock_ns();
    usleep(2000);
    uint64_t b = weft__clock_ns();
    CHECK(b > a);
    CHECK(b - a >= 1000000);
}
