/* Workflow files from C (include/weft/flow.h): load and run a sweep with
 * commands and kernels, read back states, reasons and results, options
 * (--set, --only, threads), bad input with its position, a stop from
 * another thread, reruns, and misuse. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <weft.h>
#include <weft/flow.h>

#include "testlib.h"
#include "util.h"

static void in_temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/weft-flowapi-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(chdir(dir), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    CHECK_EQ(fclose(f), 0);
}

static const char sweep[] = "[workflow]\n"
                            "name = \"api\"\n"
                            "threads = 2\n"
                            "[sweep]\n"
                            "n = [16, 32]\n"
                            "[[task]]\n"
                            "name = \"solve-{n}\"\n"
                            "kernel = \"poisson2d\"\n"
                            "args = { n = \"{n}\", tol = 1e-3 }\n"
                            "[[task]]\n"
                            "name = \"check-{n}\"\n"
                            "shell = \"echo n={n} > $WEFT_RESULT\"\n"
                            "after = [\"solve-{n}\"]\n"
                            "[[task]]\n"
                            "name = \"broken\"\n"
                            "shell = \"echo why >&2; exit 4\"\n"
                            "[[task]]\n"
                            "name = \"after-broken\"\n"
                            "shell = \"true\"\n"
                            "after = [\"broken\"]\n";

static atomic_int events;
static void count_event(void *ud, const char *task, int state, int attempt, double wall_s, const char *reason)
{
    (void)task;
    (void)state;
    (void)attempt;
    (void)wall_s;
    (void)reason;
    CHECK(ud == (void *)&events);
    atomic_fetch_add(&events, 1);
}

static size_t index_of(weft_flow_t *f, const char *want)
{
    for (size_t i = 0; i < weft_flow_ntasks(f); i++) {
        const char *name, *reason;
        int st;
        CHECK_EQ(weft_flow_task(f, i, &name, &st, &reason), 0);
        if (strcmp(name, want) == 0)
            return i;
    }
    FAIL("no task %s", want);
}

static int state_of(weft_flow_t *f, const char *want, const char **reason)
{
    const char *name;
    int st;
    CHECK_EQ(weft_flow_task(f, index_of(f, want), &name, &st, reason), 0);
    return st;
}

TEST(load_run_and_read_back)
{
    in_temp_dir();
    write_file("flow.toml", sweep);
    weft_flow_options_t o;
    weft_flow_options_init(&o);
    o.on_event = count_event;
    o.ud = &events;
    weft_flow_t *f;
    char err[512];
    CHECK_EQ(weft_flow_load("flow.toml", &o, &f, err, sizeof err), 0);
    CHECK_STR(weft_flow_name(f), "api");
    CHECK_EQ(weft_flow_ntasks(f), 6u);
    CHECK_STR(weft_flow_run_dir(f), "");
    const char *name, *reason;
    int st;
    CHECK_EQ(weft_flow_task(f, 0, &name, &st, &reason), 0);
    CHECK_STR(name, "solve-16");
    CHECK_EQ(st, WEFT_FLOW_TASK_PENDING);
    for (int rep = 0; rep < 2; rep++) {
        atomic_store(&events, 0);
        CHECK_EQ(weft_flow_run(f), WEFT_ETASK);
        CHECK(strstr(weft_flow_error(f), "some tasks did not finish") != NULL);
        CHECK_EQ(atomic_load(&events), 5); /* every task that ran or was stopped; not the skipped one */
        CHECK_EQ(state_of(f, "solve-32", &reason), WEFT_FLOW_TASK_DONE);
        CHECK_STR(reason, "");
        CHECK_EQ(state_of(f, "check-16", &reason), WEFT_FLOW_TASK_DONE);
        CHECK_EQ(state_of(f, "broken", &reason), WEFT_FLOW_TASK_FAILED);
        CHECK_STR(reason, "exited with status 4");
        CHECK_EQ(state_of(f, "after-broken", &reason), WEFT_FLOW_TASK_SKIPPED);
        /* the record, as weft run writes it */
        char tsv[4200];
        snprintf(tsv, sizeof tsv, "%s/tasks.tsv", weft_flow_run_dir(f));
        struct stat sb;
        CHECK_EQ(stat(tsv, &sb), 0);
        /* its stderr, from the run's output log */
        const char *out;
        size_t outlen;
        size_t bi = index_of(f, "broken");
        CHECK_EQ(weft_flow_task_output(f, bi, WEFT_FLOW_STDERR, &out, &outlen), 0);
        CHECK_STR(out, "why\n");
        CHECK_EQ(outlen, 4u);
        CHECK_EQ(weft_flow_task_output(f, bi, WEFT_FLOW_STDOUT, &out, &outlen), 0);
        CHECK_STR(out, "");
        CHECK_EQ(weft_flow_task_output(f, bi, 3, &out, &outlen), WEFT_EINVAL);
        CHECK_EQ(weft_flow_task_output(f, 1000, WEFT_FLOW_STDOUT, &out, &outlen), WEFT_EINVAL);
        /* results in file order: the kernels', then the commands' */
        CHECK_EQ(weft_flow_nresults(f), 4u);
        const char *task, *params, *results;
        CHECK_EQ(weft_flow_result(f, 0, &task, &params, &results), 0);
        CHECK_STR(task, "solve-16");
        CHECK_STR(params, "n=16");
        CHECK(strstr(results, "iterations=") != NULL);
        CHECK_EQ(weft_flow_result(f, 3, &task, &params, &results), 0);
        CHECK_STR(task, "check-32");
        CHECK_STR(results, "n=32");
        CHECK_EQ(weft_flow_result(f, 4, &task, &params, &results), WEFT_EINVAL);
    }
    /* resumed: only the failed task and what runs after it */
    CHECK_EQ(weft_flow_set_resume(f, WEFT_FLOW_MODE_RESUME, NULL, NULL, 0), 0);
    atomic_store(&events, 0);
    CHECK_EQ(weft_flow_run(f), WEFT_ETASK);
    CHECK_EQ(weft_flow_ncached(f), 4u);
    CHECK_EQ(atomic_load(&events), 1); /* broken, again */
    CHECK_EQ(state_of(f, "solve-32", &reason), WEFT_FLOW_TASK_CACHED);
    CHECK_EQ(state_of(f, "broken", &reason), WEFT_FLOW_TASK_FAILED);
    /* --rerun: forced, with what runs after it */
    const char *glob[] = {"solve-1*"};
    CHECK_EQ(weft_flow_set_resume(f, WEFT_FLOW_MODE_ALL, NULL, glob, 1), 0);
    CHECK_EQ(weft_flow_run(f), WEFT_ETASK);
    CHECK_EQ(state_of(f, "solve-16", &reason), WEFT_FLOW_TASK_DONE);
    CHECK_EQ(state_of(f, "check-16", &reason), WEFT_FLOW_TASK_DONE);
    CHECK_EQ(state_of(f, "solve-32", &reason), WEFT_FLOW_TASK_CACHED);
    /* a run that is not there; misuse */
    CHECK_EQ(weft_flow_set_resume(f, WEFT_FLOW_MODE_RESUME, "no-such-run", NULL, 0), 0);
    CHECK_EQ(weft_flow_run(f), WEFT_ENOENT);
    CHECK(strstr(weft_flow_error(f), "no run 'no-such-run'") != NULL);
    CHECK_EQ(weft_flow_set_resume(f, 7, NULL, NULL, 0), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_resume(f, WEFT_FLOW_MODE_RESUME, NULL, NULL, 2), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_resume(NULL, 0, NULL, NULL, 0), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_resume(f, WEFT_FLOW_MODE_ALL, NULL, NULL, 0), 0);
    CHECK_EQ(weft_flow_run(f), WEFT_ETASK);
    CHECK_EQ(weft_flow_ncached(f), 0u);
    weft_flow_destroy(f);
}

