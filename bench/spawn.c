/* bench/spawn — process tasks: 2,000 runs of /bin/true through `weft run`
 * (stdout/stderr captured to per-task files, each task pinned to a core)
 * against, in the same run, a plain C posix_spawn + waitpid loop keeping
 * every core busy, `xargs -P`, and GNU parallel when it is installed.
 * Then the runtime's own cost on a 100,000-task sweep of `noop` kernels:
 * time per task and memory per task (max RSS against a 1-task run).
 *
 * The machines this runs on are shared and noisy (a few percent from one
 * run to the next), so the raw loop and weft take turns for `rounds`
 * rounds (raw first in odd rounds, weft first in even ones) and the
 * medians are compared; every round is printed too.
 *
 *   build/bench/spawn [jobs] [noop-tasks] [rounds]   (defaults 2000, 100000, 3) */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv with stdout/stderr to /dev/null; returns its wall time and
 * fills its rusage. */
static double run_cmd(char *const argv[], struct rusage *ru)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 01 /* O_WRONLY */, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 01, 0);
    double t = now();
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "spawn: cannot run %s\n", argv[0]);
        exit(1);
    }
    int st;
    struct rusage r;
    wait4(pid, &st, 0, &r);
    t = now() - t;
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "spawn: %s failed (status %d)\n", argv[0], st);
        exit(1);
    }
    if (ru)
        *ru = r;
    return t;
}

static double raw_loop(int jobs, int par)
{
    char *argv[] = {"/bin/true", NULL};
    double t = now();
    int running = 0, started = 0;
    while (started < jobs || running > 0) {
        while (running < par && started < jobs) {
            pid_t pid;
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
                exit(1);
            running++;
            started++;
        }
        int st;
        if (wait(&st) > 0)
            running--;
    }
    return now() - t;
}

static double shell(const char *cmd)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return run_cmd(argv, NULL);
}

static void write_flow(const char *path, const char *what, int n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        exit(1);
    fprintf(f, "[workflow]\nname = \"bench\"\npin = \"core\"\n[sweep]\ni = { start = 1, stop = %d }\n"
               "[[task]]\nname = \"t-{i}\"\n%s\n", n, what);
    fclose(f);
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

int main(int argc, char **argv)
{
    int jobs = argc > 1 ? atoi(argv[1]) : 2000;
    int noops = argc > 2 ? atoi(argv[2]) : 100000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (jobs < 1 || noops < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: spawn [jobs >= 1] [noop-tasks >= 1] [rounds 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    int par = (int)sysconf(_SC_NPROCESSORS_ONLN);
    char dir[] = "/tmp/weft-bench-spawn-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    if (chdir(dir) != 0)
        return 1;
    printf("spawn: %d jobs of /bin/true on %d cores, %d rounds\n", jobs, par, rounds);
    write_flow("true.toml", "command = [\"/bin/true\"]", jobs);
    char *wargv[] = {WEFT_EXE, "run", "true.toml", "--quiet", NULL};
    double raws[MAX_ROUNDS], wefts[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        if (r % 2 == 0)
            raws[r] = raw_loop(jobs, par);
        wefts[r] = run_cmd(wargv, NULL);
        if (r % 2 == 1)
            raws[r] = raw_loop(jobs, par);
        printf("  round %d: raw %.0f jobs/s, weft %.0f jobs/s (%.2fx)\n", r + 1, jobs / raws[r], jobs / wefts[r],
               raws[r] / wefts[r]);
    }
    double raw = median(raws, rounds), w = median(wefts, rounds);
    printf("  %-34s %8.0f jobs/s (median)\n", "raw posix_spawn+wait loop", jobs / raw);
    printf("  %-34s %8.0f jobs/s   %.2fx raw (target >= 0.9)\n", "weft run (capture + pinning)", jobs / w, raw / w);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "seq %d | xargs -P %d -n 1 /bin/true", jobs, par);
    double x = shell(cmd);
    printf("  %-34s %8.0f jobs/s   weft is %.2fx xargs\n", "xargs -P (no capture)", jobs / x, x / w);
    if (system("command -v parallel > /dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "seq %d | parallel -j %d /bin/true > /dev/null", jobs, par);
        double p = shell(cmd);
        printf("  %-34s %8.0f jobs/s   weft is %.2fx GNU parallel\n", "GNU parallel", jobs / p, p / w);
    } else {
        printf("  %-34s (not installed)\n", "GNU parallel");
    }

    /* The runtime's own cost: noop kernels, nothing spawned. */
    struct rusage one, many;
    write_flow("noop1.toml", "kernel = \"noop\"", 1);
    char *a1[] = {WEFT_EXE, "run", "noop1.toml", "--quiet", NULL};
    write_flow("noop.toml", "kernel = \"noop\"", noops);
    char *an[] = {WEFT_EXE, "run", "noop.toml", "--quiet", NULL};
    double ones[MAX_ROUNDS], manys[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        ones[r] = run_cmd(a1, &one);
        manys[r] = run_cmd(an, &many);
    }
    double t1 = median(ones, rounds), tn = median(manys, rounds);
    double us = (tn - t1) / noops * 1e6;
    double bytes = (double)(many.ru_maxrss - one.ru_maxrss) * 1024.0 / noops;
    printf("noop sweep: %d tasks in %.3f s (1 task: %.3f s; medians)\n", noops, tn, t1);
    printf("  %-34s %8.2f us/task (target <= 2, expansion + journal included)\n", "time per task", us);
    printf("  %-34s %8.0f bytes/task (target <= 256; max RSS %ld KiB vs %ld KiB)\n", "memory per task", bytes,
           many.ru_maxrss, one.ru_maxrss);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
