/* bench/toml — TOML parsing speed and memory: weft's parser against
 * Python's tomllib, in the same run, on the same generated document.
 *
 *   ./build/bench/toml [MB]      (default 20)
 *
 * The document is a workflow-like file of about MB megabytes: [[task]]
 * tables (names, commands with escapes, numbers, floats, dates, arrays,
 * inline tables), parameter tables, comments, multi-line and literal
 * strings. weft parses it from memory (best of 5); tomllib parses the same
 * text, already decoded to a str (best of 2), in a python3 child. Memory is
 * the peak of the bytes weft's parser holds at once, seen through the
 * allocation hooks (the input buffer not included), over the input size.
 * Targets (issue 4): >= 20x tomllib, >= 100 MB/s, peak <= 4x the input. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>
#include <weft/toml.h>

/* ---- the document -------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (size_t)k + 1;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void task(buf_t *b, long i)
{
    static const char *solvers[] = {"cg", "gmres", "bicgstab", "multigrid"};
    put(b, "\n[[task]]\n");
    put(b, "name = \"solve-%06ld\"\n", i);
    put(b, "command = \"solver --method %s --grid %d --tol 1e-%d --out \\\"run-%ld.h5\\\"\\t# \\u00e9t\\u00e9\"\n",
        solvers[next() % 4], 16 << (next() % 5), (int)(next() % 12) + 3, i);
    put(b, "workdir = '/scratch/weft/runs/%ld'   # literal string\n", i);
    put(b, "threads = %d\n", 1 << (next() % 5));
    put(b, "timeout = %.3f\n", (double)(next() % 100000) / 7.0);
    put(b, "weight = %.6e\n", (double)(next() % 1000000) * 1.37e-9);
    put(b, "retries = %d\n", (int)(next() % 4));
    put(b, "pinned = %s\n", next() % 2 ? "true" : "false");
    put(b, "submitted = 2026-%02d-%02dT%02d:%02d:%02d.%03dZ\n", (int)(next() % 12) + 1, (int)(next() % 28) + 1,
        (int)(next() % 24), (int)(next() % 60), (int)(next() % 60), (int)(next() % 1000));
    put(b, "after = [\"mesh-%06ld\", \"prep-%06ld\"]\n", i, i / 2);
    put(b, "grid = [%d, %d, %d]\n", (int)(next() % 512), (int)(next() % 512), (int)(next() % 512));
    put(b, "env = { OMP_NUM_THREADS = \"%d\", GROUP = \"g%d\", priority = %d }\n", (int)(next() % 16) + 1,
        (int)(next() % 100), (int)(next() % 10));
    if (i % 16 == 0)
        put(b,
            "notes = \"\"\"\nA multi-line note for task %ld:\n  residual history is kept \\\n  in the output file.\"\"\"\n",
            i);
}

static buf_t document(size_t target)
{
    buf_t b = {malloc(1 << 20), 0, 1 << 20};
    put(&b, "# bench/toml: a generated workflow-like document\n");
    put(&b, "[workflow]\nname = \"poisson-sweep\"\nthreads = 0\nstarted = 2026-11-23 10:15:00\n");
    for (long i = 0; b.n < target; i++) {
        if (i % 64 == 0)
            put(&b,
                "\n[sweep.block-%ld]\nn = [16, 32, 64, 128, 256]\ntol = [1e-6, 1e-8, 1.5e-10]\nday = 2026-11-%02ld\n"
                "site.host = \"node%03ld\"\nsite.cores = %d\n",
                i / 64, i / 64 % 28 + 1, i / 64 % 512, (int)(next() % 128));
        task(&b, i);
    }
    return b;
}

/* ---- peak memory through the hooks ------------------------------------- */

static atomic_size_t live, peak;

static void *m_malloc(size_t n, void *ud)
{
    (void)ud;
    size_t *p = malloc(n + 16);
    if (!p)
        return NULL;
    p[0] = n;
    size_t now = atomic_fetch_add(&live, n) + n;
    size_t pk = atomic_load(&peak);
    while (now > pk && !atomic_compare_exchange_weak(&peak, &pk, now))
        ;
    return (char *)p + 16;
}

static void m_free(void *q, void *ud)
{
    (void)ud;
    size_t *p = (size_t *)((char *)q - 16);
    atomic_fetch_sub(&live, p[0]);
    free(p);
}

