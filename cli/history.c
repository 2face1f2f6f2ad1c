/* The commands that read the run store (.weft/weft.db, found in the
 * current directory or the nearest one above it that has one):
 *   weft runs [--json]                       the runs, oldest first
 *   weft results [RUN] [--csv|--json]         each task's last attempt
 *   weft status [RUN]                         a run's progress (live too)
 *   weft log TASK [RUN] [--attempt N] [--err] a task's output
 *   weft gc [--keep N]                        drop old runs */
#include "cli/cli.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "weft/error.h"

/* The store of the current directory or the nearest above with one. */
static int open_store(const char *cmd, weft__wf_store_t **s, char *dir, size_t dirlen)
{
    char here[PATH_MAX], err[PATH_MAX + 256];
    if (!getcwd(here, sizeof here)) {
        fprintf(stderr, "weft %s: cannot read the current directory: %s\n", cmd, strerror(errno));
        return CLI_FAILED;
    }
    snprintf(dir, dirlen, "%s", here);
    for (;;) {
        char db[PATH_MAX + 16];
        struct stat st;
        snprintf(db, sizeof db, "%s/.weft/weft.db", dir);
        if (stat(db, &st) == 0)
            break;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            fprintf(stderr,
                    "weft %s: no run store in '%s' or above it (.weft/weft.db; weft run writes it in the "
                    "workflow's workdir)\n",
                    cmd, here);
            return CLI_BAD_INPUT;
        }
        *slash = '\0';
    }
    if (weft__wf_store_open(dir, false, s, err, sizeof err) != 0) {
        fprintf(stderr, "weft %s: %s\n", cmd, err);
        return CLI_FAILED;
    }
    return -1;
}

static int find_run(const char *cmd, weft__wf_store_t *s, const char *run, weft__wf_run_row_t *row)
{
    int rc = weft__wf_store_find_run(s, run, NULL, NULL, row);
    if (rc == WEFT_ENOENT) {
        if (run)
            fprintf(stderr, "weft %s: no run '%s' in %s (weft runs lists them)\n", cmd, run, weft__wf_store_path(s));
        else
            fprintf(stderr, "weft %s: no runs in %s yet\n", cmd, weft__wf_store_path(s));
        return CLI_BAD_INPUT;
    }
    if (rc) {
        fprintf(stderr, "weft %s: %s\n", cmd, weft__wf_store_error(s));
        return CLI_FAILED;
    }
    return -1;
}

/* The store and the run RUN names in it: -1, or an exit code (said). */
static int open_run(const char *cmd, const char *run, weft__wf_store_t **s, weft__wf_run_row_t *row)
{
    char dir[PATH_MAX];
    int rc = open_store(cmd, s, dir, sizeof dir);
    if (rc >= 0)
        return rc;
    if ((rc = find_run(cmd, *s, run, row)) >= 0) {
        weft__wf_store_close(*s);
        return rc;
    }
    return -1;
}

