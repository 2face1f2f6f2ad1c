/* The `weft` command: subcommands, options, help and exit codes.
 *   weft run FLOW.toml [options]     run a workflow
 *   weft validate FLOW.toml          check it, run nothing
 *   weft graph FLOW.toml             its DAG in Graphviz DOT
 *   weft kernels                     the built-in kernels
 *   weft runs|results|status|log|gc  read the run store (cli/history.c) */
#include "cli/cli.h"
#include "tasks/mpi_link.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "platform/device.h"
#include "weft/error.h"
#include "workloads/kernels/kernels.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

static const char usage_main[] =
    "usage: weft COMMAND [ARGS]\n"
    "\n"
    "Runs task graphs declared in TOML workflow files.\n"
    "\n"
    "commands:\n"
    "  run FLOW.toml       run a workflow (weft run --help for its options)\n"
    "  validate FLOW.toml  check a workflow (schema, sweeps, dependencies, cycles); run nothing\n"
    "  bench ...           time commands, workflows or kernels N times and compare them\n"
    "  graph FLOW.toml     print the task graph in Graphviz DOT (weft graph f.toml | dot -Tsvg)\n"
    "  kernels             list the built-in kernels\n"
    "  runs                list the runs in the run store (.weft/weft.db)\n"
    "  results [RUN]       each task's result values, status and time (--csv, --json)\n"
    "  status [RUN]        a run's progress (from another terminal too)\n"
    "  log TASK [RUN]      a task's output (--err, --attempt N)\n"
    "  gc [--keep N]       drop old runs from the store and their directories\n"
    "\n"
    "  weft --help, weft COMMAND --help, weft --version\n"
    "\n"
    "exit codes: 0 all tasks succeeded, 1 some task failed, 2 bad input,\n"
    "            130 interrupted (SIGINT), 143 terminated (SIGTERM)\n";

static const char usage_run[] =
    "usage: weft run FLOW.toml [options]\n"
    "\n"
    "Runs every task of the workflow, each when its dependencies have succeeded.\n"
    "\n"
    "options:\n"
    "  --threads N        cores to use (0 = all; overrides [workflow] threads)\n"
    "  --dry-run          print each task and what it would run, in order; run nothing\n"
    "                     (with --resume and the like: whether it is cached or why it runs)\n"
    "  --resume [RUN]     run only what is not done with the same definition in the latest\n"
    "                     run of this workflow (or RUN: its name or number, weft runs):\n"
    "                     failed, interrupted, new and changed tasks, and what runs after them\n"
    "  --rerun-failed     as --resume, but only the tasks that did not succeed (and what\n"
    "                     runs after them); a changed task that succeeded is kept\n"
    "  --rerun GLOB       as --resume, and the tasks matching GLOB run whatever they did\n"
    "                     before (repeatable)\n"
    "  --keep-going       after a failure, run everything that does not depend on it (default)\n"
    "  --fail-fast        after a failure, start nothing new\n"
    "  --set NAME=VALUE   replace the sweep list NAME (NAME=V1,V2,... for several values)\n"
    "  --only GLOB        run only the tasks matching GLOB and what they depend on (repeatable)\n"
    "  --shard I/N        run the I-th of N slices of the workflow (a task goes by its sweep\n"
    "                     point, or as its [[task]]'s shard key says); also from WEFT_SHARD,\n"
    "                     or from SLURM_ARRAY_TASK_ID/_COUNT in a Slurm job array\n"
    "  --rank-timeout S   under mpirun (one run over several ranks): a rank silent for S\n"
    "                     seconds is lost, its tasks retried elsewhere (default 10)\n"
    "  --quiet            no line per finished task (failures and the summary still show)\n"
    "  --verbose          a line per finished task on a terminal too (there, by default,\n"
    "                     the live progress line stands for them)\n"
    "  --trace FILE       write a Chrome/Perfetto trace of the run to FILE (streamed as it\n"
    "                     runs: loadable even if weft is killed; completed at the end)\n"
    "  --report FILE      write a self-contained HTML report (timeline, critical path,\n"
    "                     task table, memory) to FILE\n"
    "  --summary          print the trace summary: slowest tasks, critical path,\n"
    "                     per-worker utilisation, regions, bottlenecks, scheduling delay\n"
    "  --bottleneck P     the summary names the task families taking P% or more of the\n"
    "                     run time or of the critical path (default 5; implies --summary)\n"
    "  --trace-malloc     attribute malloc in kernels to their tasks (runs weft again with\n"
    "                     libweft-memtrace.so preloaded); report in the run directory\n"
    "\n"
    "Outputs go to .weft/<name>-<time>/ under the working directory: output.log (what\n"
    "the commands print; weft log TASK shows a task's), tasks.tsv with one line per\n"
    "attempt. Every attempt is also a row of the run store, .weft/weft.db (weft runs,\n"
    "weft results, weft log).\n";

