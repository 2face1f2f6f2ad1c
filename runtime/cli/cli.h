/* runtime/cli — the `weft` command: shared by its subcommand files. */
#ifndef WEFT_RUNTIME_CLI_H
#define WEFT_RUNTIME_CLI_H

#include <stdbool.h>

#include "workloads/workflow/workflow.h"

/* Exit codes */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_BAD_INPUT = 2, CLI_SIGINT = 130, CLI_SIGTERM = 143 };

typedef struct cli_run_opts {
    bool dry_run, quiet;
} cli_run_opts_t;

/* `weft run` once the workflow is loaded: runs it, shows progress and
 * the summary; returns the exit code. */
int weft__cli_run(weft__flow_t *f, const cli_run_opts_t *o);

#endif