static bool is_help(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static void fmt_when(double t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_dur(double s, char *buf, size_t cap)
{
    if (s < 0)
        snprintf(buf, cap, "-");
    else if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

/* A run marked running whose process is gone was killed (kill -9, a crash). */
/* Whether run r ran on this machine (its pid means something here): on
 * another (a job array's element, the store on a shared file system),
 * a "running" run is taken at its word. */
static bool ran_here(const weft__wf_run_row_t *r)
{
    char host[256];
    if (!r->host || !r->host[0] || gethostname(host, sizeof host) != 0)
        return true; /* a run of schema 1: this machine's */
    host[sizeof host - 1] = '\0';
    return strcmp(host, r->host) == 0;
}

/* Whether process pid is gone: no such process, or a zombie nobody has
 * reaped yet (its parent died too, under an init that does not reap). */
static bool gone(long pid)
{
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static const char *live_status(const weft__wf_run_row_t *r)
{
    if (r->status && strcmp(r->status, "running") == 0 && r->end == 0 && r->pid > 0 && ran_here(r) && gone(r->pid))
        return "killed";
    return r->status ? r->status : "?";
}

static void json_str(FILE *out, const char *s)
{
    weft__wf_json_text(out, s ? s : "", s ? strlen(s) : 0);
}

/* ---- weft runs -------------------------------------------------------------------------------- */

static const char usage_runs[] = "usage: weft runs [--json] [--check]\n"
                                 "\n"
                                 "Lists the runs in the run store (.weft/weft.db here or above), oldest first:\n"
                                 "number, name, workflow, start, duration, status and task counts. A run\n"
                                 "whose weft process is gone without ending it shows as killed.\n"
                                 "--check: checks the store's integrity instead (exit 1 when it is damaged).\n";

static int runs_row(void *ud, const weft__wf_run_row_t *r)
{
    bool json = *(bool *)ud;
    char when[32], dur[32];
    fmt_when(r->start, when, sizeof when);
    fmt_dur(r->end > 0 ? r->end - r->start : -1, dur, sizeof dur);
    if (json) {
        static bool first = true;
        printf("%s\n  {\"id\": %lld, \"name\": ", first ? "" : ",", (long long)r->id);
        first = false;
        json_str(stdout, r->name);
        printf(", \"workflow\": ");
        json_str(stdout, r->flow);
        printf(", \"start\": %.3f, \"end\": ", r->start);
        if (r->end > 0)
            printf("%.3f", r->end);
        else
            printf("null");
        printf(", \"shard\": ");
        if (r->shard)
            json_str(stdout, r->shard);
        else
            printf("null");
        printf(", \"host\": ");
        if (r->host && r->host[0])
            json_str(stdout, r->host);
        else
            printf("null");
        printf(", \"status\": ");
        json_str(stdout, live_status(r));
        printf(", \"resumed\": ");
        if (r->parent)
            printf("%lld", (long long)r->parent);
        else
            printf("null");
        printf(", \"tasks\": %lld, \"done\": %lld, \"failed\": %lld, \"cached\": %lld}", (long long)r->ntasks,
               (long long)r->ndone, (long long)r->nfailed, (long long)r->ncached);
        return 0;
    }
    char resumed[32] = "";
    if (r->parent)
        snprintf(resumed, sizeof resumed, " (resumes %lld)", (long long)r->parent);
    printf("%4lld  %-32s %-19s %8s  %-11s %7lld %7lld %7lld %7lld%s\n", (long long)r->id, r->name, when, dur,
           live_status(r), (long long)r->ntasks, (long long)r->ndone, (long long)r->nfailed, (long long)r->ncached,
           resumed);
    return 0;
}

static int cmd_runs(int argc, char **argv)
{
    bool json = false, check = false;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_runs, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else {
            fprintf(stderr, "weft runs: unknown argument '%s' (see weft runs --help)\n", argv[i]);
            return CLI_BAD_INPUT;
        }
    }
    weft__wf_store_t *s;
    char dir[PATH_MAX];
    int rc = open_store("runs", &s, dir, sizeof dir);
    if (rc >= 0)
        return rc;
    if (check) {
        char found[4096];
        if (weft__wf_store_check(s, found, sizeof found) != 0) {
            fprintf(stderr, "weft runs: %s\n", weft__wf_store_error(s));
            rc = CLI_FAILED;
        } else if (strcmp(found, "ok") == 0) {
            printf("run store ok: %s\n", weft__wf_store_path(s));
            rc = CLI_OK;
        } else {
            printf("run store DAMAGED: %s: %s\n", weft__wf_store_path(s), found);
            rc = CLI_FAILED;
        }
        weft__wf_store_close(s);
        return rc;
    }
    if (json)
        printf("[");
    else
        printf("%4s  %-32s %-19s %8s  %-11s %7s %7s %7s %7s\n", "#", "run", "start", "took", "status", "tasks", "done",
               "failed", "cached");
    rc = weft__wf_store_runs(s, runs_row, &json);
    if (json)
        printf("\n]\n");
    if (rc)
        fprintf(stderr, "weft runs: %s\n", weft__wf_store_error(s));
    weft__wf_store_close(s);
    return rc ? CLI_FAILED : CLI_OK;
}

/* ---- weft results ----------------------------------------------------------------------------- */

static const char usage_results[] =
    "usage: weft results [RUN] [--csv|--json]\n"
    "\n"
    "One row per task of RUN (its name or number; default the latest run), its last\n"
    "attempt, in natural order of the task names: the task, a column per sweep\n"
    "parameter, status, attempt, wall time, then a column per result key (the key=value lines the task reported). A resumed run\n"
    "shows the tasks it took from the run it resumed as they were there. Values are\n"
    "printed as they are: --csv quotes them (RFC 4180), --json gives strings.\n";

typedef struct rrow {
    char *task, *params, *results, *status;
    char *node; /* over several ranks: the rank that ran it (NULL: this machine) */
    int attempt;
    double wall;
    int64_t run;
} rrow_t;

typedef struct rset {
    rrow_t *rows;
    size_t n, cap;
    uint32_t *index; /* open addressing on task names: row + 1 */
    size_t mask;
    bool oom;
} rset_t;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static bool rset_grow_index(rset_t *x)
{
    size_t cap = x->mask ? (x->mask + 1) * 2 : 1024;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix)
        return false;
    for (size_t i = 0; i < x->n; i++) {
        size_t h = name_hash(x->rows[i].task) & (cap - 1);
        while (ix[h])
            h = (h + 1) & (cap - 1);
        ix[h] = (uint32_t)i + 1;
    }
    free(x->index);
    x->index = ix;
    x->mask = cap - 1;
    return true;
}

static int results_row(void *ud, const weft__wf_attempt_row_t *a)
{
    rset_t *x = ud;
    if ((x->n + 1) * 2 > x->mask + 1 && !rset_grow_index(x)) {
        x->oom = true;
        return 1;
    }
    size_t h = name_hash(a->task) & x->mask;
    while (x->index[h]) {
        if (strcmp(x->rows[x->index[h] - 1].task, a->task) == 0)
            return 0; /* a newer row of it was seen */
        h = (h + 1) & x->mask;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 1024;
        rrow_t *nr = realloc(x->rows, cap * sizeof *nr);
        if (!nr) {
            x->oom = true;
            return 1;
        }
        x->rows = nr;
        x->cap = cap;
    }
    rrow_t *r = &x->rows[x->n];
    r->task = strdup(a->task);
    r->params = strdup(a->params ? a->params : "");
    r->results = strdup(a->results ? a->results : "");
    r->status = strdup(a->status ? a->status : "");
    r->node = a->node && a->node[0] ? strdup(a->node) : NULL;
    r->attempt = a->attempt;
    r->wall = a->wall;
    r->run = a->run;
    if (!r->task || !r->params || !r->results || !r->status) {
        free(r->task);
        free(r->params);
        free(r->results);
        free(r->status);
        free(r->node);
        x->oom = true;
        return 1;
    }
    x->index[h] = (uint32_t)++x->n;
    return 0;
}

static void rset_free(rset_t *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->rows[i].task);
        free(x->rows[i].params);
        free(x->rows[i].results);
        free(x->rows[i].status);
        free(x->rows[i].node);
    }
    free(x->rows);
    free(x->index);
}