TEST(options_set_and_only)
{
    in_temp_dir();
    write_file("flow.toml", sweep);
    weft_flow_options_t o;
    weft_flow_options_init(&o);
    const char *sets[] = {"n=8,24,40"}, *only[] = {"check-*"};
    o.sets = sets;
    o.nsets = 1;
    o.only = only;
    o.nonly = 1;
    o.threads = 1;
    weft_flow_t *f;
    CHECK_EQ(weft_flow_load("flow.toml", &o, &f, NULL, 0), 0);
    CHECK_EQ(weft_flow_ntasks(f), 8u);
    CHECK_EQ(weft_flow_run(f), 0); /* the broken task was left out */
    const char *reason;
    CHECK_EQ(state_of(f, "check-40", &reason), WEFT_FLOW_TASK_DONE);
    CHECK_EQ(state_of(f, "solve-40", &reason), WEFT_FLOW_TASK_DONE); /* needed by check-40 */
    CHECK_EQ(state_of(f, "broken", &reason), WEFT_FLOW_TASK_NOT_RUN);
    CHECK_STR(weft_flow_error(f), "");
    weft_flow_destroy(f);
}

/* weft_flow_set_shard: a slice by sweep point, the whole workflow again,
 * a dependency across slices refused with its position, misuse. */
