/* The run store under load: tens of thousands of rows in groups, some
 * with every column and most with the lean ones only; the WAL grows past
 * the point where the background checkpointer copies it into the
 * database while commits go on; every row reads back as written and in
 * the order written, before and after the store is closed and opened
 * again; SQLite's integrity check passes. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "workloads/workflow/store.h"

#define NGROUPS 300
#define PER_GROUP 100
#define NROWS (NGROUPS * PER_GROUP)

/* Row i as written: every 7th of the groups that are not all lean has a
 * signal, output offsets, results and a reason; the rest only the lean
 * columns, and every third group's only the core ones. */
static bool row_full(int i)
{
    return (i / PER_GROUP) % 3 != 0 && i % 7 == 0;
}

/* Rows of every third group are as a short kernel's: no exit code, CPU
 * times or max RSS (those groups bind the core columns only). */
static bool row_kernel(int i)
{
    return (i / PER_GROUP) % 3 == 0;
}

typedef struct seen {
    int n, bad;
    char why[256];
} seen_t;

static void make_row(int i, int64_t run, char *task, char *params, unsigned char *parts, weft__wf_attempt_row_t *a)
{
    snprintf(task, 32, "t-%d", i);
    /* a long params text: the WAL passes 1000 pages of 16 KiB well
     * before the last group */
    int n = snprintf(params, 700, "i=%d\nlabel=", i);
    for (; n < 600; n++)
        params[n] = (char)('a' + (i + n) % 26);
    params[n] = '\0';
    for (int k = 0; k < 16; k++)
        parts[k] = (unsigned char)(i + k);
    *a = (weft__wf_attempt_row_t){.run = run,
                                  .task = task,
                                  .params = params,
                                  .attempt = 1,
                                  .status = row_full(i) ? "failed" : "ok",
                                  .exit_code = row_full(i) ? -1 : 0,
                                  .start = 1.7e9 + i,
                                  .end = 1.7e9 + i + 0.5,
                                  .wall = 0.5,
                                  .user = 0.25,
                                  .sys = 0.125,
                                  .maxrss_kb = 1000 + i,
                                  .cpus = "0",
                                  .hash = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1),
                                  .parts = parts,
                                  .parts_len = 16};
    if (row_kernel(i)) {
        a->exit_code = -1;
        a->user = -1;
        a->sys = 0;
        a->maxrss_kb = -1;
    }
    if (row_full(i)) {
        a->signal = 9;
        a->gpus = "1";
        a->results = "note=hello world";
        a->reason = "killed by signal 9";
        a->out_off = (uint64_t)i * 10;
        a->out_len = 7;
    }
}

static int check_row(void *ud, const weft__wf_attempt_row_t *got)
{
    seen_t *s = ud;
    char task[32], params[700];
    unsigned char parts[16];
    weft__wf_attempt_row_t w;
    make_row(NROWS - 1 - s->n, got->run, task, params, parts, &w); /* newest first */
    const char *bad = strcmp(got->task, w.task)                      ? "task (order)"
                      : strcmp(got->params, w.params)                ? "params"
                      : strcmp(got->status, w.status)                ? "status"
                      : got->exit_code != w.exit_code                ? "exit"
                      : got->signal != w.signal                      ? "signal"
                      : got->start != w.start || got->wall != w.wall ? "times"
                      : got->user != w.user || got->sys != w.sys     ? "cpu times"
                      : got->maxrss_kb != w.maxrss_kb                ? "maxrss"
                      : strcmp(got->cpus ? got->cpus : "", "0") ? "cpus"
                      : got->hash != w.hash       ? "hash"
                      : got->out_off != w.out_off ? "out_off"
                      : got->out_len != w.out_len ? "out_len"
                      : got->err_len != 0         ? "err_len"
                      : strcmp(got->gpus ? got->gpus : "", w.gpus ? w.gpus : "")             ? "gpus"
                      : strcmp(got->results ? got->results : "", w.results ? w.results : "") ? "results"
                      : strcmp(got->reason ? got->reason : "", w.reason ? w.reason : "")     ? "reason"
                                                                                         : NULL;
    if (bad && !s->bad++)
        snprintf(s->why, sizeof s->why, "row %d (%s): %s differs", NROWS - 1 - s->n, got->task, bad);
    s->n++;
    return 0;
}

static void check_all(weft__wf_store_t *st, int64_t run)
{
    seen_t s = {0};
    CHECK_EQ(weft__wf_store_view(st, run, false, check_row, &s), 0);
    if (s.bad)
        FAIL("%d bad rows; first: %s", s.bad, s.why);
    CHECK_EQ(s.n, NROWS);
    char ok[256];
    CHECK_EQ(weft__wf_store_check(st, ok, sizeof ok), 0);
    if (strcmp(ok, "ok") != 0)
        FAIL("integrity_check: %s", ok);
}