/* Task names in natural order: "solve-2" before "solve-10". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int by_name(const void *x, const void *y)
{
    int c = natural_cmp(((const rrow_t *)x)->task, ((const rrow_t *)y)->task);
    return c ? c : strcmp(((const rrow_t *)x)->task, ((const rrow_t *)y)->task);
}

/* Column names: the keys of "k=v" lines, in order of first appearance. */
typedef struct cols {
    char **names;
    size_t n, cap;
} cols_t;

static void cols_add_keys(cols_t *c, const char *lines)
{
    for (const char *l = lines; *l;) {
        size_t len = strcspn(l, "\n"), klen = strcspn(l, "=\n");
        if (klen < len) {
            size_t j = 0;
            while (j < c->n && !(strlen(c->names[j]) == klen && strncmp(c->names[j], l, klen) == 0))
                j++;
            if (j == c->n && c->n < 4096) {
                if (c->n == c->cap) {
                    size_t cap = c->cap ? c->cap * 2 : 16;
                    char **nn = realloc(c->names, cap * sizeof *nn);
                    if (!nn)
                        return;
                    c->names = nn;
                    c->cap = cap;
                }
                c->names[c->n] = strndup(l, klen);
                if (c->names[c->n])
                    c->n++;
            }
        }
        l += len + (l[len] == '\n');
    }
}