static const char usage_validate[] =
    "usage: weft validate FLOW.toml [--threads N] [--set NAME=VALUE]... [--only GLOB]... [--shard I/N]\n"
    "\n"
    "Checks the workflow as `weft run` would (the file, and each task's cpus\n"
    "and gpus against the run's cores and GPUs on this machine), and prints\n"
    "how many tasks and dependencies it expands to. Exit code 0 when it is\n"
    "valid, 2 when not.\n";

static const char usage_graph[] = "usage: weft graph FLOW.toml [--set NAME=VALUE]... [--only GLOB]... [--shard I/N]\n"
                                  "\n"
                                  "Prints the expanded task graph in Graphviz DOT: an edge a -> b means b runs\n"
                                  "after a. Kernel tasks are ellipses, command tasks boxes.\n";

static const char usage_kernels[] =
    "usage: weft kernels\n\nLists the built-in kernels, their arguments and the devices they run on\n"
    "(a [[task]]'s device = \"cpu\", \"gpu\" or \"auto\"), then how many CUDA GPUs this\n"
    "machine has.\n";

typedef struct args {
    const char *flow;
    weft__flow_opts_t fo;
    cli_run_opts_t ro;
    const char **sets, **only, **rerun;
    const char *shard;   /* --shard i/N */
    double rank_timeout; /* --rank-timeout S (0: WEFT_RANK_TIMEOUT, else 10) */
} args_t;

static int bad_usage(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "weft %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (see weft %s --help)\n", cmd);
    return CLI_BAD_INPUT;
}

