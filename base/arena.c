/* A bump arena: objects that live and die together (a graph's names and
 * edge arrays, a TOML document's nodes and strings) are carved from blocks
 * that double in size up to 2 MiB; destroying the owner frees the blocks,
 * never single objects. With `huge`, blocks come from weft__alloc_large,
 * so the big ones are 2 MiB-aligned and backed by huge pages (first-touch
 * page faults can cost more than filling the memory), at the price of
 * reserving twice the address space through the hooks. Without it, blocks
 * grow to 8 MiB and the whole 2 MiB pages inside them are advised huge:
 * nearly the same speed for no extra memory. */
#include "base/base.h"

#include <stdalign.h>
#include <stdint.h>

struct weft__arena_block {
    struct weft__arena_block *next;
    size_t size, used;
    alignas(16) char data[];
};

#define ARENA_MAX_BLOCK ((size_t)2 << 20)

void weft__arena_init(weft__arena_t *a, size_t first_block, bool huge)
{
    a->head = NULL;
    a->first = first_block < 256 ? 256 : first_block;
    a->huge = huge;
}

void *weft__arena_alloc(weft__arena_t *a, size_t size, size_t align)
{
    weft__arena_block_t *b = a->head;
    if (b) {
        size_t at = (b->used + align - 1) & ~(align - 1);
        if (at <= b->size && b->size - at >= size) {
            b->used = at + size;
            return b->data + at;
        }
    }
    /* A new block: twice the last one (whole blocks, header included, so
     * that the allocator sees round sizes), or one just for a huge request. */
    size_t total = a->first;
    if (b) {
        size_t max = a->huge ? ARENA_MAX_BLOCK : 4 * ARENA_MAX_BLOCK;
        total = (b->size + sizeof *b) * 2;
        if (total > max)
            total = max;
    }
    if (size > SIZE_MAX - sizeof *b - 16)
        return NULL;
    if (total - sizeof *b < size)
        total = sizeof *b + size;
    weft__arena_block_t *nb = a->huge ? weft__alloc_large(total) : weft__aligned_alloc(16, total);
    if (!nb)
        return NULL;
    if (!a->huge)
        weft__advise_huge(nb, total);
    nb->size = total - sizeof *nb;
    nb->used = size;
    /* A block made for one huge object goes behind the current one, so
     * that the space left in the current block is still used. */
    if (b && size > (b->size + sizeof *b) && b->size - b->used > 4096) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb->data;
}

void weft__arena_fini(weft__arena_t *a)
{
    while (a->head) {
        weft__arena_block_t *n = a->head->next;
        weft__aligned_free(a->head);
        a->head = n;
    }
}
