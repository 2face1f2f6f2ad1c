/* One workflow run over the ranks of an MPI program from C
 * (weft_flow_run_mpi, weft/mpi.h; mpirun -n 3): every rank loads the same
 * file (written by rank 0 into a folder it broadcasts) and calls it; rank 0
 * owns the run — every task done, each run once (a line per task in a file
 * the tasks append to), a kernel's and a command's results back in rank
 * 0's answers — and the others return 0. Then a failing task: rank 0 gets
 * WEFT_ETASK with the task's reason, the others WEFT_ETASK too. Misuse:
 * NULL, MPI_COMM_NULL, a bad timeout. MPI is then the program's again (an
 * MPI_Allreduce after the runs). Not the testlib runner: a process that
 * initialised MPI must not fork. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>
#include <weft.h>
#include <weft/flow.h>
#include <weft/mpi.h>

static int rank, npass, nfail;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            npass++;                                                                                                   \
        } else {                                                                                                       \
            nfail++;                                                                                                   \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", rank, __FILE__, __LINE__, #cond);                    \
        }                                                                                                              \
    } while (0)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static int lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* The result `key` of task `task` in rank 0's answers, or NULL. */
static const char *result_of(weft_flow_t *f, const char *task, const char *key, char *buf, size_t cap)
{
    for (size_t k = 0; k < weft_flow_nresults(f); k++) {
        const char *t, *params, *res;
        weft_flow_result(f, k, &t, &params, &res);
        const char *at = strstr(res, key);
        if (strcmp(t, task) == 0 && at && at[strlen(key)] == '=') {
            snprintf(buf, cap, "%.*s", (int)strcspn(at + strlen(key) + 1, "\n"), at + strlen(key) + 1);
            return buf;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int level = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &level);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[PATH_MAX] = "";
    if (rank == 0 && !mkdtemp(strcpy(dir, "/tmp/weft-mpi-flow-XXXXXX")))
        return 1;
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    char path[PATH_MAX + 32], bad[PATH_MAX + 32], done[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/flow.toml", dir);
    snprintf(bad, sizeof bad, "%s/bad.toml", dir);
    snprintf(done, sizeof done, "%s/done.txt", dir);
    if (rank == 0) {
        write_file(path, "[workflow]\nname = \"over\"\nworkdir = \".\"\n[sweep]\ni = { start = 1, stop = 12 }\n"
                         "[[task]]\nname = \"c-{i}\"\nshell = \"echo {i} >> done.txt; echo sq=$(({i}*{i})) > "
                         "$WEFT_RESULT\"\n"
                         "[[task]]\nname = \"k-{i}\"\nafter = [\"c-{i}\"]\nkernel = \"noop\"\n");
        write_file(
            bad,
            "[workflow]\nname = \"bad\"\nworkdir = \".\"\n[[task]]\nname = \"no\"\nshell = \"echo nope >&2; exit 5\"\n");
    }
    MPI_Barrier(MPI_COMM_WORLD);

    weft_flow_t *f = NULL;
    char err[512];
    CHECK(weft_flow_load(path, NULL, &f, err, sizeof err) == 0);
    /* misuse */
    CHECK(weft_flow_run_mpi(NULL, MPI_COMM_WORLD, 0) == WEFT_EINVAL);
    CHECK(weft_flow_run_mpi(f, MPI_COMM_NULL, 0) == WEFT_EINVAL);
    CHECK(weft_flow_run_mpi(f, MPI_COMM_WORLD, 0.1) == WEFT_EINVAL);
    CHECK(weft_flow_run_over(f, NULL) == WEFT_EINVAL);

    int rc = weft_flow_run_mpi(f, MPI_COMM_WORLD, 5);
    CHECK(rc == 0);
    if (rc)
        fprintf(stderr, "rank %d: %s\n", rank, weft_flow_error(f));
    if (rank == 0) {
        CHECK(weft_flow_ntasks(f) == 24);
        int ndone = 0;
        for (size_t i = 0; i < weft_flow_ntasks(f); i++) {
            const char *name, *reason;
            int state;
            weft_flow_task(f, i, &name, &state, &reason);
            ndone += state == WEFT_FLOW_TASK_DONE;
        }
        CHECK(ndone == 24);
        CHECK(lines(done) == 12); /* each command once */
        char buf[32];
        const char *sq = result_of(f, "c-7", "sq", buf, sizeof buf);
        CHECK(sq && strcmp(sq, "49") == 0);
    }

    /* a failing task: rank 0 says which and why; the others hear it failed */
    weft_flow_t *g = NULL;
    CHECK(weft_flow_load(bad, NULL, &g, err, sizeof err) == 0);
    rc = weft_flow_run_mpi(g, MPI_COMM_WORLD, 0);
    CHECK(rc == WEFT_ETASK);
    if (rank == 0) {
        const char *name, *reason;
        int state;
        CHECK(weft_flow_task(g, 0, &name, &state, &reason) == 0);
        CHECK(state == WEFT_FLOW_TASK_FAILED && strstr(reason, "exited with status 5"));
    }
    weft_flow_destroy(g);
    weft_flow_destroy(f);

    /* MPI is the program's again */
    int one = 1, sum = 0;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum == size);
    int fails = 0;
    MPI_Reduce(&nfail, &fails, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fails++;
        printf("test_mpi_flow: %d checks on rank 0, %d failed over %d ranks\n", npass, fails, size);
    }
    MPI_Finalize();
    return fails ? 1 : 0;
}
