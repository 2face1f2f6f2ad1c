/* `weft run --trace-malloc`: the command runs itself again with the malloc
 * tracer preloaded (libweft-memtrace.so, memory/memtrace.c), and writes its
 * report into the run directory after the run. The processes the run
 * starts do not inherit the tracer. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/memtrace.h"

#define ACTIVE "WEFT_MEMTRACE_ACTIVE"
#define WAS "WEFT_MEMTRACE_PRELOAD_WAS" /* LD_PRELOAD before, "-" for none */
#define LIB "libweft-memtrace.so"

#ifndef WEFT_LIBDIR
#define WEFT_LIBDIR "/usr/local/lib"
#endif

static int traced; /* this process runs under the tracer */

void weft__cli_memtrace_init(void)
{
    const char *was = getenv(WAS);
    if (!getenv(ACTIVE))
        return;
    traced = 1;
    /* the tracer is loaded: children get LD_PRELOAD as it was */
    if (was && strcmp(was, "-") != 0)
        setenv("LD_PRELOAD", was, 1);
    else
        unsetenv("LD_PRELOAD");
    unsetenv(WAS);
    unsetenv(ACTIVE);
}

/* Where the tracer is: $WEFT_MEMTRACE_LIB, next to the weft binary (a
 * build tree), or in the library directory weft was installed with. */
static int find_lib(char *out, size_t size, char *tried, size_t tsize)
{
    const char *env = getenv("WEFT_MEMTRACE_LIB");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    char cand[3][PATH_MAX + 32];
    int nc = 0;
    if (env && *env)
        snprintf(cand[nc++], sizeof cand[0], "%s", env);
    else {
        if (n > 0)
            snprintf(cand[nc++], sizeof cand[0], "%s/%s", exe, LIB);
        snprintf(cand[nc++], sizeof cand[0], "%s/%s", WEFT_LIBDIR, LIB);
    }
    tried[0] = '\0';
    for (int i = 0; i < nc; i++) {
        if (access(cand[i], R_OK) == 0 && strlen(cand[i]) < size) {
            memcpy(out, cand[i], strlen(cand[i]) + 1);
            return 0;
        }
        size_t len = strlen(tried);
        snprintf(tried + len, tsize - len, "%s%s", len ? ", " : "", cand[i]);
    }
    return -1;
}

int weft__cli_memtrace_exec(char **argv)
{
    if (traced)
        return 0; /* already under it */
    char lib[PATH_MAX], tried[3 * PATH_MAX];
    if (find_lib(lib, sizeof lib, tried, sizeof tried) != 0) {
        fprintf(stderr, "weft: --trace-malloc: %s not found (looked for %s; set WEFT_MEMTRACE_LIB to its path)\n", LIB,
                tried);
        return CLI_FAILED;
    }
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *preload = malloc(len);
    if (!preload) {
        fprintf(stderr, "weft: --trace-malloc: out of memory\n");
        return CLI_FAILED;
    }
    snprintf(preload, len, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    if (setenv(WAS, old && *old ? old : "-", 1) != 0 || setenv(ACTIVE, "1", 1) != 0 ||
        setenv("LD_PRELOAD", preload, 1) != 0) {
        fprintf(stderr, "weft: --trace-malloc: cannot set the environment: %s\n", strerror(errno));
        free(preload);
        return CLI_FAILED;
    }
    free(preload);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "weft: --trace-malloc: cannot run weft again with %s: %s\n", lib, strerror(errno));
    return CLI_FAILED;
}

/* Writes path with the tracer's report; 0 or -1. */
static int write_report(weft_memtrace_report_fn *report, const char *path, int json)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = report(f, json, 0);
    return fclose(f) == 0 && rc == 0 ? 0 : -1;
}

int weft__cli_memtrace_report(const char *dir)
{
    if (!traced)
        return 0;
    weft_memtrace_report_fn *report = weft__memtrace_report();
    if (!report) {
        fprintf(stderr, "weft: --trace-malloc: the tracer is not loaded (LD_PRELOAD ignored?)\n");
        return -1;
    }
    char txt[PATH_MAX], json[PATH_MAX];
    snprintf(txt, sizeof txt, "%s/malloc.txt", dir);
    snprintf(json, sizeof json, "%s/malloc.json", dir);
    printf("\n");
    report(stdout, 0, 10);
    if (write_report(report, txt, 0) != 0 || write_report(report, json, 1) != 0) {
        fprintf(stderr, "weft: --trace-malloc: cannot write %s or %s: %s\n", txt, json, strerror(errno));
        return -1;
    }
    printf("  malloc report: %s, %s\n", txt, json);
    return 0;
}
