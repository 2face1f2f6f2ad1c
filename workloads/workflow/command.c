/* Command tasks of a workflow run: each is a process task of the runtime
 * (tasks/proctask.c) whose source is here — its argv and environment,
 * built when an attempt starts, and the journal line, trace slice, results
 * and events of every attempt. */
#include "workloads/workflow/run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void weft__wf_task_path(weft__flow_run_t *r, const wf_task_t *t, const weft_toml_value_t *v, const char *ext, char *buf,
                        size_t cap)
{
    if (v) {
        const char *s;
        weft_toml_get_string(v, NULL, &s, NULL);
        weft__wf_expand(r->f, t->tmpl, t->combo, NULL, s, buf, cap);
    } else if (snprintf(buf, cap, "%s/%s.%s", r->dir, t->name, ext) >= (int)cap) {
        buf[0] = '\0'; /* too long to be a path: opening "" fails, naming no other file */
    }
}

/* mkdir -p of the folder holding path. Returns 0, or the errno of the
 * folder that could not be made (named in dir), so that a file under a
 * read-only folder is reported as such, not as "No such file". */
int weft__wf_make_parent(const char *path, char *dir, size_t dirlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(dir, dirlen, "%.64s...", path);
        return ENAMETOOLONG;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    struct stat st;
    if (stat(buf, &st) == 0)
        return 0;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(dir, dirlen, "%s", buf);
            return e;
        }
        if (!c)
            return 0;
        *p = c;
    }
}

/* ---- declared outputs ------------------------------------------------------------------------- */

/* Before an attempt: its declared outputs are removed, so that what is
 * there afterwards is this attempt's (and a file an interrupted attempt
 * half wrote is newer than the last success: not cached). */
void weft__wf_outputs_clear(weft__flow_run_t *r, const wf_task_t *t)
{
    for (const weft_toml_value_t *e = t->tmpl->outputs ? weft_toml_first(t->tmpl->outputs) : NULL; e;
         e = weft_toml_next(e)) {
        char path[PATH_MAX];
        weft__wf_task_path(r, t, e, NULL, path, sizeof path);
        unlink(path);
    }
}

/* After a failed or stopped attempt: what it left of its declared outputs
 * moves to <run dir>/<task>.failed-<attempt>/ (removed when it cannot
 * move), so that no later step takes a half-written file for a result. */
void weft__wf_outputs_aside(weft__flow_run_t *r, const wf_task_t *t, int attempt)
{
    char dir[PATH_MAX + 300];
    bool made = false;
    int k = 0;
    snprintf(dir, sizeof dir, "%s/%s.failed-%d", r->dir, t->name, attempt);
    for (const weft_toml_value_t *e = t->tmpl->outputs ? weft_toml_first(t->tmpl->outputs) : NULL; e;
         e = weft_toml_next(e), k++) {
        char path[PATH_MAX], to[sizeof dir + PATH_MAX + 16];
        struct stat st;
        weft__wf_task_path(r, t, e, NULL, path, sizeof path);
        if (lstat(path, &st) != 0)
            continue;
        if (!made)
            made = mkdir(dir, 0755) == 0 || errno == EEXIST;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        snprintf(to, sizeof to, "%s/%d-%s", dir, k, base);
        if (!made || rename(path, to) != 0)
            unlink(path);
    }
}

/* A growing pool of strings for one spawn. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
} sbuf_t;

static size_t sb_add(sbuf_t *b, const char *s, size_t len)
{
    if (WEFT__GROW(b->data, b->cap, b->len + len + 1, 4096)) {
        b->oom = true;
        return 0;
    }
    size_t at = b->len;
    if (s) /* NULL: only reserve len bytes */
        memcpy(b->data + at, s, len);
    b->data[at + len] = '\0';
    b->len += len + 1;
    return at;
}

static size_t sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return 0;
    }
    if ((size_t)n < sizeof tmp)
        return sb_add(b, tmp, (size_t)n);
    /* longer (a long sweep value in WEFT_PARAM_*, say): room in b first */
    size_t at = sb_add(b, NULL, (size_t)n);
    if (b->oom)
        return 0;
    va_start(ap, fmt);
    vsnprintf(b->data + at, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return at;
}