/* Options of run / validate / graph. Returns -1 to go on, else an exit code. */
static int parse(const char *cmd, const char *usage, int argc, char **argv, bool run_opts, args_t *a)
{
    weft__flow_opts_init(&a->fo);
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    a->only = calloc((size_t)argc, sizeof *a->only);
    a->rerun = calloc((size_t)argc, sizeof *a->rerun);
    if (!a->sets || !a->only || !a->rerun) {
        fputs("weft: out of memory\n", stderr);
        return CLI_FAILED;
    }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *val = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        }
        if (s[0] != '-' || strcmp(s, "-") == 0) {
            if (a->flow)
                return bad_usage(cmd, "one workflow file at a time ('%s' is a second one)", s);
            a->flow = s;
            continue;
        }
        const char *eq = strchr(s, '=');
        size_t nlen = eq && strncmp(s, "--", 2) == 0 ? (size_t)(eq - s) : strlen(s);
        bool takes = false;
        static const char *const valued[] = {"--threads", "--set",   "--only",       "--trace",       "--report",
                                             "--rerun",   "--shard", "--bottleneck", "--rank-timeout"};
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            takes |= strlen(valued[k]) == nlen && strncmp(s, valued[k], nlen) == 0;
        if (takes) {
            if (eq && nlen < strlen(s))
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return bad_usage(cmd, "%s needs a value", s);
        }
        if (takes && strncmp(s, "--set", nlen) == 0) {
            a->sets[a->fo.nsets++] = val;
        } else if (takes && strncmp(s, "--only", nlen) == 0) {
            a->only[a->fo.nonly++] = val;
        } else if (takes && strncmp(s, "--shard", nlen) == 0) {
            int si, sn;
            if (weft__wf_shard_parse(val, &si, &sn) != 0)
                return bad_usage(cmd, "--shard needs i/N, the i-th of N slices (1 <= i <= N <= 1000000), got '%s'",
                                 val);
            a->shard = val;
        } else if (run_opts && takes && (strncmp(s, "--trace", nlen) == 0 || strncmp(s, "--report", nlen) == 0)) {
            char *dst = s[2] == 't' ? a->ro.trace : a->ro.report;
            const char *opt = s[2] == 't' ? "--trace" : "--report";
            if (!*val)
                return bad_usage(cmd, "%s needs a file name", opt);
            /* absolute: the run changes to the workflow's workdir */
            char cwd[4096];
            if (val[0] != '/' && !getcwd(cwd, sizeof cwd))
                return bad_usage(cmd, "cannot resolve '%s': the current directory is not readable", val);
            int n = val[0] == '/' ? snprintf(dst, 4096, "%s", val) : snprintf(dst, 4096, "%s/%s", cwd, val);
            if (n >= 4096)
                return bad_usage(cmd, "the path '%s' is too long", val);
        } else if (run_opts && takes && strncmp(s, "--rerun", nlen) == 0) {
            if (!*val)
                return bad_usage(cmd, "%s needs a task name or glob", "--rerun");
            a->rerun[a->ro.resume.nrerun++] = val;
            if (a->ro.resume.mode == WEFT_FLOW_FRESH)
                a->ro.resume.mode = WEFT_FLOW_RESUME;
        } else if (run_opts && strncmp(s, "--resume", 8) == 0 && (s[8] == '\0' || s[8] == '=')) {
            if (a->ro.resume.mode == WEFT_FLOW_RERUN_FAILED)
                return bad_usage(cmd, "%s", "--resume and --rerun-failed: one or the other");
            a->ro.resume.mode = WEFT_FLOW_RESUME;
            /* --resume=RUN, or --resume RUN when the next word is not an
             * option or the workflow file */
            if (s[8] == '=')
                a->ro.resume.run = s + 9;
            else if (i + 1 < argc && argv[i + 1][0] != '-' && access(argv[i + 1], F_OK) != 0)
                a->ro.resume.run = argv[++i];
            if (a->ro.resume.run && !*a->ro.resume.run)
                return bad_usage(cmd, "%s", "--resume= needs a run (its name or number: weft runs)");
        } else if (run_opts && strcmp(s, "--rerun-failed") == 0) {
            if (a->ro.resume.mode == WEFT_FLOW_RESUME && !a->ro.resume.nrerun)
                return bad_usage(cmd, "%s", "--resume and --rerun-failed: one or the other");
            a->ro.resume.mode = WEFT_FLOW_RERUN_FAILED;
        } else if (run_opts && strcmp(s, "--summary") == 0) {
            a->ro.summary = true;
        } else if (run_opts && takes && strncmp(s, "--rank-timeout", nlen) == 0) {
            char *end;
            double t = strtod(val, &end);
            if (end == val || *end || !(t >= 0.5 && t <= 86400))
                return bad_usage(cmd, "--rank-timeout needs seconds from 0.5 to 86400, got '%s'", val);
            a->rank_timeout = t;
        } else if (run_opts && takes && strncmp(s, "--bottleneck", nlen) == 0) {
            char *end;
            double pct = strtod(val, &end);
            if (end == val || (*end && strcmp(end, "%") != 0) || !(pct > 0 && pct <= 100))
                return bad_usage(cmd, "--bottleneck needs a percentage above 0 and at most 100 (5 or 5%%), got '%s'",
                                 val);
            a->ro.bottleneck = pct;
            a->ro.summary = true; /* the bottlenecks are part of the summary */
        } else if ((run_opts || strcmp(cmd, "validate") == 0) && takes && strncmp(s, "--threads", nlen) == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            if (!*val || *end || n < 0 || n > 4096)
                return bad_usage(cmd, "--threads needs a number from 0 to 4096, got '%s'", val);
            a->fo.threads = (int)n;
        } else if (run_opts && strcmp(s, "--dry-run") == 0) {
            a->ro.dry_run = true;
        } else if (run_opts && strcmp(s, "--keep-going") == 0) {
            a->fo.keep_going = 1;
        } else if (run_opts && strcmp(s, "--fail-fast") == 0) {
            a->fo.keep_going = 0;
        } else if (run_opts && strcmp(s, "--quiet") == 0) {
            if (a->ro.verbose)
                return bad_usage(cmd, "%s", "--quiet and --verbose: one or the other");
            a->ro.quiet = true;
        } else if (run_opts && strcmp(s, "--verbose") == 0) {
            if (a->ro.quiet)
                return bad_usage(cmd, "%s", "--quiet and --verbose: one or the other");
            a->ro.verbose = true;
        } else if (run_opts && strcmp(s, "--trace-malloc") == 0) {
            a->ro.trace_malloc = true;
        } else {
            return bad_usage(cmd, "unknown option '%s'", s);
        }
    }
    if (!a->flow)
        return bad_usage(cmd, "%s", "which workflow? (weft run FLOW.toml)");
    a->fo.sets = a->sets;
    a->fo.only = a->only;
    a->ro.resume.rerun = a->rerun;
    return -1;
}

