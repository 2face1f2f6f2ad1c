/* The run store (store.h): SQLite in WAL mode, one database per workflow
 * directory. Schema version 2:
 *   runs(id, flow, name, file, dir, parent, start, end, status, pid,
 *        ntasks, ndone, nfailed, ncached, first_attempt, last_attempt,
 *        shard, host)
 * (version 1 had no runs.shard and runs.host; a version-1 store gets them
 * when opened)
 *   attempts(id, run, task, params, attempt, status, exit, signal, start,
 *            end, wall, user, sys, maxrss_kb, cpus, gpus, stdout, stderr,
 *            results, reason, hash, parts, out_off, out_len, err_off,
 *            err_len)
 * A run's attempts lie between its first_attempt and last_attempt ids
 * (kept in the same transaction as each group of rows): they are read by
 * that range of the table's own key, so no index is kept up to date on
 * every insert. */
#include "workloads/workflow/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "base/base.h"
#include "weft/error.h"

struct weft__wf_store {
    sqlite3 *db;
    sqlite3_stmt *ins[2], *ins_batch[2]; /* one row; WEFT__STORE_BATCH rows; [1]: the lean columns only */
    sqlite3_stmt *range;                 /* a run's range of rows grows to a group's */
    int64_t grun, glo, ghi;              /* the group's run and the ids of its rows (0: none yet) */
    /* the checkpointer: a thread with its own connection that copies the
     * WAL into the database (and waits for the disk) while this one goes
     * on committing; started when the WAL first grows past CKPT_FRAMES */
    pthread_t ckpt;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    bool ckpt_started, ckpt_failed, ckpt_want, ckpt_stop;
    char path[PATH_MAX];
    char err[PATH_MAX + 512];
    /* strings of the last find_run */
    char *flow, *name, *file, *dir, *status, *shard, *host;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, flow TEXT NOT NULL, name TEXT NOT NULL, file TEXT,"
    " dir TEXT, parent INTEGER, start REAL, end REAL, status TEXT, pid INTEGER, ntasks INTEGER, ndone INTEGER,"
    " nfailed INTEGER, ncached INTEGER, first_attempt INTEGER, last_attempt INTEGER, shard TEXT, host TEXT);"
    "CREATE TABLE IF NOT EXISTS attempts(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, task TEXT NOT NULL,"
    " params TEXT, attempt INTEGER, status TEXT, exit INTEGER, signal INTEGER, start REAL, end REAL, wall REAL,"
    " user REAL, sys REAL, maxrss_kb INTEGER, cpus TEXT, gpus TEXT, stdout TEXT, stderr TEXT, results TEXT,"
    " reason TEXT, hash INTEGER, parts BLOB, out_off INTEGER, out_len INTEGER, err_off INTEGER, err_len INTEGER,"
    " node TEXT);"
    "PRAGMA user_version = 3;";

/* From version 1: a run's shard ("2/4"; NULL: the whole workflow) and
 * the machine it ran on. */
static const char upgrade_1[] = "ALTER TABLE runs ADD COLUMN shard TEXT; ALTER TABLE runs ADD COLUMN host TEXT;"
                                "ALTER TABLE attempts ADD COLUMN node TEXT; PRAGMA user_version = 3;";
/* From version 2: the rank that ran an attempt of a run over several
 * ranks ("rank2@host"; NULL: the run's own machine). */
static const char upgrade_2[] = "ALTER TABLE attempts ADD COLUMN node TEXT; PRAGMA user_version = 3;";

/* The schema's version (PRAGMA user_version): 0 in a new database. */
static int version_of(sqlite3 *db, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Why a write that SQLite calls an I/O error without a system error
 * (a write cut short: the file reached its limit or the disk filled
 * during it) failed, into buf; "" when neither is so. */
static void short_write_cause(const weft__wf_store_t *s, char *buf, size_t len)
{
    buf[0] = '\0';
    struct rlimit rl;
    struct statvfs fs;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", s->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(buf, len, " (a write was cut short: the file size limit, ulimit -f, is %llu KiB)",
                 (unsigned long long)rl.rlim_cur / 1024);
    else if (statvfs(dir, &fs) == 0 && (unsigned long long)fs.f_bavail * fs.f_frsize < (16ull << 20))
        snprintf(buf, len, " (a write was cut short: %llu KiB free on its file system)",
                 (unsigned long long)fs.f_bavail * fs.f_frsize / 1024);
}

static int fail(weft__wf_store_t *s, const char *what)
{
    int e = s->db ? sqlite3_system_errno(s->db) : 0;
    int code = s->db ? sqlite3_errcode(s->db) & 0xff : 0;
    char cause[160] = "";
    if (e)
        snprintf(cause, sizeof cause, " (%s)", strerror(e));
    else if (code == SQLITE_IOERR || code == SQLITE_FULL)
        short_write_cause(s, cause, sizeof cause);
    snprintf(s->err, sizeof s->err, "%s '%s': %s%s", what, s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory",
             cause);
    return WEFT_ESYS;
}

const char *weft__wf_store_error(const weft__wf_store_t *s)
{
    return s->err;
}

const char *weft__wf_store_path(const weft__wf_store_t *s)
{
    return s->path;
}

/* The columns an insert binds: the first ATT_LEAN are in every row; the
 * rest (a signal, GPUs, output, results, a reason) are NULL in most, and
 * a group of rows without any is inserted binding only the first
 * (binding a column costs about as much as storing it). */
#define ATT_NCOLS 26
#define ATT_LEAN 15
static const char att_cols[] = "run,task,params,attempt,status,exit,start,end,wall,user,sys,maxrss_kb,cpus,hash,parts,"
                               "signal,gpus,stdout,stderr,results,reason,out_off,out_len,err_off,err_len,node";

/* INSERT INTO attempts(the first ncols columns) VALUES of `rows` rows. */
static int prepare_insert(weft__wf_store_t *s, int ncols, int rows, sqlite3_stmt **st)
{
    size_t cap = sizeof att_cols + 64 + (size_t)rows * (2 * (size_t)ncols + 3);
    char *q = weft__malloc(cap);
    if (!q)
        return SQLITE_NOMEM;
    const char *end = att_cols;
    for (int c = 0; c < ncols; c++)
        end = strchr(end, ',') ? strchr(end, ',') + 1 : end + strlen(end) + 1;
    size_t n = (size_t)snprintf(q, cap, "INSERT INTO attempts(%.*s) VALUES", (int)(end - att_cols - 1), att_cols);
    for (int r = 0; r < rows; r++) {
        q[n++] = r ? ',' : ' ';
        q[n++] = '(';
        for (int c = 0; c < ncols; c++) {
            q[n++] = '?';
            q[n++] = c + 1 < ncols ? ',' : ')';
        }
    }
    q[n] = '\0';
    int rc = sqlite3_prepare_v3(s->db, q, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    weft__free(q);
    return rc;
}

/* The INSERT statements, of one row and of WEFT__STORE_BATCH rows (fewer
 * statements run: a group of rows costs about half as much), each with
 * every column and with the lean ones only. */
static int prepare_inserts(weft__wf_store_t *s)
{
    int rc = SQLITE_OK;
    for (int lean = 0; lean < 2 && rc == SQLITE_OK; lean++) {
        int ncols = lean ? ATT_LEAN : ATT_NCOLS;
        rc = prepare_insert(s, ncols, 1, &s->ins[lean]);
        if (rc == SQLITE_OK)
            rc = prepare_insert(s, ncols, WEFT__STORE_BATCH, &s->ins_batch[lean]);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(s->db,
                                "UPDATE runs SET first_attempt=coalesce(first_attempt,?1), last_attempt=?2 WHERE id=?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &s->range, NULL);
    return rc;
}

#define CKPT_FRAMES 1000      /* a checkpoint is asked for past this many WAL frames (SQLite's own default) */
#define CKPT_MAX_FRAMES 65536 /* past this the committer checkpoints itself (the checkpointer is behind) */

static void *checkpointer(void *arg)
{
    weft__wf_store_t *s = arg;
    sqlite3 *db = NULL;
    /* (a connection sees the WAL once it has read the database) */
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close_v2(db); /* the committer's next commits checkpoint themselves */
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_failed = true;
        pthread_mutex_unlock(&s->ckpt_lock);
        return NULL;
    }
    pthread_mutex_lock(&s->ckpt_lock);
    for (;;) {
        while (!s->ckpt_want && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cond, &s->ckpt_lock);
        if (s->ckpt_stop)
            break;
        s->ckpt_want = false;
        pthread_mutex_unlock(&s->ckpt_lock);
        /* PASSIVE: copies what is committed, never waits on a lock; what
         * it cannot do now the next one does */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ckpt_lock);
    }
    pthread_mutex_unlock(&s->ckpt_lock);
    sqlite3_close_v2(db);
    return NULL;
}

/* After each commit (SQLite's WAL hook, in the committing thread): past
 * CKPT_FRAMES the checkpointer is woken (started the first time); when it
 * cannot be had, or the WAL has grown past CKPT_MAX_FRAMES, the
 * committer checkpoints itself, as SQLite's automatic checkpoint does. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int nframes)
{
    weft__wf_store_t *s = ud;
    if (nframes < CKPT_FRAMES)
        return SQLITE_OK;
    pthread_mutex_lock(&s->ckpt_lock);
    if (!s->ckpt_started && !s->ckpt_failed) {
        s->ckpt_started = pthread_create(&s->ckpt, NULL, checkpointer, s) == 0;
        s->ckpt_failed = !s->ckpt_started;
    }
    bool self = s->ckpt_failed || nframes >= CKPT_MAX_FRAMES;
    s->ckpt_want = !self;
    pthread_cond_signal(&s->ckpt_cond);
    pthread_mutex_unlock(&s->ckpt_lock);
    if (self)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* The statements and the connection, closed (a try that failed). */
static void close_db(weft__wf_store_t *s)
{
    for (int set = 0; set < 2; set++) {
        sqlite3_finalize(s->ins[set]);
        sqlite3_finalize(s->ins_batch[set]);
        s->ins[set] = s->ins_batch[set] = NULL;
    }
    sqlite3_finalize(s->range);
    s->range = NULL;
    sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* One try at opening the store (made or upgraded when needed): an SQLite
 * code (its message kept in s->err, taken before a rollback can replace
 * it); *version: the schema it found. */
static int open_db(weft__wf_store_t *s, bool create, const char *what, int *version)
{
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_wal_hook(s->db, wal_hook, s); /* (in place of SQLite's automatic checkpoints) */
        sqlite3_busy_timeout(s->db, 60000);   /* another run committing */
        sqlite3_extended_result_codes(s->db, 1);
        /* WAL: readers do not block the writer; NORMAL: a commit is not
         * fsynced (the WAL is, at checkpoints): a crash of weft loses
         * nothing committed. A new store: 16 KiB pages, a quarter of the
         * page writes and WAL frames of 4 KiB ones for the same rows. */
        rc = sqlite3_exec(s->db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL,
                          NULL, NULL);
    }
    *version = 0;
    if (rc == SQLITE_OK)
        rc = version_of(s->db, version);
    /* a new store, or one of schema 1 (several weft runs may race to
     * make or upgrade it: the version is read again under the lock) */
    if (rc == SQLITE_OK && *version < 3)
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && *version < 3 && (rc = version_of(s->db, version)) == SQLITE_OK && *version < 3)
        rc = sqlite3_exec(s->db, *version == 0 ? schema : *version == 1 ? upgrade_1 : upgrade_2, NULL, NULL, NULL);
    if (s->db && !sqlite3_get_autocommit(s->db)) {
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            fail(s, what); /* the failure's own message, not the rollback's */
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    if (rc == SQLITE_OK && *version <= 3)
        rc = prepare_inserts(s);
    if (rc != SQLITE_OK)
        fail(s, what);
    return rc;
}

int weft__wf_store_open(const char *dir, bool create, weft__wf_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    weft__wf_store_t *s = weft__calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/.weft", dir);
    if (snprintf(s->path, sizeof s->path, "%s/weft.db", base) >= (int)sizeof s->path) {
        snprintf(err, errlen, "the path of the run store under '%s' is too long", dir);
        weft__free(s);
        return WEFT_ESYS;
    }
    struct stat st;
    if (!create && stat(s->path, &st) != 0) {
        snprintf(err, errlen, "no run store here: '%s' does not exist (weft run writes it)", s->path);
        weft__free(s);
        return WEFT_ENOENT;
    }
    if (create && mkdir(base, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", base, strerror(errno));
        weft__free(s);
        return WEFT_ESYS;
    }
    pthread_mutex_init(&s->ckpt_lock, NULL);
    pthread_cond_init(&s->ckpt_cond, NULL);
    /* Several weft runs starting at once on a new store (a job array's
     * elements, the ranks of an mpirun) contend for it in ways SQLite
     * answers with "locked" at once instead of waiting (switching a new
     * database to WAL): the whole opening is tried again, for up to the
     * busy timeout. */
    const char *what = create ? "cannot create the run store" : "cannot open the run store";
    int version = 0, rc;
    uint64_t give_up = weft__clock_ns() + 60000000000ull; /* a minute, as the busy timeout */
    for (int tries = 0;; tries++) {
        rc = open_db(s, create, what, &version);
        int code = rc & 0xff;
        if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || weft__clock_ns() >= give_up)
            break;
        close_db(s);
        struct timespec ts = {0, (long)(5 + tries % 45) * 1000000L}; /* 5..49 ms, staggered */
        nanosleep(&ts, NULL);
    }
    if (rc == SQLITE_OK && version > 3) {
        snprintf(err, errlen, "the run store '%s' was made by a newer weft (schema %d; this one reads 1 to 3)", s->path,
                 version);
        weft__wf_store_close(s);
        return WEFT_ESYS;
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", s->err);
        weft__wf_store_close(s);
        return WEFT_ESYS;
    }
    *out = s;
    return 0;
}

void weft__wf_store_close(weft__wf_store_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->ckpt_lock);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cond);
    pthread_mutex_unlock(&s->ckpt_lock);
    if (s->ckpt_started)
        pthread_join(s->ckpt, NULL);
    pthread_mutex_destroy(&s->ckpt_lock);
    pthread_cond_destroy(&s->ckpt_cond);
    close_db(s);
    weft__free(s->flow);
    weft__free(s->name);
    weft__free(s->file);
    weft__free(s->dir);
    weft__free(s->status);
    weft__free(s->shard);
    weft__free(s->host);
    weft__free(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* One statement run to its end: 0 or WEFT_ESYS (the message kept). */
static int exec_stmt(weft__wf_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    int r = rc == SQLITE_DONE ? 0 : fail(s, what);
    sqlite3_reset(st);
    return r;
}

int weft__wf_store_run_begin(weft__wf_store_t *s, const weft__wf_run_row_t *row, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO runs(flow,name,file,dir,parent,start,status,pid,ntasks,shard,host) "
                           "VALUES(?,?,?,?,?,?,'running',?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot write the run store");
    bind_text(st, 1, row->flow);
    bind_text(st, 2, row->name);
    bind_text(st, 3, row->file);
    bind_text(st, 4, row->dir);
    if (row->parent)
        sqlite3_bind_int64(st, 5, row->parent);
    sqlite3_bind_double(st, 6, row->start);
    sqlite3_bind_int64(st, 7, row->pid);
    sqlite3_bind_int64(st, 8, row->ntasks);
    bind_text(st, 9, row->shard);
    bind_text(st, 10, row->host);
    int rc = exec_stmt(s, st, "cannot write the run store");
    *id = rc ? 0 : sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return rc;
}

int weft__wf_store_run_end(weft__wf_store_t *s, const weft__wf_run_row_t *row)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE runs SET end=?, status=?, ndone=?, nfailed=?, ncached=? WHERE id=?", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "cannot write the run store");
    sqlite3_bind_double(st, 1, row->end);
    bind_text(st, 2, row->status);
    sqlite3_bind_int64(st, 3, row->ndone);
    sqlite3_bind_int64(st, 4, row->nfailed);
    sqlite3_bind_int64(st, 5, row->ncached);
    sqlite3_bind_int64(st, 6, row->id);
    int rc = exec_stmt(s, st, "cannot write the run store");
    sqlite3_finalize(st);
    return rc;
}

