/* The memory pool when the system has no memory to give: every region
 * reservation can fail (weft__mem_fail_after), and the pool answers NULL /
 * WEFT_ENOMEM, counts nothing, and works again afterwards. Also the size
 * classes. */
#include <stdint.h>

#include <weft.h>

#include "memory/internal.h"
#include "memory/memory.h"
#include "rt.h"
#include "testlib.h"

TEST(size_classes)
{
    for (size_t b = 1; b <= ((size_t)1 << 21) + 7; b += b < 70000 ? 1 : 61) {
        unsigned c = weft__mem_class(b);
        size_t size = weft__mem_class_size(c);
        CHECK(size >= b);
        CHECK_EQ(size % 64, 0);
        CHECK(c == 0 || weft__mem_class_size(c - 1) < b); /* the smallest that fits */
        CHECK(size <= 64 || size - b < size / 4 + 64);    /* under 25% waste above 256 B */
    }
    CHECK_EQ(weft__mem_class(0), 0);
    CHECK_EQ(weft__mem_class_size(weft__mem_class(65536)), 65536);
    CHECK_EQ(weft__mem_class_size(weft__mem_class(WEFT_MEM_MAX_BYTES)), WEFT_MEM_MAX_BYTES);
}

TEST(every_reservation_can_fail)
{
    weft_runtime_t *rt = make_rt(1, 0);
    static const size_t sizes[] = {64, 5000, 65536, 100000, 3 << 20, 9 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        weft__mem_fail_after(0);
        CHECK(weft_mem_alloc(rt, sizes[i]) == NULL);
        weft_tensor_t *t = (weft_tensor_t *)1;
        CHECK_EQ(weft_tensor_create(rt, WEFT_U8, 1, (int64_t[]){(int64_t)sizes[i]}, WEFT_MEM_HOST, 0, &t), WEFT_ENOMEM);
        CHECK(t == NULL);
        weft__mem_fail_after(-1);
        weft_mem_stats_t s;
        CHECK_EQ(weft_mem_stats(rt, &s), 0);
        CHECK_EQ(s.in_use, 0);
        CHECK_EQ(s.allocs, 0);
        CHECK_EQ(s.reserved, 0);
    }
    /* the second reservation fails: a span, then a big block */
    weft__mem_fail_after(1);
    void *a = weft_mem_alloc(rt, 64);
    CHECK(a != NULL);
    CHECK(weft_mem_alloc(rt, 100000) == NULL);
    weft__mem_fail_after(-1);
    void *b = weft_mem_alloc(rt, 100000);
    CHECK(b != NULL);
    weft_mem_free(rt, a);
    weft_mem_free(rt, b);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.allocs, 2);
    weft_runtime_destroy(rt);
}