TEST(shards)
{
    in_temp_dir();
    static const char pts[] = "[workflow]\nname = \"sh\"\n[sweep]\nn = [1, 2, 3, 4]\n"
                              "[[task]]\nname = \"a-{n}\"\nkernel = \"noop\"\n"
                              "[[task]]\nname = \"b-{n}\"\nkernel = \"noop\"\nafter = [\"a-{n}\"]\n";
    write_file("flow.toml", pts);
    weft_flow_t *f;
    CHECK_EQ(weft_flow_load("flow.toml", NULL, &f, NULL, 0), 0);
    CHECK_EQ(weft_flow_set_shard(NULL, 1, 2), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 0, 2), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 3, 2), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 2, 1), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 1, -1), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 1, 1000001), WEFT_EINVAL);
    CHECK_EQ(weft_flow_set_shard(f, 2, 2), 0);
    CHECK_EQ(weft_flow_run(f), 0);
    const char *reason;
    CHECK_EQ(state_of(f, "a-2", &reason), WEFT_FLOW_TASK_DONE);
    CHECK_EQ(state_of(f, "b-4", &reason), WEFT_FLOW_TASK_DONE);
    CHECK_EQ(state_of(f, "a-1", &reason), WEFT_FLOW_TASK_NOT_RUN);
    CHECK(strstr(weft_flow_run_dir(f), "/.weft/sh-shard2of2-") != NULL);
    CHECK_EQ(weft_flow_set_shard(f, 1, 1), 0); /* the whole workflow again */
    CHECK_EQ(weft_flow_run(f), 0);
    CHECK_EQ(state_of(f, "a-1", &reason), WEFT_FLOW_TASK_DONE);
    weft_flow_destroy(f);

    /* a fan-in over every point cannot run in one slice */
    char text[sizeof pts + 64];
    snprintf(text, sizeof text, "%s[[task]]\nname = \"all\"\nkernel = \"noop\"\nafter = [\"b-*\"]\n", pts);
    write_file("flow.toml", text);
    CHECK_EQ(weft_flow_load("flow.toml", NULL, &f, NULL, 0), 0);
    CHECK_EQ(weft_flow_set_shard(f, 1, 2), WEFT_EPARSE);
    CHECK(strstr(weft_flow_error(f), "flow.toml:15:9: task 'all': key 'after': runs after 'b-2', which runs in "
                                     "shard 2 of 2 while this task runs in shard 1 of 2") != NULL);
    CHECK_EQ(weft_flow_run(f), 0); /* nothing was taken: the whole workflow runs */
    CHECK_EQ(state_of(f, "all", &reason), WEFT_FLOW_TASK_DONE);
    weft_flow_destroy(f);
}

TEST(bad_input_names_its_position)
{
    in_temp_dir();
    write_file("bad.toml", "[[task]]\nname = \"a\"\nshell = \"x\"\ncpus = 0\n");
    weft_flow_t *f = (weft_flow_t *)1;
    char err[512];
    CHECK_EQ(weft_flow_load("bad.toml", NULL, &f, err, sizeof err), WEFT_EPARSE);
    CHECK(f == NULL);
    CHECK_STR(err, "bad.toml:4:8: task 'a': key 'cpus': must be from 1 to 4096, got 0");
    write_file("wide.toml", "[[task]]\nname = \"a\"\nshell = \"x\"\ncpus = 4096\n");
    CHECK_EQ(weft_flow_load("wide.toml", NULL, &f, err, sizeof err), WEFT_EPARSE); /* the machine's check too */
    CHECK(strstr(err, "wide.toml:4:8: task 'a': key 'cpus': needs 4096 cores but the run has ") == err);
    CHECK_EQ(weft_flow_load("missing.toml", NULL, &f, err, sizeof err), WEFT_ENOENT);
    CHECK(strstr(err, "missing.toml") != NULL);
    weft_flow_options_t o;
    weft_flow_options_init(&o);
    const char *sets[] = {"nosuch=1"};
    o.sets = sets;
    o.nsets = 1;
    write_file("flow.toml", sweep);
    CHECK_EQ(weft_flow_load("flow.toml", &o, &f, err, sizeof err), WEFT_EPARSE);
    CHECK_STR(err, "flow.toml: --set nosuch=1: the sweep has no parameter 'nosuch'");
}

