/* GPU discovery without CUDA: there are no devices. */
#include "platform/device.h"

#include <stdio.h>

#include "weft/error.h"

int weft__device_probe(char *why, size_t size)
{
    snprintf(why, size, "weft was built without CUDA (meson feature 'cuda' off or the toolkit not found)");
    return 0;
}

int weft__device_count(void)
{
    return 0;
}

int weft__device_select(int dev)
{
    (void)dev;
    return WEFT_ENOTSUP;
}

const char *weft__device_backend(void)
{
    return "none";
}
