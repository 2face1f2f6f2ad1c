/* bench/ranks — one workflow over several MPI ranks against the same run on
 * one: 10,000 `noop` kernels and 2,000 `/bin/true` processes through
 * `weft run` alone, then `mpirun -n K weft run` for each K given (rank 0
 * owns the run; the K-1 others run the tasks).
 *
 * For each: the wall time per task above a 1-task run of the same kind
 * (so that starting mpirun and the ranks, and loading, are not counted),
 * and rank 0's CPU time per task above the 1-task run's (user + sys of the
 * weft process of rank 0, from bash's `times`): what the owning rank
 * spends per remote task, and so how many remote tasks per second it
 * could sustain with every other core busy. The remote overhead is the
 * per-task wall time over K ranks minus the local one.
 *
 * On a 2-core machine every rank shares the same two cores with the
 * tasks and with mpirun: the numbers then say what the protocol costs,
 * not how it scales (run it on a many-core machine for that).
 *
 *   build/bench/ranks [noops] [trues] [rounds] [K...]   (defaults 10000 2000 3 2 4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_flow(const char *path, const char *what, int n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        exit(1);
    fprintf(f, "[workflow]\nname = \"bench\"\n[sweep]\ni = { start = 1, stop = %d }\n[[task]]\nname = \"t-{i}\"\n%s\n",
            n, what);
    fclose(f);
}

/* Runs the flow on `ranks` ranks (1: weft alone); its wall time, and rank
 * 0's CPU seconds into *cpu. */
static double run_flow(const char *flow, int ranks, double *cpu)
{
    char cmd[2048];
    unlink("cpu.txt");
    system("rm -rf .weft");
    /* bash's `times`, second line: the CPU of its children (weft) */
    const char *rank0 = "\"$W\" run \"$F\" --quiet > /dev/null; rc=$?; times > cpu.txt; exit $rc";
    if (ranks == 1)
        snprintf(cmd, sizeof cmd, "W='%s' F='%s' bash -c '%s'", WEFT_EXE, flow, rank0);
    else
        snprintf(cmd, sizeof cmd,
                 "W='%s' F='%s' mpirun --oversubscribe -n %d bash -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then "
                 "%s; else exec \"$W\" run \"$F\" --quiet > /dev/null; fi'",
                 WEFT_EXE, flow, ranks, rank0);
    double t = now();
    int st = system(cmd);
    t = now() - t;
    if (st != 0) {
        fprintf(stderr, "ranks: '%s' over %d ranks failed (status %d)\n", flow, ranks, st);
        exit(1);
    }
    FILE *f = fopen("cpu.txt", "r");
    double um = 0, us = 0, sm = 0, ss = 0;
    char line[256];
    if (!f || !fgets(line, sizeof line, f) || !fgets(line, sizeof line, f) ||
        sscanf(line, "%lfm%lfs %lfm%lfs", &um, &us, &sm, &ss) != 4) {
        fprintf(stderr, "ranks: cannot read rank 0's CPU time\n");
        exit(1);
    }
    fclose(f);
    *cpu = um * 60 + us + sm * 60 + ss;
    return t;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_ROUNDS 15
#define MAX_K 8

int main(int argc, char **argv)
{
    int noops = argc > 1 ? atoi(argv[1]) : 10000;
    int trues = argc > 2 ? atoi(argv[2]) : 2000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    int ks[MAX_K + 1] = {1, 2, 4}, nk = 3;
    if (argc > 4) {
        nk = 1;
        for (int i = 4; i < argc && nk <= MAX_K; i++)
            ks[nk++] = atoi(argv[i]);
    }
    if (noops < 1 || trues < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: ranks [noops >= 1] [trues >= 1] [rounds 1..%d] [ranks >= 2 ...]\n", MAX_ROUNDS);
        return 2;
    }
    for (int k = 1; k < nk; k++)
        if (ks[k] < 2) {
            fprintf(stderr, "ranks: a run over ranks needs at least 2 of them, got %d\n", ks[k]);
            return 2;
        }
    if (system("command -v mpirun > /dev/null 2>&1") != 0) {
        printf("ranks: mpirun is not installed: nothing to measure\n");
        return 0;
    }
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    char dir[] = "/tmp/weft-bench-ranks-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0)
        return 1;
    printf("ranks: %d noop kernels and %d /bin/true over 1 (alone) and", noops, trues);
    for (int k = 1; k < nk; k++)
        printf(" %d", ks[k]);
    printf(" ranks, %d rounds, %ld cores here\n", rounds, sysconf(_SC_NPROCESSORS_ONLN));
    struct {
        const char *name, *what;
        int n;
    } kinds[2] = {{"noop", "kernel = \"noop\"", noops}, {"true", "command = [\"/bin/true\"]", trues}};
    for (int j = 0; j < 2; j++) {
        char one[64], many[64];
        snprintf(one, sizeof one, "%s1.toml", kinds[j].name);
        snprintf(many, sizeof many, "%s.toml", kinds[j].name);
        write_flow(one, kinds[j].what, 1);
        write_flow(many, kinds[j].what, kinds[j].n);
        double local = 0;
        for (int k = 0; k < nk; k++) {
            double w[MAX_ROUNDS], c[MAX_ROUNDS];
            for (int r = 0; r < rounds; r++) {
                double c1, cn;
                double w1 = run_flow(one, ks[k], &c1);
                double wn = run_flow(many, ks[k], &cn);
                w[r] = (wn - w1) / kinds[j].n;
                c[r] = (cn - c1) / kinds[j].n;
            }
            double wt = median(w, rounds), ct = median(c, rounds);
            if (k == 0) {
                local = wt;
                printf("  %-5s alone:      %7.1f us/task wall, %6.1f us/task CPU of weft\n", kinds[j].name, wt * 1e6,
                       ct * 1e6);
            } else {
                printf("  %-5s %d ranks:    %7.1f us/task wall (%+.1f us remote overhead, target <= 20), rank 0 "
                       "%5.1f us CPU/task (%.0f remote tasks/s, target >= 50000)\n",
                       kinds[j].name, ks[k], wt * 1e6, (wt - local) * 1e6, ct * 1e6, ct > 0 ? 1 / ct : 0);
            }
        }
    }
    system("rm -rf .weft *.toml cpu.txt");
    if (chdir("/tmp") == 0)
        rmdir(dir);
    return 0;
}