/* The value of key in "k=v" lines (NULL when absent), its length in *len. */
static const char *value_of(const char *lines, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *l = lines; *l;) {
        size_t n = strcspn(l, "\n");
        if (n > klen && l[klen] == '=' && strncmp(l, key, klen) == 0) {
            *len = n - klen - 1;
            return l + klen + 1;
        }
        l += n + (l[n] == '\n');
    }
    return NULL;
}

static void csv_field(const char *s, size_t len, bool last)
{
    bool quote = len == 0 ? false : (s[0] == ' ' || s[len - 1] == ' ');
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (quote) {
        putchar('"');
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '"')
                putchar('"');
            putchar(s[i]);
        }
        putchar('"');
    } else {
        fwrite(s, 1, len, stdout);
    }
    putchar(last ? '\n' : ',');
}

static int cmd_results(int argc, char **argv)
{
    const char *run = NULL;
    int fmt = 0; /* 0 table, 1 csv, 2 json */
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_results, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--csv") == 0 || strcmp(argv[i], "--json") == 0) {
            int f = argv[i][2] == 'c' ? 1 : 2;
            if (fmt && fmt != f) {
                fprintf(stderr, "weft results: --csv or --json, not both\n");
                return CLI_BAD_INPUT;
            }
            fmt = f;
        } else if (argv[i][0] != '-' && !run) {
            run = argv[i];
        } else {
            fprintf(stderr, "weft results: unexpected argument '%s' (see weft results --help)\n", argv[i]);
            return CLI_BAD_INPUT;
        }
    }
    weft__wf_store_t *s;
    weft__wf_run_row_t row;
    int rc = open_run("results", run, &s, &row);
    if (rc >= 0)
        return rc;
    rset_t x = {0};
    int src = weft__wf_store_view(s, row.id, false, results_row, &x);
    if (src || x.oom) {
        fprintf(stderr, "weft results: %s\n", x.oom ? "out of memory" : weft__wf_store_error(s));
        rc = CLI_FAILED;
        goto out;
    }
    if (x.n)
        qsort(x.rows, x.n, sizeof *x.rows, by_name);
    cols_t pc = {0}, rcols = {0};
    size_t wnode = 0; /* a node column when the run went over several ranks */
    for (size_t i = 0; i < x.n; i++) {
        cols_add_keys(&pc, x.rows[i].params);
        cols_add_keys(&rcols, x.rows[i].results);
        if (x.rows[i].node && strlen(x.rows[i].node) > wnode)
            wnode = strlen(x.rows[i].node);
    }
    if (wnode && wnode < 4)
        wnode = 4;
    size_t ncols = 4 + pc.n + rcols.n;
    if (fmt == 2) {
        printf("[");
        for (size_t i = 0; i < x.n; i++) {
            rrow_t *r = &x.rows[i];
            printf("%s\n  {\"task\": ", i ? "," : "");
            json_str(stdout, r->task);
            printf(", \"params\": ");
            weft__wf_json_lines(stdout, r->params);
            printf(", \"status\": ");
            json_str(stdout, r->status);
            printf(", \"attempt\": %d, \"wall_s\": %.3f, ", r->attempt, r->wall);
            if (r->node) {
                printf("\"node\": ");
                json_str(stdout, r->node);
                printf(", ");
            }
            printf("\"results\": ");
            weft__wf_json_lines(stdout, r->results);
            printf("}");
        }
        printf("\n]\n");
    } else if (fmt == 1) {
        csv_field("task", 4, false);
        for (size_t c = 0; c < pc.n; c++)
            csv_field(pc.names[c], strlen(pc.names[c]), false);
        csv_field("status", 6, false);
        csv_field("attempt", 7, false);
        csv_field("wall_s", 6, rcols.n == 0 && !wnode);
        if (wnode)
            csv_field("node", 4, rcols.n == 0);
        for (size_t c = 0; c < rcols.n; c++)
            csv_field(rcols.names[c], strlen(rcols.names[c]), c + 1 == rcols.n);
        for (size_t i = 0; i < x.n; i++) {
            rrow_t *r = &x.rows[i];
            char num[32];
            size_t len;
            csv_field(r->task, strlen(r->task), false);
            for (size_t c = 0; c < pc.n; c++) {
                const char *v = value_of(r->params, pc.names[c], &len);
                csv_field(v ? v : "", v ? len : 0, false);
            }
            csv_field(r->status, strlen(r->status), false);
            int n = snprintf(num, sizeof num, "%d", r->attempt);
            csv_field(num, (size_t)n, false);
            n = snprintf(num, sizeof num, "%.3f", r->wall);
            csv_field(num, (size_t)n, rcols.n == 0 && !wnode);
            if (wnode)
                csv_field(r->node ? r->node : "", r->node ? strlen(r->node) : 0, rcols.n == 0);
            for (size_t c = 0; c < rcols.n; c++) {
                const char *v = value_of(r->results, rcols.names[c], &len);
                csv_field(v ? v : "", v ? len : 0, c + 1 == rcols.n);
            }
        }
    } else {
        /* a table: widths from the values (newlines in a value shown as spaces) */
        size_t *w = calloc(ncols, sizeof *w);
        if (!w) {
            rc = CLI_FAILED;
            goto cols_out;
        }
        const char *head[4] = {"task", "status", "attempt", "wall_s"};
        for (size_t c = 0; c < ncols; c++)
            w[c] = c == 0         ? 4
                   : c <= pc.n    ? strlen(pc.names[c - 1])
                   : c < pc.n + 4 ? strlen(head[c - pc.n])
                                  : strlen(rcols.names[c - pc.n - 4]);
        for (size_t i = 0; i < x.n; i++) {
            rrow_t *r = &x.rows[i];
            size_t len;
            w[0] = strlen(r->task) > w[0] ? strlen(r->task) : w[0];
            for (size_t c = 0; c < pc.n; c++)
                if (value_of(r->params, pc.names[c], &len) && len > w[1 + c])
                    w[1 + c] = len;
            if (strlen(r->status) > w[pc.n + 1])
                w[pc.n + 1] = strlen(r->status);
            if (w[pc.n + 3] < 8)
                w[pc.n + 3] = 8;
            for (size_t c = 0; c < rcols.n; c++)
                if (value_of(r->results, rcols.names[c], &len) && len > w[pc.n + 4 + c])
                    w[pc.n + 4 + c] = len;
        }
        printf("%-*s", (int)w[0], "task");
        for (size_t c = 0; c < pc.n; c++)
            printf("  %-*s", (int)w[1 + c], pc.names[c]);
        printf("  %-*s  %*s  %*s", (int)w[pc.n + 1], "status", (int)w[pc.n + 2], "attempt", (int)w[pc.n + 3], "wall_s");
        if (wnode)
            printf("  %-*s", (int)wnode, "node");
        for (size_t c = 0; c < rcols.n; c++)
            printf("  %-*s", (int)w[pc.n + 4 + c], rcols.names[c]);
        putchar('\n');
        for (size_t i = 0; i < x.n; i++) {
            rrow_t *r = &x.rows[i];
            size_t len;
            printf("%-*s", (int)w[0], r->task);
            for (size_t c = 0; c < pc.n; c++) {
                const char *v = value_of(r->params, pc.names[c], &len);
                printf("  %-*.*s", (int)w[1 + c], v ? (int)len : 1, v ? v : "-");
            }
            printf("  %-*s  %*d  %*.3f", (int)w[pc.n + 1], r->status, (int)w[pc.n + 2], r->attempt, (int)w[pc.n + 3],
                   r->wall);
            if (wnode)
                printf("  %-*s", (int)wnode, r->node ? r->node : "-");
            for (size_t c = 0; c < rcols.n; c++) {
                const char *v = value_of(r->results, rcols.names[c], &len);
                printf("  %-*.*s", (int)w[pc.n + 4 + c], v ? (int)len : 1, v ? v : "-");
            }
            putchar('\n');
        }
        free(w);
    }
    rc = CLI_OK;
