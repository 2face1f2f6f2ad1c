/* Size classes: 64, 128, 192, 256, then four per doubling (320, 384, 448,
 * 512, 640, ...), so that a block wastes under 25% and every class size is
 * a multiple of 64 (blocks carved back to back stay 64-byte aligned). */
#include "memory/memory.h"

unsigned weft__mem_class(size_t bytes)
{
    if (bytes <= 256)
        return bytes ? (unsigned)((bytes - 1) >> 6) : 0;
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(bytes - 1)); /* 2^k < bytes <= 2^(k+1) */
    return 4 + (k - 8) * 4 + (unsigned)((bytes - 1) >> (k - 2)) - 4;
}

size_t weft__mem_class_size(unsigned cls)
{
    if (cls < 4)
        return (size_t)(cls + 1) << 6;
    unsigned k = 8 + (cls - 4) / 4;
    return (size_t)(5 + (cls - 4) % 4) << (k - 2);
}
