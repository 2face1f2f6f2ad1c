/* libweft-memtrace.so (run with it in LD_PRELOAD, see tests/meson.build):
 * plain malloc & co. inside tasks attributed to the right task with exact
 * figures, every interposed call behaving as the C library's does, and
 * the report as JSON. Skips (77) when the tracer is not preloaded. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "testlib.h"

typedef int report_fn(FILE *f, int json, size_t top);

static void *volatile kept[3];
static volatile int failures;

/* k KB kept; then a calloc, a realloc growing, aligned blocks, all freed. */
static int body(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    int k = (int)(intptr_t)arg;
    char *p = malloc((size_t)k * 1000);
    if (!p || malloc_usable_size(p) < (size_t)k * 1000)
        failures++;
    memset(p, 1, (size_t)k * 1000);
    kept[k] = p;
    char *z = calloc(10, 100);
    for (int i = 0; z && i < 1000; i++)
        failures += z[i] != 0;
    free(z);
    char *r = realloc(NULL, 50);
    memset(r, 7, 50);
    r = realloc(r, 5000);
    failures += !r || r[49] != 7;
    free(r);
    void *a = aligned_alloc(4096, 8192);
    failures += !a || (uintptr_t)a % 4096;
    free(a);
    void *m = NULL;
    failures += posix_memalign(&m, 64, 100) != 0 || (uintptr_t)m % 64;
    free(m);
    failures += posix_memalign(&m, 3, 100) == 0; /* not a power of two */
    free(NULL);
    return 0;
}

/* The preloaded tracer's report function; the test skips without it. */
static report_fn *tracer(void)
{
    report_fn *report;
    void *sym = dlsym(RTLD_DEFAULT, "weft_memtrace_report");
    memcpy(&report, &sym, sizeof sym);
    if (!report)
        SKIP("libweft-memtrace.so is not preloaded");
    return report;
}

/* The tracer's report (JSON or text, the top `top` rows; 0 = all) as a
 * string (a static buffer, overwritten by the next call). */
static const char *report_text(report_fn *report, int json, size_t top)
{
    static char text[1 << 20];
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_EQ(report(f, json, top), 0);
    rewind(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    return text;
}

/* weft's own allocations made inside a task (here: a graph of 20,000
 * tasks built and destroyed by it, whose slabs come from weft's allocation
 * hooks) reach the tracer too: jemalloc's mallocx, which the weft command
 * and this test are linked with, would go around malloc (issue 21, item
 * 11: a poisson2d kernel's grids were missed that way). */
static int builder(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    weft_graph_t *g;
    if (weft_graph_create(&g) != 0)
        return -1;
    for (int i = 0; i < 20000; i++)
        if (!weft_graph_add(g, NULL, body, NULL))
            return -2;
    weft_graph_destroy(g);
    return 0;
}

TEST(weft_allocations_attributed)
{
    report_fn *report = tracer();
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(NULL, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK(weft_graph_add(g, "builder", builder, NULL) != NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    const char *text = report_text(report, 1, 0);
    const char *t = strstr(text, "{\"task\": \"builder\"");
    if (!t)
        fprintf(stderr, "no task 'builder' in\n%.2000s\n", text);
    CHECK(t != NULL);
    const char *pk = strstr(t, "\"peak\": ");
    CHECK(pk != NULL);
    long peak = strtol(pk + 9, NULL, 10);
    /* the slabs of 20,000 tasks: well over 256 KiB (before the fix the
     * task was not in the report at all) */
    if (peak < 256 * 1024)
        fprintf(stderr, "task 'builder': peak %ld, less than its graph's slabs\n", peak);
    CHECK(peak >= 256 * 1024);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(tasks_attributed_exactly)
{
    report_fn *report = tracer();
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(NULL, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK(weft_graph_add(g, "keep-1", body, (void *)1) != NULL);
    CHECK(weft_graph_add(g, "keep-2", body, (void *)2) != NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(failures, 0);
    const char *text = report_text(report, 1, 0);
    for (int k = 1; k <= 2; k++) {
        char want[256];
        long cur = k * 1000L, bytes = cur + 1000 + 50 + 5000 + 8192 + 100;
        snprintf(want, sizeof want,
                 "{\"task\": \"keep-%d\", \"current\": %ld, \"peak\": %ld, \"allocs\": 6, \"bytes\": %ld}", k, cur,
                 cur + 8192, bytes);
        if (!strstr(text, want))
            fprintf(stderr, "wanted %s in\n%.2000s\n", want, text);
        CHECK(strstr(text, want) != NULL);
    }
    CHECK(strstr(text, "\"sites\": [") != NULL);
    free(kept[1]);
    free(kept[2]);
    text = report_text(report, 0, 3); /* text, top 3 */
    CHECK(strstr(text, "malloc by task (3 of ") != NULL);
    CHECK(realloc(malloc(10), 0) == NULL); /* frees */
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}
