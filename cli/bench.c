/* `weft bench`: runs commands, workflows or a built-in kernel N times after
 * W warm-up runs (alternatives in turn, round by round) and reports min /
 * median / max and the ratio to the first; --save stores the results as
 * JSON, --compare reports the change against saved results and fails when
 * a median regressed by more than the threshold. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/error.h"
#include "weft/metrics.h"
#include "workloads/kernels/kernels.h"

extern char **environ;

static const char usage_bench[] = "usage: weft bench [options] [--] COMMAND [ARGS...] [-- COMMAND [ARGS...]]...\n"
                                  "       weft bench [options] FLOW.toml [-- FLOW2.toml]...\n"
                                  "       weft bench [options] --kernel NAME [KEY=VALUE...] [-- ...]\n"
                                  "\n"
                                  "Runs each alternative W times to warm up, then N rounds in which every\n"
                                  "alternative runs once, in turn; prints min / median / max wall time and\n"
                                  "the ratio of each median to the first alternative's. An alternative is a\n"
                                  "command, a workflow file (run as `weft run --quiet FILE`), or a built-in\n"
                                  "kernel run in this process (--kernel NAME KEY=VALUE...). Alternatives are\n"
                                  "separated by `--`. A command that fails (non-zero exit) stops the bench.\n"
                                  "\n"
                                  "options (before the first alternative):\n"
                                  "  -n, --runs N          measured runs of each alternative (default 10)\n"
                                  "  -w, --warmup N        warm-up runs of each (default 2)\n"
                                  "  --name NAME           name the alternatives in order (repeatable;\n"
                                  "                        default: the command line)\n"
                                  "  --save FILE.json      store the results\n"
                                  "  --compare FILE.json   compare each median with the saved one of the same\n"
                                  "                        name; exit 1 when one regressed by more than the\n"
                                  "                        threshold\n"
                                  "  --threshold PCT       regression threshold in percent (default 5)\n"
                                  "exit: 0, 1 (a regression, or an alternative failed), 2 (bad usage or file)\n";

#define MAX_ALTS 32

typedef struct alt {
    char name[512];
    char **argv; /* a command (NULL for a kernel) */
    const weft__kernel_t *kernel;
    const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
    size_t nargs;
    char kv[WEFT_KERNEL_MAX_ARGS][256];
    char error[1100];
} alt_t;

static int bad(const char *fmt, const char *what)
{
    fputs("weft bench: ", stderr);
    fprintf(stderr, fmt, what);
    fputs(" (see weft bench --help)\n", stderr);
    return CLI_BAD_INPUT;
}

static int run_command(void *arg)
{
    alt_t *a = arg;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, a->argv[0], &fa, NULL, a->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        snprintf(a->error, sizeof a->error, "cannot run '%s': %s", a->argv[0], strerror(e));
        return WEFT_ESYS;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        snprintf(a->error, sizeof a->error, "'%s' exited with code %d", a->name, WEXITSTATUS(st));
    else
        snprintf(a->error, sizeof a->error, "'%s' was killed by signal %d", a->name, WTERMSIG(st));
    return WEFT_ETASK;
}

static void kprint(void *ud, const char *text, size_t len)
{
    (void)ud;
    (void)text;
    (void)len;
}

static void kresult(void *ud, const char *key, const char *value)
{
    (void)ud;
    (void)key;
    (void)value;
}

static int knever(void *ud)
{
    (void)ud;
    return 0;
}

static int run_kernel(void *arg)
{
    alt_t *a = arg;
    weft__kctx_t k = {.cpus = 1,
                      .nargs = a->nargs,
                      .keys = a->keys,
                      .vals = a->vals,
                      .print = kprint,
                      .result = kresult,
                      .stopping = knever,
                      .bad_arg = -1};
    int rc = a->kernel->fn(&k);
    if (rc)
        snprintf(a->error, sizeof a->error, "kernel '%s' failed: %s", a->kernel->name,
                 k.error[0] ? k.error : weft_strerror(rc));
    return rc;
}

/* Checks a kernel's arguments once, as the workflow does. */
static int kernel_check(alt_t *a)
{
    weft__kctx_t k = {.checking = true,
                      .cpus = 1,
                      .nargs = a->nargs,
                      .keys = a->keys,
                      .vals = a->vals,
                      .print = kprint,
                      .result = kresult,
                      .stopping = knever,
                      .bad_arg = -1};
    int rc = a->kernel->fn(&k);
    if (rc)
        fprintf(stderr, "weft bench: kernel '%s': %s\n", a->kernel->name, k.error[0] ? k.error : weft_strerror(rc));
    return rc;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static int save(const char *path, const alt_t *alts, const weft_bench_result_t *r, int n, int runs, int warmup)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "weft bench: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\"weft_bench\": 1, \"runs\": %d, \"warmup\": %d, \"results\": [", runs, warmup);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
        json_str(f, alts[i].name);
        fprintf(f, ", \"min\": %.9g, \"median\": %.9g, \"max\": %.9g, \"mean\": %.9g, \"p95\": %.9g, \"ratio\": %.6g}",
                r[i].s.min, r[i].s.median, r[i].s.max, r[i].s.mean, r[i].s.p95, r[i].ratio);
    }
    fprintf(f, "\n]}\n");
    int err = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        fprintf(stderr, "weft bench: cannot write '%s': %s\n", path, strerror(err));
        return -1;
    }
    printf("saved: %s\n", path);
    return 0;
}