cols_out:
    for (size_t c = 0; c < pc.n; c++)
        free(pc.names[c]);
    for (size_t c = 0; c < rcols.n; c++)
        free(rcols.names[c]);
    free(pc.names);
    free(rcols.names);
out:
    rset_free(&x);
    weft__wf_store_close(s);
    return rc;
}

/* ---- weft status -------------------------------------------------------------------------------- */

static const char usage_status[] = "usage: weft status [RUN]\n"
                                   "\n"
                                   "The progress of RUN (default the latest run), from the run store: finished,\n"
                                   "failed and cached tasks of all of them, whether it still runs, and for how long.\n"
                                   "Works from another terminal while the run goes on (the store is committed\n"
                                   "every quarter second).\n";

typedef struct counts {
    size_t ok, failed, stopped, skipped;
} counts_t;

static void count_status(counts_t *c, const char *s)
{
    if (strcmp(s, "ok") == 0)
        c->ok++;
    else if (strcmp(s, "stopped") == 0)
        c->stopped++;
    else if (strcmp(s, "skipped") == 0 || strcmp(s, "not-run") == 0)
        c->skipped++;
    else
        c->failed++;
}

static int cmd_status(int argc, char **argv)
{
    const char *run = NULL;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_status, stdout);
            return CLI_OK;
        } else if (argv[i][0] != '-' && !run) {
            run = argv[i];
        } else {
            fprintf(stderr, "weft status: unexpected argument '%s' (see weft status --help)\n", argv[i]);
            return CLI_BAD_INPUT;
        }
    }
    weft__wf_store_t *s;
    weft__wf_run_row_t row;
    int rc = open_run("status", run, &s, &row);
    if (rc >= 0)
        return rc;
    /* the run's own rows, latest per task (a view stopped at the run: the
     * tasks it took from the run it resumed count as cached) */
    rset_t x = {0};
    counts_t c = {0};
    int src = weft__wf_store_view(s, row.id, false, results_row, &x);
    size_t ncached = 0;
    for (size_t i = 0; i < x.n && !src; i++) {
        if (x.rows[i].run == row.id)
            count_status(&c, x.rows[i].status);
        else
            ncached++; /* taken from the run it resumed */
    }
    const char *st = live_status(&row);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double nows = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    char el[32], when[32];
    fmt_when(row.start, when, sizeof when);
    fmt_dur((row.end > 0 ? row.end : nows) - row.start, el, sizeof el);
    bool running = strcmp(st, "running") == 0;
    size_t fin = c.ok + c.failed + c.stopped;
    printf("%s (run %lld of workflow %s): %s%s\n", row.name, (long long)row.id, row.flow, st,
           running                     ? ""
           : strcmp(st, "killed") == 0 ? " (its weft process is gone; weft run --resume goes on)"
                                       : "");
    char on[300] = "";
    if (row.host && row.host[0])
        snprintf(on, sizeof on, " on %s", row.host);
    if (running)
        printf("  pid %ld%s, started %s, %s so far\n", row.pid, on, when, el);
    else
        printf("  started %s%s, took %s\n", when, on, el);
    printf("  %lld tasks: %zu finished (%zu done, %zu failed, %zu stopped), %zu did not run, %zu cached\n",
           (long long)row.ntasks, fin, c.ok, c.failed, c.stopped, c.skipped, ncached);
    if (running && row.ntasks > 0)
        printf("  [%zu/%lld] %.0f%%\n", fin + ncached, (long long)row.ntasks,
               100.0 * (double)(fin + ncached) / (double)row.ntasks);
    rc = src || x.oom ? CLI_FAILED : CLI_OK;
    if (rc)
        fprintf(stderr, "weft status: %s\n", x.oom ? "out of memory" : weft__wf_store_error(s));
    rset_free(&x);
    weft__wf_store_close(s);
    return rc;
}