/* The store's files and folders under dir, removed. */
static void remove_store(const char *dir)
{
    static const char *const names[] = {"/.weft/weft.db", "/.weft/weft.db-wal", "/.weft/weft.db-shm", "/.weft", ""};
    char path[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s%s", dir, names[i]);
        if (unlink(path) != 0)
            rmdir(path);
    }
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

TEST(rows_round_trip_while_checkpointed)
{
    char dir[] = "/tmp/weft-store-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512], db[600];
    snprintf(db, sizeof db, "%s/.weft/weft.db", dir);
    weft__wf_store_t *st;
    if (weft__wf_store_open(dir, true, &st, err, sizeof err) != 0)
        FAIL("open: %s", err);
    weft__wf_run_row_t run = {
        .flow = "f", .name = "f-1", .file = "f.toml", .dir = dir, .start = 1.7e9, .ntasks = NROWS};
    int64_t id;
    CHECK_EQ(weft__wf_store_run_begin(st, &run, &id), 0);
    static char task[PER_GROUP][32], params[PER_GROUP][700];
    static unsigned char parts[PER_GROUP][16];
    weft__wf_attempt_row_t rows[PER_GROUP];
    long long db_during = 0;
    for (int g = 0; g < NGROUPS; g++) {
        CHECK_EQ(weft__wf_store_begin(st), 0);
        /* add() takes at most WEFT__STORE_BATCH rows a call, as the journal gives them */
        for (int k = 0; k < PER_GROUP; k += WEFT__STORE_BATCH) {
            int n = PER_GROUP - k < WEFT__STORE_BATCH ? PER_GROUP - k : WEFT__STORE_BATCH;
            for (int j = 0; j < n; j++)
                make_row(g * PER_GROUP + k + j, id, task[k + j], params[k + j], parts[k + j], &rows[k + j]);
            CHECK_EQ(weft__wf_store_add(st, rows + k, (size_t)n), 0);
        }
        CHECK_EQ(weft__wf_store_commit(st), 0);
        long long sz = file_size(db);
        if (sz > db_during)
            db_during = sz;
    }
    /* the database file grows only by checkpoints: the checkpointer
     * copied the WAL into it while the store was open (it is woken past
     * 1000 frames; give it time to answer the last wake-up) */
    for (int i = 0; i < 200 && db_during < (4 << 20); i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        long long sz = file_size(db);
        if (sz > db_during)
            db_during = sz;
    }
    if (db_during < (4 << 20))
        FAIL("the database file is %lld bytes while open: nothing was checkpointed", db_during);
    check_all(st, id);
    weft__wf_store_close(st);
    /* closed: the WAL is gone into the database; opened again, the same */
    CHECK(file_size(db) > (16 << 20));
    if (weft__wf_store_open(dir, false, &st, err, sizeof err) != 0)
        FAIL("reopen: %s", err);
    check_all(st, id);
    weft__wf_store_close(st);
    remove_store(dir);
}

typedef struct order {
    int n, att[8];
    char reason0[64];
} order_t;

static int collect(void *ud, const weft__wf_attempt_row_t *r)
{
    order_t *o = ud;
    if (o->n == 0)
        snprintf(o->reason0, sizeof o->reason0, "%s", r->reason ? r->reason : "(null)");
    if (o->n < 8)
        o->att[o->n] = r->attempt;
    o->n++;
    return 0;
}

TEST(attempts_keep_their_order_across_lean_and_full_groups)
{
    char dir[] = "/tmp/weft-store-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512];
    weft__wf_store_t *st;
    if (weft__wf_store_open(dir, true, &st, err, sizeof err) != 0)
        FAIL("open: %s", err);
    weft__wf_run_row_t run = {.flow = "f", .name = "f-1", .start = 1.7e9, .ntasks = 1};
    int64_t id;
    CHECK_EQ(weft__wf_store_run_begin(st, &run, &id), 0);
    /* attempt 1 fails (a full row), 2 and 3 in one lean call, 4 alone */
    weft__wf_attempt_row_t a[4];
    for (int k = 0; k < 4; k++)
        a[k] = (weft__wf_attempt_row_t){.run = id,
                                        .task = "t",
                                        .attempt = k + 1,
                                        .status = k ? "ok" : "failed",
                                        .exit_code = k ? 0 : 3,
                                        .start = 1.7e9 + k,
                                        .end = 1.7e9 + k,
                                        .user = -1,
                                        .maxrss_kb = -1,
                                        .reason = k ? NULL : "exit code 3"};
    CHECK_EQ(weft__wf_store_begin(st), 0);
    CHECK_EQ(weft__wf_store_add(st, &a[0], 1), 0);
    CHECK_EQ(weft__wf_store_add(st, &a[1], 2), 0);
    CHECK_EQ(weft__wf_store_commit(st), 0);
    CHECK_EQ(weft__wf_store_begin(st), 0);
    CHECK_EQ(weft__wf_store_add(st, &a[3], 1), 0);
    CHECK_EQ(weft__wf_store_commit(st), 0);
    order_t o = {0};
    CHECK_EQ(weft__wf_store_task_attempts(st, id, "t", collect, &o), 0);
    CHECK_EQ(o.n, 4);
    for (int k = 0; k < 4; k++)
        CHECK_EQ(o.att[k], k + 1);
    CHECK_STR(o.reason0, "exit code 3");
    weft__wf_store_close(st);
    remove_store(dir);
}
