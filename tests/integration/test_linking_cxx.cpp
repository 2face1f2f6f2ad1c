/* A C++ program linked against libweft the way weft.pc links it. Debian's
 * jemalloc also defines operator new/delete: were they to bind to jemalloc
 * while free() binds to libc, memory new'd by one library and freed by
 * another (oneTBB does this) would abort. libstdc++ comes first. */
#include <dlfcn.h>
#include <string.h>

#include <new>
#include <string>
#include <vector>

#include <weft.h>

#include "testlib.h"

static const char *owner(void *fn)
{
    Dl_info info;
    if (!fn || !dladdr(fn, &info) || !info.dli_fname)
        return "?";
    return info.dli_fname;
}

TEST(operator_new_and_malloc_come_from_one_allocator)
{
    void *(*op_new)(std::size_t) = &::operator new;
    void *nv;
    memcpy(&nv, &op_new, sizeof nv);
    const char *n = owner(nv);
    const char *m = owner(dlsym(RTLD_DEFAULT, "malloc"));
    fprintf(stderr, "  operator new from %s, malloc from %s\n", n, m);
    CHECK(strstr(n, "jemalloc") == NULL);
    CHECK(strstr(m, "jemalloc") == NULL);
#ifdef WEFT_LINKED_JEMALLOC
    CHECK(dlsym(RTLD_DEFAULT, "mallocx") != NULL);
    CHECK_STR(weft_alloc_backend(), "jemalloc");
#endif
}

static int append(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    static_cast<std::vector<std::string> *>(arg)->push_back(std::string(100, 'x'));
    return 0;
}

TEST(cxx_tasks_run_on_weft)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    std::vector<std::string> out;
    weft_task_t *prev = nullptr;
    for (int i = 0; i < 100; i++) {
        weft_task_t *t = weft_graph_add(g, "append", append, &out);
        CHECK(t != nullptr);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ((long)out.size(), 100L);
    void *q = weft_mem_alloc(rt, 1000);
    CHECK(q != nullptr);
    weft_mem_free(rt, q);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}