/* The saved median of `name` in the JSON text of a --save file: -1 when the
 * name is absent, -2 when the text is not such a file. */
static double saved_median(const char *text, const char *name)
{
    if (!strstr(text, "\"weft_bench\": 1") || !strstr(text, "\"results\": ["))
        return -2;
    for (const char *p = text; (p = strstr(p, "{\"name\": \"")) != NULL;) {
        p += 10;
        char got[1024];
        size_t n = 0;
        for (; *p && *p != '"' && n + 1 < sizeof got; p++) {
            if (*p == '\\' && p[1] == 'u') {
                got[n++] = (char)strtol((char[]){p[4], p[5], 0}, NULL, 16);
                p += 5;
            } else {
                if (*p == '\\')
                    p++;
                got[n++] = *p;
            }
        }
        got[n] = '\0';
        const char *m = strstr(p, "\"median\": ");
        if (!m)
            return -2;
        if (strcmp(got, name) == 0) {
            char *end;
            double v = strtod(m + 10, &end);
            return end == m + 10 || !(v >= 0) ? -2 : v;
        }
    }
    return -1;
}

static int compare(const char *path, const alt_t *alts, const weft_bench_result_t *r, int n, double threshold)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "weft bench: cannot read '%s': %s\n", path, strerror(errno));
        return CLI_BAD_INPUT;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t got;
    while (mem && (got = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, got, mem);
    fclose(f);
    if (!mem) {
        fputs("weft bench: out of memory\n", stderr);
        return CLI_FAILED;
    }
    fclose(mem);
    int rc = CLI_OK;
    printf("compared with %s (threshold %.1f%%):\n", path, threshold);
    for (int i = 0; i < n && rc != CLI_BAD_INPUT; i++) {
        double old = saved_median(text, alts[i].name);
        if (old == -2) {
            fprintf(stderr, "weft bench: '%s' is not a file written by weft bench --save\n", path);
            rc = CLI_BAD_INPUT;
        } else if (old < 0) {
            fprintf(stderr, "weft bench: '%s' has no result named '%s'\n", path, alts[i].name);
            rc = CLI_BAD_INPUT;
        } else {
            double change = old > 0 ? 100.0 * (r[i].s.median - old) / old : 0;
            int regressed = change > threshold;
            printf("  %-40s median %.6f s, saved %.6f s: %+.1f%%%s\n", alts[i].name, r[i].s.median, old, change,
                   regressed ? "  REGRESSED" : "");
            if (regressed)
                rc = CLI_FAILED;
        }
    }
    free(text);
    return rc;
}

static int parse_count(const char *opt, const char *v, int lo, int *out)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || n < lo || n > 1000000) {
        fprintf(stderr, "weft bench: %s needs a whole number from %d to 1000000, got '%s' (see weft bench --help)\n",
                opt, lo, v ? v : "");
        return -1;
    }
    *out = (int)n;
    return 0;
}

