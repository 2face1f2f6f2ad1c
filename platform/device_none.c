/* GPU discovery without CUDA: there are no devices. */
#include "platform/device.h"

#include <stdio.h>

int weft__device_probe(char *why, size_t size)
{
    snprintf(why, size, "weft was built without CUDA (meson feature 'cuda' off or the toolkit not found)");
    return 0;
}

int weft__device_count(void)
{
    return 0;
}

const char *weft__device_backend(void)
{
    return "none";
}