int weft__wf_store_begin(weft__wf_store_t *s)
{
    s->grun = s->glo = s->ghi = 0;
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : fail(s, "cannot write the run store");
}

static void bind_opt_int(sqlite3_stmt *st, int i, bool set, int64_t v)
{
    if (set)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    bind_text(st, i, s && s[0] ? s : NULL);
}

/* Whether row a has nothing but NULL past the lean columns. */
static bool row_lean(const weft__wf_attempt_row_t *a)
{
    return a->signal <= 0 && !(a->gpus && a->gpus[0]) && !(a->out && a->out[0]) && !(a->err && a->err[0]) &&
           !(a->results && a->results[0]) && !(a->reason && a->reason[0]) && !a->out_len && !a->err_len &&
           !(a->node && a->node[0]);
}

/* Binds row a's first ncols columns (att_cols) to parameters
 * i0 + 1 .. i0 + ncols of st. */
static void bind_row(sqlite3_stmt *st, int i0, int ncols, const weft__wf_attempt_row_t *a)
{
    sqlite3_bind_int64(st, i0 + 1, a->run);
    bind_text(st, i0 + 2, a->task);
    bind_opt_text(st, i0 + 3, a->params);
    sqlite3_bind_int(st, i0 + 4, a->attempt);
    bind_text(st, i0 + 5, a->status);
    bind_opt_int(st, i0 + 6, a->exit_code >= 0, a->exit_code);
    if (a->attempt > 0) {
        sqlite3_bind_double(st, i0 + 7, a->start);
        sqlite3_bind_double(st, i0 + 8, a->end);
        sqlite3_bind_double(st, i0 + 9, a->wall);
    } else {
        sqlite3_bind_null(st, i0 + 7);
        sqlite3_bind_null(st, i0 + 8);
        sqlite3_bind_null(st, i0 + 9);
    }
    if (a->user >= 0) {
        sqlite3_bind_double(st, i0 + 10, a->user);
        sqlite3_bind_double(st, i0 + 11, a->sys);
    } else {
        sqlite3_bind_null(st, i0 + 10);
        sqlite3_bind_null(st, i0 + 11);
    }
    bind_opt_int(st, i0 + 12, a->maxrss_kb >= 0, a->maxrss_kb);
    bind_opt_text(st, i0 + 13, a->cpus);
    sqlite3_bind_int64(st, i0 + 14, (sqlite3_int64)a->hash);
    if (a->parts && a->parts_len)
        sqlite3_bind_blob(st, i0 + 15, a->parts, (int)a->parts_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i0 + 15);
    if (ncols == ATT_LEAN)
        return;
    bind_opt_int(st, i0 + 16, a->signal > 0, a->signal);
    bind_opt_text(st, i0 + 17, a->gpus);
    bind_opt_text(st, i0 + 18, a->out);
    bind_opt_text(st, i0 + 19, a->err);
    bind_opt_text(st, i0 + 20, a->results);
    bind_opt_text(st, i0 + 21, a->reason);
    bind_opt_int(st, i0 + 22, a->out_len != 0, (int64_t)a->out_off);
    bind_opt_int(st, i0 + 23, a->out_len != 0, (int64_t)a->out_len);
    bind_opt_int(st, i0 + 24, a->err_len != 0, (int64_t)a->err_off);
    bind_opt_int(st, i0 + 25, a->err_len != 0, (int64_t)a->err_len);
    bind_opt_text(st, i0 + 26, a->node);
}

