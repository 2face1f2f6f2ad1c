/* Loading a workflow file into a plan, and showing the plan (DOT for
 * `weft graph`, the expanded commands for `weft run --dry-run`). */
#include "workloads/workflow/internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/runtime.h"

void weft__flow_opts_init(weft__flow_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->threads = -1;
    o->keep_going = -1;
}

static char *default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".toml") == 0)
        len -= 5;
    char *s = weft__malloc(len + 2);
    if (!s)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        s[n++] = (isalnum((unsigned char)base[i]) || strchr("._-+", base[i])) ? base[i] : '_';
    if (n == 0 || s[0] == '.')
        s[n++] = 'w';
    s[n] = '\0';
    return s;
}

/* workdir: as given, relative to the workflow file's folder; default the
 * current directory. */
static int resolve_workdir(weft__flow_t *f)
{
    char buf[PATH_MAX];
    const char *wd = f->workdir;
    if (!wd) {
        if (!getcwd(buf, sizeof buf))
            return weft__wf_error(f, 0, 0, NULL, NULL, "cannot read the current directory: %s", strerror(errno));
    } else if (wd[0] == '/') {
        snprintf(buf, sizeof buf, "%s", wd);
    } else {
        const char *slash = strrchr(f->path, '/');
        if (slash)
            snprintf(buf, sizeof buf, "%.*s/%s", (int)(slash - f->path), f->path, wd);
        else
            snprintf(buf, sizeof buf, "%s", wd);
    }
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(buf, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const weft_toml_value_t *v = NULL;
        weft_toml_find(weft_toml_root(f->doc), "workflow.workdir", &v);
        return weft__wf_error(f, v ? weft_toml_line(v) : 0, v ? weft_toml_column(v) : 0, NULL, "workflow.workdir",
                              "cannot use '%s' as the working directory: %s", buf,
                              errno ? strerror(errno) : "not a directory");
    }
    weft__free(f->workdir);
    f->workdir = weft__strdup(real);
    return f->workdir ? 0 : WEFT_ENOMEM;
}

int weft__flow_load(const char *path, const weft__flow_opts_t *o, weft__flow_t **out, char *err, size_t errlen)
{
    *out = NULL;
    weft__flow_opts_t defaults;
    if (!o) {
        weft__flow_opts_init(&defaults);
        o = &defaults;
    }
    weft__flow_t *f = weft__calloc(1, sizeof *f);
    if (!f)
        return WEFT_ENOMEM;
    weft__arena_init(&f->arena, 64 * 1024, false);
    f->err = err;
    f->errlen = errlen;
    f->pin = WEFT_PIN_CORE;
    f->gpus = -1;
    f->keep_going = true;
    f->grace_ns = 2000000000ull;
    weft_toml_error_t terr;
    int rc = weft_toml_parse_file(path, 0, &f->doc, &terr);
    if (rc) {
        snprintf(err, errlen, "%s", terr.text);
        weft__flow_destroy(f);
        return rc == WEFT_ENOENT || rc == WEFT_ENOMEM ? rc : rc == WEFT_EPARSE ? WEFT_EPARSE : WEFT_ESYS;
    }
    f->path = weft_toml_name(f->doc);
    rc = weft__wf_schema(f, o);
    if (!rc && !f->name && !(f->name = default_name(f->path)))
        rc = WEFT_ENOMEM;
    if (!rc)
        rc = resolve_workdir(f);
    if (!rc)
        rc = weft__wf_expand_tasks(f);
    if (!rc)
        rc = weft__wf_resolve(f, o);
    if (!rc) {
        if (o->threads >= 0)
            f->threads = o->threads;
        if (o->keep_going >= 0)
            f->keep_going = o->keep_going;
    }
    if (rc) {
        if (rc == WEFT_ENOMEM)
            snprintf(err, errlen, "%s: out of memory", path);
        weft__flow_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

void weft__flow_destroy(weft__flow_t *f)
{
    if (!f)
        return;
    weft__wf_plan_destroy(f);
    weft__free(f->tasks);
    weft__free(f->hash);
    weft__free(f->dep_off);
    weft__free(f->deps);
    weft__free(f->tmpls);
    weft__free(f->name);
    weft__free(f->workdir);
    weft__free(f->shard);
    weft__free(f->sel);
    weft__arena_fini(&f->arena);
    weft_toml_destroy(f->doc);
    weft__free(f);
}

const char *weft__flow_name(const weft__flow_t *f)
{
    return f->name;
}

size_t weft__flow_ntasks(const weft__flow_t *f)
{
    size_t n = 0;
    for (uint32_t i = 0; i < f->ntasks; i++)
        n += f->tasks[i].keep;
    return n;
}

size_t weft__flow_nedges(const weft__flow_t *f)
{
    size_t n = 0;
    for (uint32_t i = 0; i < f->ntasks; i++)
        if (f->tasks[i].keep)
            n += f->dep_off[i + 1] - f->dep_off[i];
    return n;
}

int weft__flow_threads(const weft__flow_t *f)
{
    return f->threads;
}

uint64_t weft__flow_grace_ns(const weft__flow_t *f)
{
    return f->grace_ns;
}

/* ---- showing the plan ----------------------------------------------------------- */

static void put_quoted(FILE *out, const char *s, bool shell)
{
    if (shell && *s &&
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=/,:@%") == strlen(s)) {
        fputs(s, out);
        return;
    }
    fputc(shell ? '\'' : '"', out);
    for (; *s; s++) {
        if (shell && *s == '\'')
            fputs("'\\''", out);
        else if (!shell && (*s == '"' || *s == '\\'))
            fprintf(out, "\\%c", *s);
        else
            fputc(*s, out);
    }
    fputc(shell ? '\'' : '"', out);
}

void weft__flow_write_dot(const weft__flow_t *f, FILE *out)
{
    fputs("digraph ", out);
    put_quoted(out, f->name, false);
    fputs(" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", out);
    for (uint32_t i = 0; i < f->ntasks; i++) {
        const wf_task_t *t = &f->tasks[i];
        if (!t->keep)
            continue;
        fputs("  ", out);
        put_quoted(out, t->name, false);
        if (t->tmpl->kind == WF_KERNEL)
            fputs(" [shape=ellipse]", out);
        fputs(";\n", out);
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1]; e++) {
            fputs("  ", out);
            put_quoted(out, f->tasks[f->deps[e]].name, false);
            fputs(" -> ", out);
            put_quoted(out, t->name, false);
            fputs(";\n", out);
        }
    }
    fputs("}\n", out);
}

