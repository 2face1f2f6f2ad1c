/* cli — the `weft` command: shared by its subcommand files. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <stdbool.h>

#include "workloads/workflow/workflow.h"

/* Exit codes */
/* CLI_BAD_INPUT: nothing ran (bad input, or the run could not start);
 * CLI_RECORD: the run's record (tasks.tsv) could not be written whole. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_BAD_INPUT = 2, CLI_RECORD = 3, CLI_SIGINT = 130, CLI_SIGTERM = 143 };

typedef struct cli_run_opts {
    bool dry_run, quiet, verbose, trace_malloc; /* verbose: a line per finished task on a terminal too */
    bool summary;                               /* --summary: the trace's text summary */
    double bottleneck;                          /* --bottleneck P: its bottlenecks' threshold, percent (0: 5) */
    char trace[4096], report[4096];             /* --trace / --report paths made absolute; "" = none */
    weft__flow_resume_t resume;                 /* --resume [RUN], --rerun-failed, --rerun GLOB */
    weft__cluster_t *cluster;                   /* rank 0 of a run over several ranks (NULL: one) */
} cli_run_opts_t;

/* `weft run` once the workflow is loaded: runs it, shows progress and
 * the summary; returns the exit code. */
int weft__cli_run(weft__flow_t *f, const cli_run_opts_t *o);

/* `weft runs|results|status|log|gc ARGS` (cli/history.c): the exit code,
 * or -1 when cmd is none of them. */
int weft__cli_history(const char *cmd, int argc, char **argv);

/* `weft bench ARGS` (cli/bench.c); self runs workflows. */
int weft__cli_bench(int argc, char **argv, const char *self);

/* --trace-malloc (cli/memtrace.c). At start-up: notes whether
 * this process runs under the tracer, and takes it out of the environment
 * its children get. */
void weft__cli_memtrace_init(void);
/* Runs weft again (argv) with the tracer preloaded; returns (an exit code)
 * only when it cannot, or 0 when this process runs under it already. */
int weft__cli_memtrace_exec(char **argv);
/* Under the tracer: its report on stdout (the top 10) and in dir/malloc.txt
 * and dir/malloc.json (everything); 0, or -1 (reported) when it cannot. */
int weft__cli_memtrace_report(const char *dir);

#endif