static void *stop_soon(void *arg)
{
    weft_flow_t *f = arg;
    usleep(300000);
    CHECK_EQ(weft_flow_stop(f), 0);
    return NULL;
}

TEST(stop_from_another_thread)
{
    in_temp_dir();
    write_file("long.toml", "[workflow]\ngrace = \"1s\"\n"
                            "[[task]]\nname = \"long\"\ncommand = [\"sleep\", \"60\"]\n"
                            "[[task]]\nname = \"klong\"\nkernel = \"sleep\"\nargs = { seconds = 60 }\n"
                            "[[task]]\nname = \"later\"\nshell = \"true\"\nafter = [\"long\"]\n");
    weft_flow_t *f;
    CHECK_EQ(weft_flow_load("long.toml", NULL, &f, NULL, 0), 0);
    CHECK_EQ(weft_flow_stop(f), WEFT_ESTATE); /* not running */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, stop_soon, f), 0);
    double t0 = test_now_s();
    CHECK_EQ(weft_flow_run(f), WEFT_ECANCELED);
    CHECK(test_now_s() - t0 < 20);
    pthread_join(th, NULL);
    const char *reason;
    CHECK_EQ(state_of(f, "long", &reason), WEFT_FLOW_TASK_STOPPED);
    CHECK_EQ(state_of(f, "klong", &reason), WEFT_FLOW_TASK_STOPPED);
    CHECK_STR(reason, "interrupted: stopped before it finished");
    int st = state_of(f, "later", &reason);
    CHECK(st == WEFT_FLOW_TASK_SKIPPED || st == WEFT_FLOW_TASK_NOT_RUN);
    weft_flow_destroy(f);
}

TEST(misuse)
{
    weft_flow_t *f;
    char err[128];
    CHECK_EQ(weft_flow_load(NULL, NULL, &f, err, sizeof err), WEFT_EINVAL);
    CHECK_STR(err, "weft_flow_load: NULL path");
    CHECK_EQ(weft_flow_load("x.toml", NULL, NULL, err, sizeof err), WEFT_EINVAL);
    CHECK_STR(err, "weft_flow_load: NULL out");
    weft_flow_options_t o;
    weft_flow_options_init(&o);
    o.keep_going = 7;
    CHECK_EQ(weft_flow_load("x.toml", &o, &f, err, sizeof err), WEFT_EINVAL);
    CHECK_STR(err, "weft_flow_load: invalid options");
    weft_flow_options_init(&o);
    o.nsets = 1; /* and no sets */
    CHECK_EQ(weft_flow_load("x.toml", &o, &f, err, sizeof err), WEFT_EINVAL);
    weft_flow_options_init(NULL);
    CHECK_EQ(weft_flow_run(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_flow_stop(NULL), WEFT_EINVAL);
    CHECK_STR(weft_flow_error(NULL), "");
    CHECK_STR(weft_flow_name(NULL), "");
    CHECK_EQ(weft_flow_ntasks(NULL), 0u);
    CHECK_STR(weft_flow_run_dir(NULL), "");
    const char *name;
    CHECK_EQ(weft_flow_task(NULL, 0, &name, NULL, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_flow_nresults(NULL), 0u);
    weft_flow_destroy(NULL);
    in_temp_dir();
    write_file("flow.toml", sweep);
    CHECK_EQ(weft_flow_load("flow.toml", NULL, &f, err, sizeof err), 0);
    CHECK_EQ(weft_flow_task(f, 6, &name, NULL, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_flow_task(f, 0, NULL, NULL, NULL), WEFT_EINVAL);
    weft_flow_destroy(f);
}