int weft__wf_store_add(weft__wf_store_t *s, const weft__wf_attempt_row_t *rows, size_t n)
{
    /* rows go in in their order; n of them without the rare columns
     * bind the lean ones only */
    bool lean = true;
    for (size_t k = 0; k < n && lean; k++)
        lean = row_lean(&rows[k]);
    int ncols = lean ? ATT_LEAN : ATT_NCOLS;
    size_t k = 0;
    int rc = 0;
    for (; k + WEFT__STORE_BATCH <= n && !rc; k += WEFT__STORE_BATCH) {
        for (int i = 0; i < WEFT__STORE_BATCH; i++)
            bind_row(s->ins_batch[lean], i * ncols, ncols, &rows[k + (size_t)i]);
        rc = exec_stmt(s, s->ins_batch[lean], "cannot write the run store"); /* every column is bound again next time */
    }
    for (; k < n && !rc; k++) {
        bind_row(s->ins[lean], 0, ncols, &rows[k]);
        rc = exec_stmt(s, s->ins[lean], "cannot write the run store");
    }
    if (!rc && n) { /* the transaction holds the write lock: its ids are consecutive */
        int64_t last = sqlite3_last_insert_rowid(s->db);
        if (!s->glo)
            s->glo = last - (int64_t)n + 1;
        s->ghi = last;
        s->grun = rows[0].run;
    }
    return rc;
}

