/* Test helper: a quiet runtime with `threads` workers and config flags. */
#ifndef WEFT_TEST_RT_H
#define WEFT_TEST_RT_H

#include <weft.h>

#include "testlib.h"

static inline weft_runtime_t *make_rt(int threads, unsigned flags)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    cfg.flags = flags | WEFT_CONFIG_QUIET;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    CHECK(rt != NULL);
    return rt;
}

/* CUDA devices the runtime sees (0 without CUDA, a driver or a GPU). */
static inline int rt_gpus(weft_runtime_t *rt)
{
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    return info.gpus;
}

#endif
