/* libweft loaded with dlopen, as Python's ctypes or a plugin host would:
 * this program is linked with neither libweft nor jemalloc. It must load
 * (a libweft depending on Debian's libjemalloc.so.2, whose TLS is
 * initial-exec, would fail with "cannot allocate memory in static TLS
 * block"), run a graph, and use the memory pool on its C library
 * fallback. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

#include "testlib.h"

/* dlsym's object pointer into a function pointer, the way POSIX allows. */
#define SYM(lib, name)                                                                                                 \
    __extension__({                                                                                                    \
        __typeof__(&name) f_;                                                                                          \
        void *p_ = sym(lib, #name);                                                                                    \
        memcpy(&f_, &p_, sizeof f_);                                                                                   \
        f_;                                                                                                            \
    })

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p)
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
    CHECK(p != NULL);
    return p;
}

static int count(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    ++*(int *)arg;
    return 0;
}

TEST(dlopen_libweft)
{
    void *lib = dlopen(WEFT_SO, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        fprintf(stderr, "dlopen %s: %s\n", WEFT_SO, dlerror());
    CHECK(lib != NULL);
    CHECK(dlsym(RTLD_DEFAULT, "mallocx") == NULL); /* no jemalloc came with it */
    CHECK_STR(SYM(lib, weft_alloc_backend)(), "libc");
    weft_config_t cfg;
    SYM(lib, weft_config_init)(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(SYM(lib, weft_runtime_create)(&cfg, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(SYM(lib, weft_graph_create)(&g), 0);
    int n = 0;
    weft_task_t *a = SYM(lib, weft_graph_add)(g, "a", count, &n);
    weft_task_t *b = SYM(lib, weft_graph_add)(g, "b", count, &n);
    CHECK_EQ(SYM(lib, weft_task_after)(b, a), 0);
    CHECK_EQ(SYM(lib, weft_graph_run)(rt, g), 0);
    CHECK_EQ(n, 2);
    void *p = SYM(lib, weft_mem_alloc)(rt, 4096);
    CHECK(p != NULL);
    memset(p, 1, 4096);
    SYM(lib, weft_mem_free)(rt, p);
    weft_mem_stats_t s;
    CHECK_EQ(SYM(lib, weft_mem_stats)(rt, &s), 0);
    CHECK_EQ(s.allocs, 1);
    CHECK_EQ(s.in_use, 0);
    SYM(lib, weft_graph_destroy)(g);
    SYM(lib, weft_runtime_destroy)(rt);
    CHECK_EQ(dlclose(lib), 0);
}