/* The slice to take: --shard, else WEFT_SHARD, else a Slurm job array's
 * element (SLURM_ARRAY_TASK_ID among SLURM_ARRAY_TASK_COUNT, counted from
 * SLURM_ARRAY_TASK_MIN by SLURM_ARRAY_TASK_STEP). *count 0: none. -1 to
 * go on, else an exit code (the message said). */
static int shard_wanted(const args_t *a, int *index, int *count)
{
    *index = *count = 0;
    const char *env = getenv("WEFT_SHARD");
    if (a->shard)
        return weft__wf_shard_parse(a->shard, index, count) == 0 ? -1 : CLI_BAD_INPUT;
    if (env && *env) {
        if (weft__wf_shard_parse(env, index, count) == 0)
            return -1;
        fprintf(stderr, "weft: WEFT_SHARD='%s': expected i/N, the i-th of N slices (1 <= i <= N <= 1000000)\n", env);
        return CLI_BAD_INPUT;
    }
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *n = getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !n)
        return -1; /* not an array job */
    const char *min = getenv("SLURM_ARRAY_TASK_MIN"), *step = getenv("SLURM_ARRAY_TASK_STEP");
    char *end1, *end2, *end3 = "", *end4 = "";
    long lid = strtol(id, &end1, 10), ln = strtol(n, &end2, 10);
    long lmin = min ? strtol(min, &end3, 10) : 0, lstep = step ? strtol(step, &end4, 10) : 1;
    if (*end1 || *end2 || *end3 || *end4 || !*id || !*n || lstep < 1 || lid < lmin || (lid - lmin) % lstep != 0 ||
        (lid - lmin) / lstep >= ln || ln > 1000000) {
        fprintf(stderr,
                "weft: cannot tell which slice Slurm array task %s of %s is (SLURM_ARRAY_TASK_MIN=%s, "
                "SLURM_ARRAY_TASK_STEP=%s): give --shard i/N or WEFT_SHARD=i/N, or WEFT_SHARD=1/1 for all of it\n",
                id, n, min ? min : "(unset)", step ? step : "(unset)");
        return CLI_BAD_INPUT;
    }
    *index = (int)((lid - lmin) / lstep + 1);
    *count = (int)ln;
    return -1;
}

/* How many ranks the launcher (mpirun, srun) started, and this one's
 * number, from the environment it gives them; 0 when not one of several. */