/* ---- weft log ------------------------------------------------------------------------------------ */

static const char usage_log[] = "usage: weft log TASK [RUN] [--attempt N] [--err]\n"
                                "\n"
                                "Prints the output of TASK (its stdout; --err: its stderr) in RUN (default the\n"
                                "latest run; a resumed run: the run that last ran it), of its last attempt or\n"
                                "of attempt N: from the run's output log, or from the task's stdout/stderr file\n"
                                "when it has one. Nothing when it wrote nothing.\n";

typedef struct pick {
    int want; /* 0: the last */
    bool err;
    char path[PATH_MAX];
    uint64_t off, len; /* in the run's output.log (len 0: not there) */
    int64_t run;
    int attempt, last;
} pick_t;

static int pick_row(void *ud, const weft__wf_attempt_row_t *a)
{
    pick_t *p = ud;
    if (a->attempt < 1)
        return 0;
    p->last = a->attempt;
    if (p->want == 0 || a->attempt == p->want) {
        const char *f = p->err ? a->err : a->out;
        snprintf(p->path, sizeof p->path, "%s", f ? f : "");
        p->off = p->err ? a->err_off : a->out_off;
        p->len = p->err ? a->err_len : a->out_len;
        p->run = a->run;
        p->attempt = a->attempt;
    }
    return 0;
}

