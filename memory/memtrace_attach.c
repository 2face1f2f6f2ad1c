/* The libweft side of the malloc tracer (memory/memtrace.h): found at run
 * time with dlsym, so that nothing changes when it is not preloaded. */
#include "memory/memtrace.h"

#include <dlfcn.h>
#include <pthread.h>

#include "base/base.h"

static const void *running(void)
{
    const weft__exec_t *e = weft__exec_current();
    return e && e->task ? *e->task : NULL;
}

static const char *label(const void *task, char *buf, size_t size)
{
    return weft__exec_task_label(task, buf, size);
}

static const weft_memtrace_ops_t ops = {WEFT_MEMTRACE_OPS_VERSION, running, label};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static weft_memtrace_report_fn *report;

static void look_up(void)
{
    weft_memtrace_attach_fn *attach;
    void *a = dlsym(RTLD_DEFAULT, "weft_memtrace_attach"), *r = dlsym(RTLD_DEFAULT, "weft_memtrace_report");
    *(void **)&attach = a;
    *(void **)&report = r;
    if (attach)
        attach(&ops);
}

void weft__memtrace_attach(void)
{
    pthread_once(&once, look_up);
}

weft_memtrace_report_fn *weft__memtrace_report(void)
{
    pthread_once(&once, look_up);
    return report;
}