static void put_expanded(const weft__flow_t *f, const wf_task_t *t, const weft_toml_value_t *v, FILE *out, bool quote,
                         unsigned flags)
{
    const char *s;
    weft_toml_get_string(v, NULL, &s, NULL);
    char *x = weft__wf_expand_dup_ex(f, t->tmpl, t->combo, s, flags);
    if (x) {
        if (quote)
            put_quoted(out, x, true);
        else
            fputs(x, out);
    }
    weft__free(x);
}

/* In dependency order; prints "name: what (after a, b)". */
void weft__flow_write_plan(const weft__flow_t *f, FILE *out)
{
    uint32_t *order = weft__wf_topo(f);
    if (!order) {
        fputs("weft: out of memory\n", out);
        return;
    }
    for (uint32_t k = 0; k < f->ntasks; k++) {
        uint32_t i = order[k];
        const wf_task_t *t = &f->tasks[i];
        if (!t->keep)
            continue;
        fprintf(out, "%s: ", t->name);
        const wf_tmpl_t *tm = t->tmpl;
        if (tm->kind == WF_CMD) {
            for (const weft_toml_value_t *a = weft_toml_first(tm->run); a; a = weft_toml_next(a)) {
                put_expanded(f, t, a, out, true, 0);
                if (weft_toml_next(a))
                    fputc(' ', out);
            }
        } else if (tm->kind == WF_SHELL) {
            fputs("sh -c ", out);
            put_expanded(f, t, tm->run, out, true, WF_EXPAND_SHELL);
        } else {
            const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
            char buf[8192];
            size_t na = 0;
            fprintf(out, "kernel %s", tm->kernel->name);
            if (weft__wf_kargs(f, t, keys, vals, buf, sizeof buf, &na) == 0)
                for (size_t a = 0; a < na; a++)
                    fprintf(out, " %s=%s", keys[a], vals[a]);
        }
        if (tm->cpus > 1)
            fprintf(out, " [cpus %d]", tm->cpus);
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1]; e++)
            fprintf(out, "%s%s", e == f->dep_off[i] ? " (after " : ", ", f->tasks[f->deps[e]].name);
        fputs(f->dep_off[i + 1] > f->dep_off[i] ? ")\n" : "\n", out);
    }
    weft__free(order);
}

const char *weft__flow_task_name(const weft__flow_t *f, size_t i)
{
    return f->tasks[i].name;
}

size_t weft__flow_ntasks_all(const weft__flow_t *f)
{
    return f->ntasks;
}