/* Copies len bytes at off of the file at path to stdout (len UINT64_MAX:
 * to its end); a missing file is empty output. Returns an exit code. */
static int print_file(const char *path, uint64_t off, uint64_t len)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT && len == UINT64_MAX) /* nothing written */
            return CLI_OK;
        fprintf(stderr, "weft log: cannot read '%s': %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    if (off && fseeko(fp, (off_t)off, SEEK_SET) != 0) {
        fprintf(stderr, "weft log: cannot read '%s': %s\n", path, strerror(errno));
        fclose(fp);
        return CLI_FAILED;
    }
    char buf[65536];
    size_t n;
    while (len > 0 && (n = fread(buf, 1, len < sizeof buf ? (size_t)len : sizeof buf, fp)) > 0) {
        fwrite(buf, 1, n, stdout);
        if (len != UINT64_MAX)
            len -= n;
    }
    bool cut = len != UINT64_MAX && len > 0;
    fclose(fp);
    if (cut) {
        fprintf(stderr, "weft log: '%s' is shorter than the store says (removed by weft gc, or cut)\n", path);
        return CLI_FAILED;
    }
    return CLI_OK;
}

static int cmd_log(int argc, char **argv)
{
    const char *task = NULL, *run = NULL;
    pick_t p = {0};
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_log, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--err") == 0) {
            p.err = true;
        } else if (strncmp(argv[i], "--attempt", 9) == 0 && (argv[i][9] == '\0' || argv[i][9] == '=')) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : i + 1 < argc ? argv[++i] : "";
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1000) {
                fprintf(stderr, "weft log: --attempt needs a number from 1, got '%s'\n", v);
                return CLI_BAD_INPUT;
            }
            p.want = (int)n;
        } else if (argv[i][0] != '-' && !task) {
            task = argv[i];
        } else if (argv[i][0] != '-' && !run) {
            run = argv[i];
        } else {
            fprintf(stderr, "weft log: unexpected argument '%s' (see weft log --help)\n", argv[i]);
            return CLI_BAD_INPUT;
        }
    }
    if (!task) {
        fprintf(stderr, "weft log: which task? (weft log TASK [RUN])\n");
        return CLI_BAD_INPUT;
    }
    weft__wf_store_t *s;
    weft__wf_run_row_t row;
    int rc = open_run("log", run, &s, &row);
    if (rc >= 0)
        return rc;
    char name[256];
    snprintf(name, sizeof name, "%s", row.name);
    if (weft__wf_store_task_attempts(s, row.id, task, pick_row, &p) != 0) {
        fprintf(stderr, "weft log: %s\n", weft__wf_store_error(s));
        rc = CLI_FAILED;
    } else if (!p.last) {
        fprintf(stderr, "weft log: task '%s' has no attempt in run %s\n", task, name);
        rc = CLI_BAD_INPUT;
    } else if (!p.attempt) {
        fprintf(stderr, "weft log: task '%s' has no attempt %d in run %s (its last is %d)\n", task, p.want, name,
                p.last);
        rc = CLI_BAD_INPUT;
    } else if (p.len) { /* in the output log of the run that ran it */
        weft__wf_run_row_t ran;
        char id[32], seg[PATH_MAX + 32];
        snprintf(id, sizeof id, "%lld", (long long)p.run);
        if (weft__wf_store_find_run(s, id, NULL, NULL, &ran) != 0 || !ran.dir) {
            fprintf(stderr, "weft log: the run of task '%s' attempt %d is not in the store\n", task, p.attempt);
            rc = CLI_FAILED;
        } else {
            snprintf(seg, sizeof seg, "%s/output.log", ran.dir);
            rc = print_file(seg, p.off, p.len);
        }
    } else if (p.path[0]) {
        rc = print_file(p.path, 0, UINT64_MAX);
    } else {
        rc = CLI_OK; /* it wrote nothing */
    }
    weft__wf_store_close(s);
    return rc;
}