int weft__wf_store_commit(weft__wf_store_t *s)
{
    if (s->glo) { /* the run's range of rows grows to cover the group's */
        sqlite3_bind_int64(s->range, 1, s->glo);
        sqlite3_bind_int64(s->range, 2, s->ghi);
        sqlite3_bind_int64(s->range, 3, s->grun);
        if (exec_stmt(s, s->range, "cannot write the run store") != 0) {
            weft__wf_store_rollback(s);
            return WEFT_ESYS;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    fail(s, "cannot write the run store");
    weft__wf_store_rollback(s);
    return WEFT_ESYS;
}

void weft__wf_store_rollback(weft__wf_store_t *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

#define RUN_COLS "id,flow,name,file,dir,parent,start,end,status,pid,ntasks,ndone,nfailed,ncached,shard,host"

static void run_from(sqlite3_stmt *st, weft__wf_run_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    row->flow = col_text(st, 1);
    row->name = col_text(st, 2);
    row->file = col_text(st, 3);
    row->dir = col_text(st, 4);
    row->parent = sqlite3_column_int64(st, 5);
    row->start = sqlite3_column_double(st, 6);
    row->end = sqlite3_column_double(st, 7);
    row->status = col_text(st, 8);
    row->pid = (long)sqlite3_column_int64(st, 9);
    row->ntasks = sqlite3_column_int64(st, 10);
    row->ndone = sqlite3_column_int64(st, 11);
    row->nfailed = sqlite3_column_int64(st, 12);
    row->ncached = sqlite3_column_int64(st, 13);
    row->shard = col_text(st, 14);
    row->host = col_text(st, 15);
}

static char *keep_str(char **slot, const char *s)
{
    weft__free(*slot);
    *slot = s ? weft__strdup(s) : NULL;
    return *slot;
}

int weft__wf_store_find_run(weft__wf_store_t *s, const char *run, const char *flow, const char *shard,
                            weft__wf_run_row_t *row)
{
    sqlite3_stmt *st = NULL;
    char *end = NULL;
    long long id = run ? strtoll(run, &end, 10) : 0;
    bool by_id = run && *run && end && !*end && id > 0;
    const char *q;
    if (by_id)
        q = "SELECT " RUN_COLS " FROM runs WHERE id=?1";
    else if (run && *run && strcmp(run, "latest") != 0)
        q = "SELECT " RUN_COLS " FROM runs WHERE name=?2 ORDER BY id DESC LIMIT 1";
    else
        q = "SELECT " RUN_COLS " FROM runs WHERE (?3 IS NULL OR flow=?3) AND (?4 IS NULL OR coalesce(shard,'')=?4) "
            "AND coalesce(status,'') <> 'not started' ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot read the run store");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, run);
    bind_text(st, 3, flow);
    bind_text(st, 4, shard);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        run_from(st, row);
        row->shard = keep_str(&s->shard, row->shard);
        row->host = keep_str(&s->host, row->host);
        row->flow = keep_str(&s->flow, row->flow);
        row->name = keep_str(&s->name, row->name);
        row->file = keep_str(&s->file, row->file);
        row->dir = keep_str(&s->dir, row->dir);
        row->status = keep_str(&s->status, row->status);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? WEFT_ENOENT : fail(s, "cannot read the run store");
    }
    sqlite3_finalize(st);
    return rc;
}