static size_t sb_expand(sbuf_t *b, const weft__flow_t *f, const wf_task_t *t, const char *s, unsigned flags)
{
    char *x = weft__wf_expand_dup_ex(f, t->tmpl, t->combo, s, flags);
    if (!x) {
        b->oom = true;
        return 0;
    }
    size_t at = sb_add(b, x, strlen(x));
    weft__free(x);
    return at;
}

/* ---- command tasks: a source of process tasks ------------------------------------------------
 *
 * A command task is a process task of the runtime (tasks/proctask.c): the
 * task service admits it (cores, GPUs), the process executor spawns it
 * bound to them, times it out and retries it. What is the workflow's is
 * here: its argv and environment, built when an attempt starts, and the
 * journal line, trace slice, results and events of every attempt. */

/* The task counts as running from its first attempt's start (its cores
 * granted), not while it waits for them: the progress line's "running"
 * and "queued". Once per run of the task; settle counts it out. */
static void count_started(weft__flow_run_t *r, uint32_t ti)
{
    if (r->state[ti] != WEFT_FLOW_RUNNING) {
        r->state[ti] = WEFT_FLOW_RUNNING;
        atomic_fetch_add(&r->nrunning, 1);
    }
}

/* key=value lines a command wrote to $WEFT_RESULT, as they are (lines
 * without '=' dropped, line ends normalised) in out (len 0: none). */
static void read_results(weft__flow_run_t *r, const wf_task_t *t, line_t *out)
{
    char path[PATH_MAX + 256];
    line_init(out);
    out->buf[0] = '\0';
    if (snprintf(path, sizeof path, "%s/%s.result", r->dir, t->name) >= (int)sizeof path)
        return;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strchr(line, '=') || line[0] == '=')
            continue;
        if (out->len)
            put_char(out, '\n');
        put_text(out, line);
    }
    free(line);
    fclose(fp);
    out->buf[out->len] = '\0';
}

/* The last lines (at most 5, from its last KiB) of a stderr: from the file
 * at path, else from the run's log at off (len bytes); "" when empty. */
