/* One slice of a workflow (--shard i/N, WEFT_SHARD, a Slurm job array's
 * element): which of its tasks this run takes.
 *
 * A task goes by its sweep point: the k-th combination of its [[task]]'s
 * sweep values (0-based) is in slice k mod N + 1, so the tasks of one
 * point in [[task]]s over the same sweep stay together and the slices
 * differ in size by one point at most. A [[task]] may say otherwise:
 * shard = "each" (in every slice: a setup step each node needs) or
 * "skip" (in none: a fan-in over all points, run afterwards without
 * --shard). A task whose dependency would run in another slice, or in no
 * slice, cannot run sliced: that is refused, naming both, whichever slice
 * is asked for (every element of an array fails the same way). */
#include "workloads/workflow/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/error.h"

int weft__wf_shard_parse(const char *s, int *index, int *count)
{
    char *end;
    errno = 0;
    long i = strtol(s, &end, 10);
    if (end == s || *end != '/' || errno)
        return WEFT_EINVAL;
    const char *p = end + 1;
    long n = strtol(p, &end, 10);
    if (end == p || *end || errno || n < 1 || n > WEFT__SHARD_MAX || i < 1 || i > n)
        return WEFT_EINVAL;
    *index = (int)i;
    *count = (int)n;
    return 0;
}

/* Where task ti runs: -1 every slice, -2 none, else its slice (0-based). */
static long place(const weft__flow_t *f, uint32_t ti, int count)
{
    const wf_task_t *t = &f->tasks[ti];
    if (t->tmpl->shard == WF_SHARD_EACH)
        return -1;
    if (t->tmpl->shard == WF_SHARD_SKIP)
        return -2;
    return (long)(t->combo % (uint32_t)count);
}

static const char *where(long at, int count, char *buf, size_t cap)
{
    if (at == -1)
        snprintf(buf, cap, "every shard (shard = \"each\")");
    else if (at == -2)
        snprintf(buf, cap, "no shard (shard = \"skip\")");
    else
        snprintf(buf, cap, "shard %ld of %d", at + 1, count);
    return buf;
}

int weft__flow_shard(weft__flow_t *f, int index, int count, char *err, size_t errlen)
{
    if (count < 0 || count > WEFT__SHARD_MAX || (count > 0 && (index < 1 || index > count))) {
        snprintf(err, errlen, "shard %d of %d: expected 1 <= i <= N <= %d", index, count, WEFT__SHARD_MAX);
        return WEFT_EINVAL;
    }
    if (!f->sel && count > 0) { /* what --only kept, before any slice */
        f->sel = weft__malloc(f->ntasks ? f->ntasks : 1);
        if (!f->sel) {
            snprintf(err, errlen, "out of memory");
            return WEFT_ENOMEM;
        }
        for (uint32_t i = 0; i < f->ntasks; i++)
            f->sel[i] = f->tasks[i].keep != 0;
    }
    char *saved_err = f->err;
    size_t saved_len = f->errlen;
    f->err = err;
    f->errlen = errlen;
    int rc = 0;
    /* every dependency of a task that runs in a slice runs in that slice
     * too (checked for all tasks, whichever slice is asked for) */
    for (uint32_t i = 0; i < f->ntasks && !rc && count > 0; i++) {
        if (!f->sel[i])
            continue;
        long at = place(f, i, count);
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1] && at != -2 && !rc; e++) {
            uint32_t d = f->deps[e];
            long dat = place(f, d, count);
            if (dat == at || dat == -1)
                continue; /* the same slice, or one that runs everywhere */
            char a[64], b[64];
            const wf_tmpl_t *tm = f->tasks[i].tmpl;
            rc = weft__wf_error(f, AT(tm->after), f->tasks[i].name, "after",
                                "runs after '%s', which runs in %s while this task runs in %s: a sharded run "
                                "cannot satisfy that; keep them in one sweep point, or set shard = \"each\" on "
                                "'%s' (it runs in every shard) or shard = \"skip\" on this task (it runs only "
                                "without --shard)",
                                f->tasks[d].name, where(dat, count, a, sizeof a), where(at, count, b, sizeof b),
                                f->tasks[d].name);
        }
    }
    f->err = saved_err;
    f->errlen = saved_len;
    if (rc)
        return rc;
    char *text = NULL;
    if (count > 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d/%d", index, count);
        if (!(text = weft__strdup(buf))) {
            snprintf(err, errlen, "out of memory");
            return WEFT_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < f->ntasks && f->sel; i++) {
        long at = count > 0 ? place(f, i, count) : -1;
        f->tasks[i].keep = f->sel[i] && (at == -1 || at == index - 1);
    }
    weft__free(f->shard);
    f->shard = text;
    if (count == 0) { /* the whole workflow again */
        weft__free(f->sel);
        f->sel = NULL;
    }
    return 0;
}

const char *weft__flow_shard_text(const weft__flow_t *f)
{
    return f->shard;
}
