/* Test helper: a quiet runtime with `threads` workers and config flags. */
#ifndef WEFT_TEST_RT_H
#define WEFT_TEST_RT_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* The same with a budget of `gpus` GPUs (weft_config_t.gpus). */
static inline weft_runtime_t *make_rt_gpus(int threads, int gpus)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    cfg.flags = WEFT_CONFIG_QUIET;
    cfg.gpus = gpus;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    return rt;
}

/* CUDA devices the runtime sees (0 without CUDA, a driver or a GPU). */
static inline int rt_gpus(weft_runtime_t *rt)
{
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    return info.gpus;
}

/* rt's trace as Chrome JSON text, through a temporary file (free it). */
static inline char *trace_text(weft_runtime_t *rt)
{
    char path[] = "/tmp/weft-test-trace-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(weft_runtime_write_trace(rt, path), 0);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    size_t cap = 1 << 22;
    char *text = calloc(1, cap);
    CHECK(text != NULL);
    size_t len = fread(text, 1, cap - 1, fp);
    fclose(fp);
    unlink(path);
    CHECK(len > 0 && len < cap - 1);
    return text;
}

#endif
