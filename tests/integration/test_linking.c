/* How jemalloc reaches a program linked against libweft: weft.pc (and this
 * build) link it after libc, so weft's allocations use jemalloc's mallocx
 * while the program's malloc stays the C library's. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "testlib.h"

TEST(weft_uses_jemalloc_but_malloc_stays_libc)
{
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    CHECK(m && dladdr(m, &info) && info.dli_fname);
    CHECK(strstr(info.dli_fname, "jemalloc") == NULL); /* libc's (or a sanitizer's) */
#ifdef WEFT_LINKED_JEMALLOC
    CHECK(dlsym(RTLD_DEFAULT, "mallocx") != NULL);
    CHECK_STR(weft_alloc_backend(), "jemalloc");
    /* the pool takes an arena of its own per NUMA node */
    int (*ctl)(const char *, void *, size_t *, void *, size_t);
    void *sym = dlsym(RTLD_DEFAULT, "mallctl");
    memcpy(&ctl, &sym, sizeof sym);
    unsigned before = 0, after = 0;
    size_t len = sizeof before;
    CHECK_EQ(ctl("arenas.narenas", &before, &len, NULL, 0), 0);
#else
    CHECK_STR(weft_alloc_backend(), "libc");
#endif
    /* the pool works either way */
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 1;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
#ifdef WEFT_LINKED_JEMALLOC
    CHECK_EQ(ctl("arenas.narenas", &after, &len, NULL, 0), 0);
    CHECK(after > before);
#endif
    void *p = weft_mem_alloc(rt, 100000);
    CHECK(p != NULL);
    weft_mem_free(rt, p);
    weft_runtime_destroy(rt);
}

/* Each test runs in a fresh child, before any weft allocation: the
 * variable is read at the first one. */
TEST(no_jemalloc_when_told)
{
    setenv("WEFT_NO_JEMALLOC", "1", 1);
    CHECK_STR(weft_alloc_backend(), "libc");
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 1;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    void *p = weft_mem_alloc(rt, 1 << 20);
    CHECK(p != NULL);
    weft_mem_free(rt, p);
    weft_runtime_destroy(rt);
}