static int ranks(int *rank, const char **var)
{
    static const char *const vars[][2] = {
        {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, {"PMI_SIZE", "PMI_RANK"}, {"PMIX_SIZE", "PMIX_RANK"}};
    for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++) {
        const char *n = getenv(vars[k][0]), *r = getenv(vars[k][1]);
        if (n && atoi(n) > 1) {
            *rank = r ? atoi(r) : 0;
            *var = vars[k][0];
            return atoi(n);
        }
    }
    *rank = 0;
    *var = NULL;
    return 0;
}

static int load(args_t *a, weft__flow_t **f)
{
    char err[1024];
    int rc = weft__flow_load(a->flow, &a->fo, f, err, sizeof err);
    int index, count, src;
    if (rc == 0 && (src = shard_wanted(a, &index, &count)) >= 0)
        return src;
    if (rc == 0 && count > 1)
        rc = weft__flow_shard(*f, index, count, err, sizeof err);
    if (rc == 0)
        return -1;
    fprintf(stderr, "weft: %s\n", err);
    return rc == WEFT_ENOMEM ? CLI_FAILED : CLI_BAD_INPUT;
}

static char **main_argv; /* for --trace-malloc's second run */

/* `weft run` as one of several ranks (mpirun, srun): one run over all of
 * them. Rank 0 owns it and prints; the others run what it sends them. */
static int cmd_ranks(args_t *a, int rank, int nranks, const char *rank_var)
{
    /* blocked before MPI starts threads: a signal is read here (signalfd),
     * never the default action in some thread of MPI's */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    double timeout = a->rank_timeout;
    if (timeout <= 0 && getenv("WEFT_RANK_TIMEOUT")) {
        char *end;
        timeout = strtod(getenv("WEFT_RANK_TIMEOUT"), &end);
        if (*end || !(timeout >= 0.5 && timeout <= 86400)) {
            fprintf(stderr, "weft: WEFT_RANK_TIMEOUT needs seconds from 0.5 to 86400, got '%s'\n",
                    getenv("WEFT_RANK_TIMEOUT"));
            return CLI_BAD_INPUT;
        }
    }
    if (timeout <= 0)
        timeout = 10;
    const char *rank_name = strstr(rank_var, "OMPI") ? "OMPI_COMM_WORLD_RANK" : "PMI_RANK";
    char err[1024];
    weft_flow_link_t *l = NULL;
    if (weft__mpilink_open(timeout, &l, err, sizeof err) != 0) {
        /* (every rank says why it stops: each exits non-zero) */
        fprintf(stderr,
                "weft: started as rank %d of %d (%s): %s; without it, give each rank a slice: --shard $((%s+1))/%d\n",
                rank, nranks, rank_var, err, rank_name, nranks);
        return CLI_BAD_INPUT;
    }
    if (l->size != nranks) { /* the launcher's variables and MPI disagree */
        fprintf(stderr,
                "weft: started as rank %d of %d (%s), but MPI sees %d process%s: start weft with the mpirun (or "
                "srun) of the MPI it was built with, or give each rank a slice: --shard $((%s+1))/%d\n",
                rank, nranks, rank_var, l->size, l->size == 1 ? "" : "es", rank_name, nranks);
        weft__mpilink_close(l, true);
        return CLI_BAD_INPUT;
    }
    weft__flow_t *f = NULL;
    int rc;
    if (l->rank > 0) { /* an agent: its load errors are rank 0's to say (the same file) */
        char lerr[1024];
        int lrc = weft__flow_load(a->flow, &a->fo, &f, lerr, sizeof lerr);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC);
        bool finalize = true;
        rc = weft__cluster_agent(l, lrc == 0 ? f : NULL, lerr, sfd, &finalize);
        if (sfd >= 0)
            close(sfd);
        weft__mpilink_close(l, finalize);
        weft__flow_destroy(f);
        return rc;
    }
    rc = load(a, &f);
    if (rc < 0 && a->ro.trace_malloc)
        rc = bad_usage("run", "%s cannot be used over several ranks", "--trace-malloc");
    weft__cluster_t *c = NULL;
    bool go = rc < 0 && !a->ro.dry_run;
    int orc = weft__cluster_open(l, go ? f : NULL, rc < 0 ? CLI_OK : rc, 120, &c, err, sizeof err);
    if (go && orc) {
        fprintf(stderr, "weft: %s\n", err);
        rc = CLI_BAD_INPUT;
    } else if (go) {
        a->ro.cluster = c;
        rc = weft__cli_run(f, &a->ro);
        weft__cluster_close(c, rc);
    } else if (rc < 0) { /* --dry-run: rank 0's to print */
        rc = weft__cli_run(f, &a->ro);
    }
    weft__mpilink_close(l, !c || !weft__cluster_lost(c));
    weft__cluster_destroy(c);
    weft__flow_destroy(f);
    return rc;
}