static void stderr_tail(weft__flow_run_t *r, const char *path, uint64_t off, uint64_t len, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = path  ? open(path, O_RDONLY | O_CLOEXEC)
             : len ? open(weft__outlog_path(r->outlog), O_RDONLY | O_CLOEXEC)
                   : -1;
    if (fd < 0)
        return;
    if (path) {
        struct stat st;
        off = 0;
        len = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    size_t want = len < cap - 1 ? (size_t)len : cap - 1;
    ssize_t n = want ? pread(fd, buf, want, (off_t)(off + len - want)) : 0;
    close(fd);
    size_t m = n > 0 ? (size_t)n : 0;
    while (m > 0 && buf[m - 1] == '\n')
        m--;
    buf[m] = '\0';
    char *p = buf + m;
    int lines = 0;
    while (p > buf && lines < 5)
        if (*--p == '\n' && ++lines == 5)
            p++;
    if (p != buf)
        memmove(buf, p, strlen(p) + 1);
}

/* Renames the file at path (a buffer of size bytes) to path.<attempt> and
 * leaves the new name in it; nothing when it does not exist or the name
 * would not fit. */
static void keep_attempt_file(char *path, size_t size, int attempt)
{
    char kept[PATH_MAX + 16];
    int n = snprintf(kept, sizeof kept, "%s.%d", path, attempt);
    if (n < 0 || (size_t)n >= size || rename(path, kept) != 0)
        return;
    memcpy(path, kept, (size_t)n + 1);
}

/* Every attempt: its journal line, trace slice and results; then the
 * task's final word, or the retry's event. */
static bool cmd_attempt(void *ud, const weft__proc_attempt_info_t *info)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = weft__wf_run_of(t);
    uint32_t ti = (uint32_t)(t - r->f->tasks);
    const weft__proc_result_t *res = info->r;
    bool retry = info->retry && !atomic_load(&r->stopping);
    if (res->status != 0 && !retry)
        weft__wf_fail_fast(r); /* before its cores go back (see fail_fast) */
    if (res->status != 0 && res->started)
        weft__wf_outputs_aside(r, t, info->attempt);
    char out[PATH_MAX], err[PATH_MAX];
    weft__wf_task_path(r, t, t->tmpl->out, "out", out, sizeof out);
    weft__wf_task_path(r, t, t->tmpl->err, "err", err, sizeof err);
    /* a retry follows, which truncates the files: this attempt's output
     * is kept as <file>.<attempt> (the journal line names it) */
    if (retry && res->started && (t->tmpl->out || t->tmpl->err || res->out_spilled || res->err_spilled)) {
        bool same = strcmp(out, err) == 0;
        keep_attempt_file(out, sizeof out, info->attempt);
        if (same)
            memcpy(err, out, strlen(out) + 1);
        else
            keep_attempt_file(err, sizeof err, info->attempt);
    }
    /* where its output is: its files, or the run's log */
    bool out_file = t->tmpl->out || res->out_spilled, err_file = t->tmpl->err || res->err_spilled;
    if (!out_file)
        out[0] = '\0';
    if (!err_file)
        err[0] = '\0';
    line_t rl;
    if (res->started && !res->node)
        read_results(r, t, &rl);
    else
        line_init(&rl), rl.buf[0] = '\0';
    const char *results = res->node && res->results ? res->results : rl.buf; /* a remote node read them */
    attempt_t a = {.attempt = info->attempt,
                   .start_ns = info->start_ns,
                   .end_ns = info->end_ns,
                   .user_ns = res->user_ns,
                   .sys_ns = res->sys_ns,
                   .maxrss_kb = res->started ? res->maxrss_kb : -1,
                   .exit_code = res->exit_code,
                   .signal = res->signal,
                   .status = res->status == 0                ? "ok"
                             : res->timed_out                ? "timeout"
                             : res->status == WEFT_ECANCELED ? "stopped"
                                                             : "failed",
                   .cpus = info->cpus,
                   .gpus = info->gpus,
                   .out = out,
                   .err = err,
                   .results = results,
                   .reason = res->status ? res->reason : "",
                   .out_off = res->out_off,
                   .out_len = res->out_len,
                   .err_off = res->err_off,
                   .err_len = res->err_len,
                   .node = res->node};
    char lost[160];
    if (res->log_err) { /* the task's outcome stands; its output is not kept whole */
        snprintf(lost, sizeof lost, "%s%soutput not kept: %s", a.reason, a.reason[0] ? "; " : "",
                 strerror(res->log_err));
        a.reason = lost;
    }
    weft__wf_journal(r, ti, &a);
    if (r->tr && res->started)
        weft__wf_trace_attempt(r, weft__wf_gtask(r, ti), &a, res->status == 0, true);
    if (res->status == 0 && results[0])
        weft__wf_add_note(r, true, ti, results);
    line_fini(&rl);
    double wall = (double)(info->end_ns - info->start_ns) / 1e9;
    if (res->status == 0) {
        weft__wf_settle(r, ti, info->attempt, WEFT_FLOW_DONE, wall, NULL);
        return false;
    }
    char why[sizeof res->reason + 64];
    if (retry) {
        if (info->retry_in_ns)
            snprintf(why, sizeof why, "%s; retrying in %g s", res->reason, (double)info->retry_in_ns / 1e9);
        else
            snprintf(why, sizeof why, "%s; retrying", res->reason);
        weft__wf_event(r, ti, info->attempt, WEFT_FLOW_RUNNING, wall, why);
        return true;
    }
    if (res->status == WEFT_ECANCELED)
        snprintf(why, sizeof why, "%s", res->started ? "interrupted: stopped before it finished" : res->reason);
    else if (info->attempt > 1)
        snprintf(why, sizeof why, "%s (attempt %d of %d)", res->reason, info->attempt, t->tmpl->retries + 1);
    else
        snprintf(why, sizeof why, "%s", res->reason);
    weft__wf_settle(r, ti, info->attempt,
                    res->status != WEFT_ECANCELED ? WEFT_FLOW_FAILED
                    : res->started                ? WEFT_FLOW_STOPPED
                                                  : WEFT_FLOW_NOT_RUN,
                    wall, why);
    if (res->started) {
        char tail[1100], where[PATH_MAX + 64];
        stderr_tail(r, err_file ? err : NULL, res->err_off, res->err_len, tail, sizeof tail);
        if (err_file)
            snprintf(where, sizeof where, "%s", err);
        else if (res->err_len)
            snprintf(where, sizeof where, "weft log %s --err", t->name);
        else
            where[0] = '\0';
        weft__wf_note_stderr(r, ti, where, tail);
    }
    return false;
}