int weft__wf_store_latest_runs(weft__wf_store_t *s, const char *flow, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT max(id) FROM runs WHERE flow=?1 AND coalesce(status,'') <> 'not started' "
                           "GROUP BY coalesce(shard,'') ORDER BY 1 DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot read the run store");
    bind_text(st, 1, flow);
    size_t cap = 0;
    int rc, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !err) {
        if (WEFT__GROW(*ids, cap, *n + 1, 8))
            err = WEFT_ENOMEM;
        else
            (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (!err && rc != SQLITE_DONE)
        err = fail(s, "cannot read the run store");
    sqlite3_finalize(st);
    if (err) {
        weft__free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

int weft__wf_store_runs(weft__wf_store_t *s, int (*fn)(void *ud, const weft__wf_run_row_t *row), void *ud)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT " RUN_COLS " FROM runs ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot read the run store");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        weft__wf_run_row_t row;
        run_from(st, &row);
        if (fn(ud, &row))
            break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, "cannot read the run store");
    sqlite3_finalize(st);
    return rc;
}

/* A run's rows: the range of ids its row in runs gives (?1: the run). */
#define RANGE                                                                                                          \
    "coalesce((SELECT first_attempt FROM runs WHERE id=?1), 0) AND coalesce((SELECT last_attempt FROM runs WHERE "     \
    "id=?1), -1)"

#define ATT_COLS                                                                                                       \
    "run,task,params,attempt,status,exit,signal,start,end,wall,user,sys,maxrss_kb,cpus,gpus,stdout,stderr,results,"    \
    "reason,hash,out_off,out_len,err_off,err_len,node"

static void attempt_from(sqlite3_stmt *st, weft__wf_attempt_row_t *a, bool with_parts)
{
    memset(a, 0, sizeof *a);
    a->run = sqlite3_column_int64(st, 0);
    a->task = col_text(st, 1);
    a->params = col_text(st, 2);
    a->attempt = sqlite3_column_int(st, 3);
    a->status = col_text(st, 4);
    a->exit_code = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 5);
    a->signal = sqlite3_column_int(st, 6);
    a->start = sqlite3_column_double(st, 7);
    a->end = sqlite3_column_double(st, 8);
    a->wall = sqlite3_column_double(st, 9);
    a->user = sqlite3_column_type(st, 10) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 10);
    a->sys = sqlite3_column_double(st, 11);
    a->maxrss_kb = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(st, 12);
    a->cpus = col_text(st, 13);
    a->gpus = col_text(st, 14);
    a->out = col_text(st, 15);
    a->err = col_text(st, 16);
    a->results = col_text(st, 17);
    a->reason = col_text(st, 18);
    a->hash = (uint64_t)sqlite3_column_int64(st, 19);
    a->out_off = (uint64_t)sqlite3_column_int64(st, 20);
    a->out_len = (uint64_t)sqlite3_column_int64(st, 21);
    a->err_off = (uint64_t)sqlite3_column_int64(st, 22);
    a->err_len = (uint64_t)sqlite3_column_int64(st, 23);
    a->node = col_text(st, 24);
    a->parts = with_parts ? sqlite3_column_blob(st, 25) : NULL;
    a->parts_len = with_parts ? (size_t)sqlite3_column_bytes(st, 25) : 0;
}