static int cmd_flow(const char *cmd, int argc, char **argv)
{
    bool is_run = strcmp(cmd, "run") == 0, is_graph = strcmp(cmd, "graph") == 0;
    const char *usage = is_run ? usage_run : is_graph ? usage_graph : usage_validate;
    args_t a = {0};
    weft__flow_t *f = NULL;
    int rc = parse(cmd, usage, argc, argv, is_run, &a);
    if (rc < 0 && a.ro.trace_malloc && !a.ro.dry_run && (rc = weft__cli_memtrace_exec(main_argv)) == 0)
        rc = -1; /* running under the tracer */
    int rank = 0, nranks = 0;
    const char *rank_var = NULL;
    if (rc < 0 && is_run && !a.shard && !getenv("WEFT_SHARD") && (nranks = ranks(&rank, &rank_var)) > 1) {
        rc = cmd_ranks(&a, rank, nranks, rank_var);
        free(a.sets);
        free(a.only);
        free(a.rerun);
        return rc;
    }
    if (rc < 0)
        rc = load(&a, &f);
    if (rc < 0) {
        if (is_run) {
            rc = weft__cli_run(f, &a.ro);
        } else if (is_graph) {
            weft__flow_write_dot(f, stdout);
            rc = CLI_OK;
        } else { /* validate: also what run checks against this machine */
            char err[1024];
            int crc = weft__flow_check(f, err, sizeof err);
            if (crc) {
                fprintf(stderr, "weft: %s\n", err);
                rc = crc == WEFT_EPARSE ? CLI_BAD_INPUT : CLI_FAILED;
            } else {
                printf("%s: valid: %zu tasks, %zu dependencies\n", a.flow, weft__flow_ntasks(f), weft__flow_nedges(f));
                rc = CLI_OK;
            }
        }
    }
    weft__flow_destroy(f);
    free(a.sets);
    free(a.only);
    free(a.rerun);
    return rc;
}

static int cmd_kernels(int argc, char **argv)
{
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(usage_kernels, stdout);
        return CLI_OK;
    }
    if (argc > 0)
        return bad_usage("kernels", "unexpected argument '%s'", argv[0]);
    for (size_t i = 0; weft__kernel_at(i); i++) {
        const weft__kernel_t *k = weft__kernel_at(i);
        printf("%-10s %s\n%-10s args: %s\n%-10s device: %s\n", k->name, k->summary, "", k->args, "",
               k->gpu ? "cpu or gpu" : "cpu");
    }
    int gpus = weft__device_count();
    printf("GPUs here: %d (%s)\n", gpus, weft__device_backend());
    return CLI_OK;
}

int main(int argc, char **argv)
{
    main_argv = argv;
    weft__cli_memtrace_init();
    if (argc < 2) {
        fputs(usage_main, stderr);
        return CLI_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("weft %s\n", WEFT_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "validate") == 0 || strcmp(cmd, "graph") == 0)
        return cmd_flow(cmd, argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        return weft__cli_bench(argc - 2, argv + 2, "/proc/self/exe");
    if (strcmp(cmd, "kernels") == 0)
        return cmd_kernels(argc - 2, argv + 2);
    int hrc = weft__cli_history(cmd, argc - 2, argv + 2);
    if (hrc >= 0)
        return hrc;
    fprintf(stderr, "weft: unknown command '%s' (see weft --help)\n", cmd);
    return CLI_BAD_INPUT;
}