int weft__cli_bench(int argc, char **argv, const char *self)
{
    int runs = 10, warmup = 2;
    double threshold = 5;
    const char *save_path = NULL, *cmp_path = NULL;
    const char *names[MAX_ALTS];
    int nnames = 0, i = 0;
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_bench, stdout);
            return CLI_OK;
        }
        if (s[0] != '-' || strcmp(s, "--") == 0 || strcmp(s, "--kernel") == 0)
            break;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "-n") == 0 || strcmp(s, "--runs") == 0) {
            if (parse_count(s, v, 1, &runs))
                return CLI_BAD_INPUT;
        } else if (strcmp(s, "-w") == 0 || strcmp(s, "--warmup") == 0) {
            if (parse_count(s, v, 0, &warmup))
                return CLI_BAD_INPUT;
        } else if (strcmp(s, "--name") == 0) {
            if (!v || !*v)
                return bad("%s needs a value", s);
            if (nnames == MAX_ALTS)
                return bad("at most %s alternatives", "32");
            names[nnames++] = v;
        } else if (strcmp(s, "--save") == 0 || strcmp(s, "--compare") == 0) {
            if (!v || !*v)
                return bad("%s needs a file name", s);
            *(s[2] == 's' ? &save_path : &cmp_path) = v;
        } else if (strcmp(s, "--threshold") == 0) {
            char *end;
            threshold = v ? strtod(v, &end) : -1;
            if (!v || !*v || *end || !(threshold >= 0) || threshold > 1000)
                return bad("--threshold needs a percentage from 0 to 1000, got '%s'", v ? v : "");
        } else {
            return bad("unknown option '%s'", s);
        }
        i++;
    }
    /* alternatives */
    alt_t *alts = calloc(MAX_ALTS, sizeof *alts);
    char **words = calloc((size_t)argc + 4 * MAX_ALTS, sizeof *words);
    if (!alts || !words) {
        free(alts);
        free(words);
        fputs("weft bench: out of memory\n", stderr);
        return CLI_FAILED;
    }
    int n = 0, rc = CLI_OK, w = 0;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    while (i < argc && rc == CLI_OK) {
        int j = i;
        while (j < argc && strcmp(argv[j], "--") != 0)
            j++;
        if (j == i) {
            rc = bad("%s", "an empty alternative between two '--'");
            break;
        }
        if (n == MAX_ALTS) {
            rc = bad("at most %s alternatives", "32");
            break;
        }
        alt_t *a = &alts[n];
        size_t len = strlen(argv[i]);
        if (strcmp(argv[i], "--kernel") == 0) {
            if (i + 1 >= j) {
                rc = bad("%s", "--kernel needs a kernel name");
                break;
            }
            a->kernel = weft__kernel_find(argv[i + 1]);
            if (!a->kernel) {
                char list[512];
                weft__kernel_names(list, sizeof list);
                fprintf(stderr, "weft bench: no kernel named '%s' (kernels: %s)\n", argv[i + 1], list);
                rc = CLI_BAD_INPUT;
                break;
            }
            for (int k = i + 2; k < j; k++) {
                const char *eq = strchr(argv[k], '=');
                if (!eq || eq == argv[k] || a->nargs == WEFT_KERNEL_MAX_ARGS || strlen(argv[k]) >= sizeof a->kv[0]) {
                    rc = bad("kernel arguments are KEY=VALUE, got '%s'", argv[k]);
                    break;
                }
                snprintf(a->kv[a->nargs], sizeof a->kv[0], "%s", argv[k]);
                a->kv[a->nargs][eq - argv[k]] = '\0';
                a->keys[a->nargs] = a->kv[a->nargs];
                a->vals[a->nargs] = a->kv[a->nargs] + (eq - argv[k]) + 1;
                a->nargs++;
            }
            if (rc != CLI_OK)
                break;
            if (kernel_check(a) != 0) {
                rc = CLI_BAD_INPUT;
                break;
            }
        } else if (j == i + 1 && len > 5 && strcmp(argv[i] + len - 5, ".toml") == 0) {
            if (access(argv[i], R_OK) != 0) {
                fprintf(stderr, "weft bench: cannot read '%s': %s\n", argv[i], strerror(errno));
                rc = CLI_BAD_INPUT;
                break;
            }
            a->argv = &words[w];
            words[w++] = (char *)self;
            words[w++] = "run";
            words[w++] = "--quiet";
            words[w++] = argv[i];
            words[w++] = NULL;
        } else {
            a->argv = &words[w];
            for (int k = i; k < j; k++)
                words[w++] = argv[k];
            words[w++] = NULL;
        }
        /* the name: given, or the words */
        if (n < nnames) {
            snprintf(a->name, sizeof a->name, "%s", names[n]);
        } else {
            size_t off = 0;
            for (int k = i; k < j && off + 1 < sizeof a->name; k++)
                off += (size_t)snprintf(a->name + off, sizeof a->name - off, "%s%s", k > i ? " " : "", argv[k]);
        }
        n++;
        i = j + (j < argc);
    }
    if (rc == CLI_OK && n == 0)
        rc = bad("%s", "what to run? (weft bench -- COMMAND, weft bench FLOW.toml, weft bench --kernel NAME)");
    if (rc == CLI_OK && nnames > n)
        rc = bad("%s", "more --name options than alternatives");
    if (rc != CLI_OK) {
        free(alts);
        free(words);
        return rc;
    }
    weft_bench_alt_t ba[MAX_ALTS];
    for (int k = 0; k < n; k++)
        ba[k] = (weft_bench_alt_t){alts[k].name, alts[k].kernel ? run_kernel : run_command, &alts[k]};
    weft_bench_result_t res[MAX_ALTS];
    printf("weft bench: %d alternative(s), %d warm-up and %d measured run(s) each\n", n, warmup, runs);
    fflush(stdout);
    int brc = weft_bench(ba, n, warmup, runs, res, NULL);
    if (brc) {
        for (int k = 0; k < n; k++)
            if (alts[k].error[0])
                fprintf(stderr, "weft bench: %s\n", alts[k].error);
        free(alts);
        free(words);
        return CLI_FAILED;
    }
    for (int k = 0; k < n; k++)
        printf("  %-40s min %10.6f s  median %10.6f s  max %10.6f s  %s%.3fx\n", alts[k].name, res[k].s.min,
               res[k].s.median, res[k].s.max, k ? "" : "(base) ", res[k].ratio);
    if (save_path && save(save_path, alts, res, n, runs, warmup) != 0)
        rc = CLI_FAILED;
    if (cmp_path) {
        int c = compare(cmp_path, alts, res, n, threshold);
        if (c != CLI_OK)
            rc = c;
    }
    free(alts);
    free(words);
    return rc;
}