/* ---- weft gc ------------------------------------------------------------------------------------- */

static const char usage_gc[] = "usage: weft gc [--keep N]\n"
                               "\n"
                               "Drops all but the newest N runs (default 10) of each workflow from the run store,\n"
                               "their rows and their run directories, then compacts the store. Runs a kept run\n"
                               "resumed from are kept (its results come from them), and so are runs in progress.\n";

typedef struct gone {
    char **dirs;
    size_t n, cap;
    char base[PATH_MAX + 16];
} gone_t;

static int gc_row(void *ud, const weft__wf_run_row_t *r)
{
    gone_t *g = ud;
    /* only a directory inside this store's .weft/ is removed */
    if (!r->dir || strncmp(r->dir, g->base, strlen(g->base)) != 0 || strchr(r->dir + strlen(g->base), '/') ||
        strstr(r->dir, "/.."))
        return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        char **nd = realloc(g->dirs, cap * sizeof *nd);
        if (!nd)
            return 0;
        g->dirs = nd;
        g->cap = cap;
    }
    if ((g->dirs[g->n] = strdup(r->dir)) != NULL)
        g->n++;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static int cmd_gc(int argc, char **argv)
{
    long keep = 10;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_gc, stdout);
            return CLI_OK;
        } else if (strncmp(argv[i], "--keep", 6) == 0 && (argv[i][6] == '\0' || argv[i][6] == '=')) {
            const char *v = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : "";
            char *end;
            keep = strtol(v, &end, 10);
            if (!*v || *end || keep < 0 || keep > 1000000) {
                fprintf(stderr, "weft gc: --keep needs a number from 0, got '%s'\n", v);
                return CLI_BAD_INPUT;
            }
        } else {
            fprintf(stderr, "weft gc: unexpected argument '%s' (see weft gc --help)\n", argv[i]);
            return CLI_BAD_INPUT;
        }
    }
    weft__wf_store_t *s;
    char dir[PATH_MAX];
    int rc = open_store("gc", &s, dir, sizeof dir);
    if (rc >= 0)
        return rc;
    gone_t g = {0};
    snprintf(g.base, sizeof g.base, "%s/.weft/", dir);
    struct stat before, after;
    bool sized = stat(weft__wf_store_path(s), &before) == 0;
    int64_t n = 0;
    if (weft__wf_store_gc(s, (int)keep, gc_row, &g, &n) != 0) {
        fprintf(stderr, "weft gc: %s\n", weft__wf_store_error(s));
        rc = CLI_FAILED;
    } else {
        for (size_t i = 0; i < g.n; i++)
            nftw(g.dirs[i], rm_one, 16, FTW_DEPTH | FTW_PHYS);
        if (sized && stat(weft__wf_store_path(s), &after) == 0)
            printf("dropped %lld run%s (%zu directories); the store went from %lld to %lld bytes\n", (long long)n,
                   n == 1 ? "" : "s", g.n, (long long)before.st_size, (long long)after.st_size);
        else
            printf("dropped %lld run%s\n", (long long)n, n == 1 ? "" : "s");
        rc = CLI_OK;
    }
    for (size_t i = 0; i < g.n; i++)
        free(g.dirs[i]);
    free(g.dirs);
    weft__wf_store_close(s);
    return rc;
}

int weft__cli_history(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "runs") == 0)
        return cmd_runs(argc, argv);
    if (strcmp(cmd, "results") == 0)
        return cmd_results(argc, argv);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(argc, argv);
    if (strcmp(cmd, "log") == 0)
        return cmd_log(argc, argv);
    if (strcmp(cmd, "gc") == 0)
        return cmd_gc(argc, argv);
    return -1;
}
