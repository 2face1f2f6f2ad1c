/* points.json: what a `when = "always"` command task gets before it
 * starts — every task it runs after, with its sweep values, its outcome
 * and the results it reported — so that an aggregation step can run over
 * a sweep some of whose points failed. Written to
 * <run dir>/<task>.points.json (named by $WEFT_POINTS) and copied to
 * <run dir>/points.json (the last one written, for a workflow with one
 * such step), each through a temporary file and a rename. */
#include "workloads/workflow/run.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workloads/workflow/store.h"

void weft__wf_json_text(FILE *fp, const char *s, size_t n)
{
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", fp);
        else if (c == '\t')
            fputs("\\t", fp);
        else if (c < 0x20)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

/* Whether the key of the line at l (klen bytes) is that of an earlier
 * line of lines. */
static bool key_seen(const char *lines, const char *l, size_t klen)
{
    for (const char *e = lines; e < l;) {
        size_t n = strcspn(e, "\n"), k = strcspn(e, "=\n");
        if (k == klen && k < n && memcmp(e, l, k) == 0)
            return true;
        e += n + (e[n] == '\n');
    }
    return false;
}

void weft__wf_json_lines(FILE *fp, const char *lines)
{
    fputc('{', fp);
    bool first = true;
    for (const char *l = lines ? lines : ""; *l;) {
        size_t len = strcspn(l, "\n"), k = strcspn(l, "=\n");
        if (k < len && !key_seen(lines, l, k)) { /* a key twice: its first value, as weft results shows */
            fputs(first ? "" : ", ", fp);
            first = false;
            weft__wf_json_text(fp, l, k);
            fputs(": ", fp);
            weft__wf_json_text(fp, l + k + 1, len - k - 1);
        }
        l += len + (l[len] == '\n');
    }
    fputc('}', fp);
}

static const char *state_name(int st)
{
    switch (st) {
    case WEFT_FLOW_DONE: return "ok";
    case WEFT_FLOW_FAILED: return "failed";
    case WEFT_FLOW_SKIPPED: return "skipped";
    case WEFT_FLOW_NOT_RUN: return "not-run";
    case WEFT_FLOW_STOPPED: return "stopped";
    case WEFT_FLOW_CACHED: return "cached";
    default: return "pending";
    }
}

typedef struct cached {
    weft__flow_run_t *r;
    char **results; /* per task: a cached one's results (from the run resumed) */
} cached_t;

static int cached_row(void *ud, const weft__wf_attempt_row_t *a)
{
    cached_t *c = ud;
    uint32_t ti = weft__wf_find(c->r->f, a->task);
    if (ti != UINT32_MAX && c->r->state[ti] == WEFT_FLOW_CACHED && !c->results[ti])
        c->results[ti] = weft__strdup(a->results ? a->results : "");
    return 0;
}

int weft__wf_points_write(weft__flow_run_t *r, const wf_task_t *t, char *path, size_t cap, char *why, size_t whylen)
{
    const weft__flow_t *f = r->f;
    uint32_t ti = (uint32_t)(t - f->tasks);
    snprintf(path, cap, "%s/%s.points.json", r->dir, t->name);
    char tmp[PATH_MAX + 300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* results of the tasks it runs after: this run's notes, and for
     * cached ones the store's rows of the run resumed */
    const char **res = weft__calloc(f->ntasks ? f->ntasks : 1, sizeof *res);
    cached_t c = {.r = r};
    bool any_cached = false;
    for (uint32_t e = f->dep_off[ti]; e < f->dep_off[ti + 1]; e++)
        any_cached |= r->state[f->deps[e]] == WEFT_FLOW_CACHED;
    if (any_cached)
        c.results = weft__calloc(f->ntasks, sizeof *c.results);
    if (!res || (any_cached && !c.results)) {
        weft__free(res);
        weft__free(c.results);
        snprintf(why, whylen, "out of memory writing its points.json");
        return WEFT_ENOMEM;
    }
    if (any_cached && r->store) { /* the store's connection is the flusher's: under its lock */
        pthread_mutex_lock(&r->flush_lock);
        weft__wf_store_view(r->store, f->resumed, false, cached_row, &c);
        pthread_mutex_unlock(&r->flush_lock);
    }
    pthread_mutex_lock(&r->lock);
    for (note_t *n = r->results; n; n = n->next)
        res[n->task] = n->text;
    FILE *fp = fopen(tmp, "w");
    int e = fp ? 0 : errno;
    if (fp) {
        fputs("[", fp);
        for (uint32_t d = f->dep_off[ti]; d < f->dep_off[ti + 1]; d++) {
            uint32_t u = f->deps[d];
            line_t params;
            weft__wf_params_text(f, &f->tasks[u], &params, '\n');
            fprintf(fp, "%s\n  {\"task\": ", d == f->dep_off[ti] ? "" : ",");
            weft__wf_json_text(fp, f->tasks[u].name, strlen(f->tasks[u].name));
            fputs(", \"params\": ", fp);
            weft__wf_json_lines(fp, params.buf);
            int st = r->state[u];
            weft_task_t *gu = weft__wf_gtask(r, u);
            if ((st == WEFT_FLOW_PENDING || st == WEFT_FLOW_RUNNING) && gu &&
                weft_task_state(gu) == WEFT_TASK_CANCELLED)
                st = WEFT_FLOW_SKIPPED; /* a dependency of its failed (its final word comes at the end) */
            fprintf(fp, ", \"status\": \"%s\", \"results\": ", state_name(st));
            weft__wf_json_lines(fp, c.results && c.results[u] ? c.results[u] : res[u]);
            fputc('}', fp);
            line_fini(&params);
        }
        fputs("\n]\n", fp);
        if (fflush(fp) != 0 || ferror(fp))
            e = errno ? errno : EIO;
        if (fclose(fp) != 0 && !e)
            e = errno;
    }
    pthread_mutex_unlock(&r->lock);
    if (c.results)
        for (uint32_t i = 0; i < f->ntasks; i++)
            weft__free(c.results[i]);
    weft__free(c.results);
    weft__free(res);
    char common[PATH_MAX + 32];
    snprintf(common, sizeof common, "%s/points.json", r->dir);
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        snprintf(why, whylen, "cannot write '%s': %s", path, strerror(e));
        return WEFT_ETASK;
    }
    /* the run's points.json: a copy (a link would change under a reader) */
    FILE *in = fopen(path, "r"), *out = NULL;
    snprintf(tmp, sizeof tmp, "%s.tmp", common);
    if (in && (out = fopen(tmp, "w")) != NULL) {
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                break;
        bool ok = !ferror(in) && fflush(out) == 0 && !ferror(out);
        ok &= fclose(out) == 0;
        if (!ok || rename(tmp, common) != 0)
            unlink(tmp);
    }
    if (in)
        fclose(in);
    return 0;
}