static void cmd_not_started(void *ud, int status, const char *why)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = weft__wf_run_of(t);
    bool stopped = status == WEFT_ECANCELED;
    count_started(r, (uint32_t)(t - r->f->tasks)); /* (settle counts it out) */
    weft__wf_settle(r, (uint32_t)(t - r->f->tasks), 1, stopped ? WEFT_FLOW_NOT_RUN : WEFT_FLOW_FAILED, 0,
                    stopped ? "not started: the run was stopping" : why);
}

/* One attempt's argv, environment and files (one allocation each). */
typedef struct built {
    sbuf_t b;
    size_t *argv_at, *env_at;
    const char **argv, **envp;
    char out[PATH_MAX], err[PATH_MAX], cwd[PATH_MAX];
} built_t;

static void cmd_release(void *ud, weft__proc_spec_t *spec)
{
    (void)ud;
    built_t *x = spec->src_priv;
    if (!x)
        return;
    weft__free(x->b.data);
    weft__free(x->argv_at);
    weft__free(x->env_at);
    weft__free(x->argv);
    weft__free(x->envp);
    weft__free(x);
    spec->src_priv = NULL;
}

static int cmd_build(void *ud, int attempt, weft__proc_spec_t *spec, char *why, size_t whylen)
{
    const wf_task_t *t = ud;
    weft__flow_run_t *r = weft__wf_run_of(t);
    const weft__flow_t *f = r->f;
    const wf_tmpl_t *tm = t->tmpl;
    count_started(r, (uint32_t)(t - f->tasks));
    built_t *x = weft__calloc(1, sizeof *x);
    if (!x)
        return WEFT_ENOMEM;
    spec->src_priv = x;
    sbuf_t *b = &x->b;
    size_t nargv = tm->kind == WF_CMD ? weft_toml_count(tm->run) : 3;
    size_t nenv_t = tm->env ? weft_toml_count(tm->env) : 0, nparams = 0;
    for (uint32_t m = 0; m < tm->ndims; m++)
        nparams += f->dims[tm->dims[m]].nparams;
    size_t nextra = nenv_t + nparams + 5;
    x->argv_at = weft__malloc((nargv + 1) * sizeof *x->argv_at);
    x->env_at = weft__malloc((nextra + 1) * sizeof *x->env_at);
    x->argv = weft__malloc((nargv + 1) * sizeof *x->argv);
    x->envp = weft__malloc((nextra + 1) * sizeof *x->envp);
    if (!x->argv_at || !x->env_at || !x->argv || !x->envp)
        return WEFT_ENOMEM;
    /* argv */
    if (tm->kind == WF_CMD) {
        size_t i = 0;
        for (const weft_toml_value_t *a = weft_toml_first(tm->run); a; a = weft_toml_next(a)) {
            const char *s;
            weft_toml_get_string(a, NULL, &s, NULL);
            x->argv_at[i++] = sb_expand(b, f, t, s, 0);
        }
    } else {
        const char *s;
        weft_toml_get_string(tm->run, NULL, &s, NULL);
        x->argv_at[0] = sb_add(b, "/bin/sh", 7);
        x->argv_at[1] = sb_add(b, "-c", 2);
        x->argv_at[2] = sb_expand(b, f, t, s, WF_EXPAND_SHELL);
    }
    /* env: the task's own, then the workflow's (the process task adds
     * OMP_NUM_THREADS, WEFT_CPUS, WEFT_ATTEMPT, the GPUs and the inherited
     * environment) */
    size_t ne = 0;
    for (const weft_toml_value_t *e = tm->env ? weft_toml_first(tm->env) : NULL; e; e = weft_toml_next(e)) {
        const char *s;
        char text[512];
        if (weft_toml_get_string(e, NULL, &s, NULL) != 0) {
            weft__wf_format(e, text, sizeof text);
            s = text;
        }
        char *v = weft__wf_expand_dup(f, tm, t->combo, s);
        x->env_at[ne++] = v ? sb_printf(b, "%s=%s", weft_toml_key(e, NULL), v) : 0;
        b->oom |= !v;
        weft__free(v);
    }
    x->env_at[ne++] = sb_printf(b, "WEFT_TASK=%s", t->name);
    x->env_at[ne++] = sb_printf(b, "WEFT_INDEX=%" PRIu32, t->combo);
    x->env_at[ne++] = sb_printf(b, "WEFT_RUN_DIR=%s", r->dir);
    x->env_at[ne++] = sb_printf(b, "WEFT_RESULT=%s/%s.result", r->dir, t->name);
    if (tm->always) { /* what it runs after, however that went */
        char points[PATH_MAX + 300];
        int prc = r->agent ? 0 : weft__wf_points_write(r, t, points, sizeof points, why, whylen);
        if (r->agent) /* rank 0 wrote it, and sent it along (cluster.c) */
            snprintf(points, sizeof points, "%s/%s.points.json", r->dir, t->name);
        if (prc)
            return prc;
        x->env_at[ne++] = sb_printf(b, "WEFT_POINTS=%s", points);
    }
    for (uint32_t m = 0; m < tm->ndims; m++) {
        const wf_dim_t *d = &f->dims[tm->dims[m]];
        uint32_t digit = weft__wf_digit(f, tm, t->combo, tm->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            const char *nm = f->params[d->params[p]].name;
            size_t at = sb_printf(b, "WEFT_PARAM_%s=%s", nm, f->params[d->params[p]].values[digit]);
            for (char *c = b->oom ? NULL : b->data + at + 11; c && *c != '='; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            x->env_at[ne++] = at;
        }
    }
    weft__wf_task_path(r, t, tm->out, "out", x->out, sizeof x->out);
    weft__wf_task_path(r, t, tm->err, "err", x->err, sizeof x->err);
    if (tm->cwd)
        weft__wf_task_path(r, t, tm->cwd, NULL, x->cwd, sizeof x->cwd);
    if (b->oom)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < nargv; i++)
        x->argv[i] = b->data + x->argv_at[i];
    x->argv[nargv] = NULL;
    for (size_t i = 0; i < ne; i++)
        x->envp[i] = b->data + x->env_at[i];
    x->envp[ne] = NULL;
    /* The default files sit in the run directory (names hold no '/'). */
    char dir[PATH_MAX];
    int e = 0;
    const char *which = "stdout";
    if (tm->out)
        e = weft__wf_make_parent(x->out, dir, sizeof dir);
    if (!e && tm->err) {
        which = "stderr";
        e = weft__wf_make_parent(x->err, dir, sizeof dir);
    }
    if (e) {
        snprintf(why, whylen, "cannot create the folder '%s' for the %s file: %s", dir, which, strerror(e));
        return WEFT_ETASK;
    }
    char result_path[PATH_MAX + 256];
    if (attempt > 1 &&
        snprintf(result_path, sizeof result_path, "%s/%s.result", r->dir, t->name) < (int)sizeof result_path)
        unlink(result_path); /* a retry starts clean */
    weft__wf_outputs_clear(r, t);
    spec->argv = x->argv;
    spec->envp = x->envp;
    spec->cwd = tm->cwd ? x->cwd : NULL;
    /* explicit files are written; otherwise the output goes to the run's
     * log (nothing for none), to <task>.out/.err only when it is large */
    spec->stdout_path = tm->out ? x->out : NULL;
    spec->stderr_path = tm->err ? x->err : NULL;
    spec->log = r->outlog;
    spec->stdout_spill = x->out;
    spec->stderr_spill = x->err;
    return 0;
}

/* Over several ranks: the attempt goes to a node, which builds it from
 * the task's number as cmd_build does here. An `always` task's
 * points.json is written here (the node gets its text with the task). */
static int cmd_remote(void *ud, int attempt, uint32_t *id, char *why, size_t whylen)
{
    (void)attempt;
    const wf_task_t *t = ud;
    weft__flow_run_t *r = weft__wf_run_of(t);
    count_started(r, (uint32_t)(t - r->f->tasks));
    if (t->tmpl->always) {
        char points[PATH_MAX + 300];
        int rc = weft__wf_points_write(r, t, points, sizeof points, why, whylen);
        if (rc)
            return rc;
    }
    *id = (uint32_t)(t - r->f->tasks);
    return 0;
}

const weft__proc_source_t weft__wf_cmd_source = {
    .remote_id = cmd_remote,
    .build = cmd_build,
    .release = cmd_release,
    .attempt = cmd_attempt,
    .not_started = cmd_not_started,
};