static void *m_realloc(void *q, size_t n, void *ud)
{
    size_t *p = (size_t *)((char *)q - 16);
    size_t old = p[0];
    void *nq = m_malloc(n, ud);
    if (!nq)
        return NULL;
    memcpy(nq, q, old < n ? old : n);
    m_free(q, ud);
    return nq;
}

/* ---- timing -------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* tomllib on the file: prints "<seconds> <number of tasks>", or nothing. */
static int tomllib_time(const char *path, double *secs, long *ntasks)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys, time\n"
             "try:\n import tomllib\n"
             "except ImportError:\n sys.exit(3)\n"
             "text = open(sys.argv[1], encoding=\"utf-8\").read()\n"
             "best = None\n"
             "for _ in range(2):\n"
             " t = time.perf_counter(); d = tomllib.loads(text); t = time.perf_counter() - t\n"
             " best = t if best is None or t < best else best\n"
             "print(best, len(d[\"task\"]))' %s",
             path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int n = fscanf(f, "%lf %ld", secs, ntasks);
    int st = pclose(f);
    return n == 2 && st == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? atof(argv[1]) : 20.0;
    if (mb <= 0) {
        fprintf(stderr, "usage: %s [MB]\n", argv[0]);
        return 2;
    }
    buf_t doc = document((size_t)(mb * 1e6));
    double size_mb = (double)doc.n / 1e6;

    /* weft: best of 5 */
    double best = 1e30;
    long ntasks = -1;
    for (int r = 0; r < 5; r++) {
        weft_toml_doc_t *d;
        weft_toml_error_t err;
        double t = now_s();
        int rc = weft_toml_parse(doc.p, doc.n, "bench.toml", 0, &d, &err);
        t = now_s() - t;
        if (rc) {
            fprintf(stderr, "bench/toml: weft: %s\n", err.text);
            return 1;
        }
        const weft_toml_value_t *tasks;
        if (weft_toml_get_array(weft_toml_root(d), "task", &tasks) == 0)
            ntasks = (long)weft_toml_count(tasks);
        weft_toml_destroy(d);
        if (t < best)
            best = t;
    }

    /* weft: peak memory */
    weft_alloc_hooks_t hooks = {m_malloc, m_realloc, m_free, NULL};
    weft_alloc_set_hooks(&hooks);
    weft_toml_doc_t *d;
    if (weft_toml_parse(doc.p, doc.n, "bench.toml", 0, &d, NULL))
        return 1;
    size_t tree = atomic_load(&live);
    weft_toml_destroy(d);
    weft_alloc_set_hooks(NULL);
    double peak_x = (double)atomic_load(&peak) / (double)doc.n;

    /* tomllib on the same text */
    char path[] = "/tmp/weft-bench-toml-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, doc.p, doc.n) != (ssize_t)doc.n) {
        perror("bench/toml: temporary file");
        return 1;
    }
    close(fd);
    double py = 0;
    long py_tasks = -1;
    int have_py = tomllib_time(path, &py, &py_tasks) == 0;
    unlink(path);

    printf("bench/toml: %.1f MB document, %ld [[task]] tables\n", size_mb, ntasks);
    printf("weft     %8.3f s  %8.1f MB/s   (best of 5)\n", best, size_mb / best);
    printf("weft     peak memory %.1f MB = %.2fx the input (tree %.1f MB)\n", (double)atomic_load(&peak) / 1e6, peak_x,
           (double)tree / 1e6);
    if (have_py) {
        printf("tomllib  %8.3f s  %8.1f MB/s   (best of 2, python3)\n", py, size_mb / py);
        if (py_tasks != ntasks) {
            printf("MISMATCH: tomllib read %ld tasks, weft %ld\n", py_tasks, ntasks);
            return 1;
        }
        printf("weft/tomllib speed-up: %.1fx (target >= 20x)\n", py / best);
    } else {
        printf("tomllib: not available (python3 >= 3.11 needed), no ratio\n");
    }
    printf("targets: %s >= 100 MB/s, %s peak <= 4x input%s\n", size_mb / best >= 100 ? "met" : "MISSED",
           peak_x <= 4.0 ? "met" : "MISSED",
           have_py ? (py / best >= 20 ? ", met >= 20x tomllib" : ", MISSED >= 20x tomllib") : "");
    free(doc.p);
    return 0;
}