/* The chain of runs a run sees: it, the run it resumed, ... (ids). */
static int chain_of(weft__wf_store_t *s, int64_t run, int64_t **ids, size_t *n)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT parent FROM runs WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot read the run store");
    int rc = 0;
    while (run > 0 && *n < 100000) {
        for (size_t k = 0; k < *n; k++)
            if ((*ids)[k] == run)
                goto done; /* a loop (a hand-edited store): stop */
        if (WEFT__GROW(*ids, cap, *n + 1, 16)) {
            rc = WEFT_ENOMEM;
            break;
        }
        (*ids)[(*n)++] = run;
        sqlite3_bind_int64(st, 1, run);
        int step = sqlite3_step(st);
        run = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            rc = fail(s, "cannot read the run store");
        sqlite3_reset(st);
    }
done:
    sqlite3_finalize(st);
    return rc;
}

int weft__wf_store_view(weft__wf_store_t *s, int64_t run, bool with_parts,
                        int (*fn)(void *ud, const weft__wf_attempt_row_t *row), void *ud)
{
    int64_t *ids;
    size_t n;
    int rc = chain_of(s, run, &ids, &n);
    sqlite3_stmt *st = NULL;
    /* with_parts: what a plan needs only (the row's run, task, status,
     * end, hash and parts), the other columns left unread */
    if (!rc &&
        sqlite3_prepare_v2(s->db,
                           with_parts ? "SELECT run,task,status,end,hash,parts FROM attempts WHERE id BETWEEN " RANGE
                                        " AND run=?1 ORDER BY id DESC"
                                      : "SELECT " ATT_COLS " FROM attempts WHERE id BETWEEN " RANGE
                                        " AND run=?1 ORDER BY id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        rc = fail(s, "cannot read the run store");
    /* newest first: the caller keeps the first row it sees of each task */
    for (size_t k = 0; k < n && !rc; k++) {
        sqlite3_bind_int64(st, 1, ids[k]);
        int step;
        bool stop = false;
        while (!stop && (step = sqlite3_step(st)) == SQLITE_ROW) {
            weft__wf_attempt_row_t a;
            if (with_parts) {
                memset(&a, 0, sizeof a);
                a.run = sqlite3_column_int64(st, 0);
                a.task = col_text(st, 1);
                a.status = col_text(st, 2);
                a.end = sqlite3_column_double(st, 3);
                a.hash = (uint64_t)sqlite3_column_int64(st, 4);
                a.parts = sqlite3_column_blob(st, 5);
                a.parts_len = (size_t)sqlite3_column_bytes(st, 5);
            } else {
                attempt_from(st, &a, false);
            }
            stop = fn(ud, &a) != 0;
        }
        if (!stop && step != SQLITE_DONE)
            rc = fail(s, "cannot read the run store");
        sqlite3_reset(st);
        if (stop)
            break;
    }
    sqlite3_finalize(st);
    weft__free(ids);
    return rc;
}

int weft__wf_store_task_attempts(weft__wf_store_t *s, int64_t run, const char *task,
                                 int (*fn)(void *ud, const weft__wf_attempt_row_t *row), void *ud)
{
    int64_t *ids;
    size_t n;
    int rc = chain_of(s, run, &ids, &n);
    sqlite3_stmt *st = NULL;
    if (!rc && sqlite3_prepare_v2(s->db,
                                  "SELECT " ATT_COLS " FROM attempts WHERE id BETWEEN " RANGE
                                  " AND run=?1 AND task=?2 ORDER BY id",
                                  -1, &st, NULL) != SQLITE_OK)
        rc = fail(s, "cannot read the run store");
    for (size_t k = 0; k < n && !rc; k++) {
        sqlite3_bind_int64(st, 1, ids[k]);
        bind_text(st, 2, task);
        int step, seen = 0;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            weft__wf_attempt_row_t a;
            attempt_from(st, &a, false);
            seen++;
            if (fn(ud, &a))
                break;
        }
        if (step != SQLITE_DONE && step != SQLITE_ROW)
            rc = fail(s, "cannot read the run store");
        sqlite3_reset(st);
        if (seen)
            break; /* the newest run of the chain that ran it */
    }
    sqlite3_finalize(st);
    weft__free(ids);
    return rc ? rc : 0;
}

int weft__wf_store_gc(weft__wf_store_t *s, int keep, int (*fn)(void *ud, const weft__wf_run_row_t *row), void *ud,
                      int64_t *ndropped)
{
    *ndropped = 0;
    /* kept: the newest `keep` runs of each workflow (of each of its
     * shards), the runs they resume from (transitively), and any run still
     * marked running */
    static const char q[] = "WITH RECURSIVE kept(id) AS ("
                            " SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY flow, coalesce(shard,'')"
                            " ORDER BY id DESC) AS k"
                            "  FROM runs) WHERE k <= ?1"
                            " UNION SELECT id FROM runs WHERE status='running'"
                            " UNION SELECT runs.parent FROM runs JOIN kept ON runs.id = kept.id"
                            "  WHERE runs.parent IS NOT NULL)"
                            "SELECT id FROM runs WHERE id NOT IN (SELECT id FROM kept) ORDER BY id";
    sqlite3_stmt *st = NULL, *get = NULL, *del = NULL, *delrun = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = weft__wf_store_begin(s);
    if (!rc && (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(s->db, "SELECT " RUN_COLS " FROM runs WHERE id=?", -1, &get, NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(s->db, "DELETE FROM attempts WHERE id BETWEEN " RANGE " AND run=?1", -1, &del,
                                   NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(s->db, "DELETE FROM runs WHERE id=?", -1, &delrun, NULL) != SQLITE_OK))
        rc = fail(s, "cannot read the run store");
    if (!rc) {
        sqlite3_bind_int(st, 1, keep);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW && !rc) {
            if (WEFT__GROW(ids, cap, n + 1, 64))
                rc = WEFT_ENOMEM;
            else
                ids[n++] = sqlite3_column_int64(st, 0);
        }
        if (!rc && step != SQLITE_DONE)
            rc = fail(s, "cannot read the run store");
    }
    for (size_t k = 0; k < n && !rc; k++) {
        sqlite3_bind_int64(get, 1, ids[k]);
        if (sqlite3_step(get) == SQLITE_ROW && fn) {
            weft__wf_run_row_t row;
            run_from(get, &row);
            fn(ud, &row);
        }
        sqlite3_reset(get);
        sqlite3_bind_int64(del, 1, ids[k]);
        sqlite3_bind_int64(delrun, 1, ids[k]);
        rc = exec_stmt(s, del, "cannot write the run store");
        if (!rc)
            rc = exec_stmt(s, delrun, "cannot write the run store");
    }
    sqlite3_finalize(st);
    sqlite3_finalize(get);
    sqlite3_finalize(del);
    sqlite3_finalize(delrun);
    weft__free(ids);
    if (!rc)
        rc = weft__wf_store_commit(s);
    else
        weft__wf_store_rollback(s);
    if (!rc)
        *ndropped = (int64_t)n;
    if (!rc && n && sqlite3_exec(s->db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s, "cannot compact the run store");
    return rc;
}

int weft__wf_store_check(weft__wf_store_t *s, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "cannot read the run store");
    size_t n = 0;
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && n + 2 < len)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "; " : "", col_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}
