/* bench/spawn — process tasks: 2,000 runs of /bin/true through `weft run`
 * (stdout/stderr captured into the run's output log, each task pinned to
 * a core, every attempt a row of the run store)
 * against, in the same run, a plain C posix_spawn + waitpid loop keeping
 * every core busy, `xargs -P`, and GNU parallel when it is installed.
 * Then the runtime's own cost on a 1,000,000-task sweep of `noop` kernels
 * with the run store on: time per task and memory per task (max RSS
 * against a 1-task run), the store's size per task, `--resume` of the
 * finished run (everything cached) per task, and `weft results --csv`.
 *
 * Also weft with the output discarded (what capture costs), and the time
 * to create two empty files per task on the same filesystem (what weft
 * did before its output log).
 *
 * The machines this runs on are shared and noisy (a few percent from one
 * run to the next), so the contenders take turns for `rounds` rounds (the
 * order rotating) and the medians are compared; every round is printed.
 * File creation depends on the filesystem's recent past: ext4 without a
 * journal (as on the development machine) skips inodes deleted in the
 * last 1 to 6 minutes when it allocates one, so right after a mass
 * deletion (another bench's cleanup, a test suite) creating a file costs
 * 10 to 20 times more. Run it on a quiet filesystem.
 *
 *   build/bench/spawn [jobs] [noop-tasks] [rounds]   (defaults 2000, 1000000, 3) */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
    fprintf(f,
            "[workflow]\nname = \"bench\"\npin = \"core\"\n[sweep]\ni = { start = 1, stop = %d }\n"
            "[[task]]\nname = \"t-{i}\"\n%s\n",
            n, what);
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
    int noops = argc > 2 ? atoi(argv[2]) : 1000000;
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
    write_flow("quiet.toml", "command = [\"/bin/true\"]\nstdout = \"/dev/null\"\nstderr = \"/dev/null\"", jobs);
    char *wargv[] = {WEFT_EXE, "run", "true.toml", "--quiet", NULL};
    char *qargv[] = {WEFT_EXE, "run", "quiet.toml", "--quiet", NULL};
    /* Three contenders per round, the order rotating from round to round;
     * each starts after a pause, since thousands of exits leave the kernel
     * work to finish (address spaces, inodes) that would otherwise be
     * billed to whichever runs next. */
    enum { RAW, WEFT, QUIET, NKINDS };
    double t[NKINDS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NKINDS; i++) {
            int kind = (r + i) % NKINDS;
            sleep(1);
            t[kind][r] = kind == RAW ? raw_loop(jobs, par) : run_cmd(kind == WEFT ? wargv : qargv, NULL);
        }
        printf("  round %d: raw %.0f, weft %.0f (%.2fx), weft without capture %.0f jobs/s (%.2fx)\n", r + 1,
               jobs / t[RAW][r], jobs / t[WEFT][r], t[RAW][r] / t[WEFT][r], jobs / t[QUIET][r],
               t[RAW][r] / t[QUIET][r]);
    }
    double raw = median(t[RAW], rounds), w = median(t[WEFT], rounds), q = median(t[QUIET], rounds);
    printf("  %-38s %8.0f jobs/s (median)\n", "raw posix_spawn+wait loop", jobs / raw);
    printf("  %-38s %8.0f jobs/s   %.2fx raw (target >= 0.9)\n", "weft run (capture + pinning)", jobs / w, raw / w);
    printf("  %-38s %8.0f jobs/s   %.2fx raw\n", "weft run (pinning, output discarded)", jobs / q, raw / q);
    /* What two files per task would cost on this filesystem alone (weft
     * made <task>.out and <task>.err before its output log). */
    if (mkdir("files", 0755) != 0)
        return 1;
    double f0 = now();
    for (int i = 0; i < 2 * jobs; i++) {
        char path[64];
        snprintf(path, sizeof path, "files/%d", i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return 1;
        close(fd);
    }
    double fc = now() - f0;
    printf("  %-38s %8.0f us/task (creating %d empty files here: %.2f s; weft creates none now)\n",
           "two output files per task", fc / jobs * 1e6, 2 * jobs, fc);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "seq %d | xargs -P %d -n 1 /bin/true", jobs, par);
    double x = shell(cmd);
    printf("  %-38s %8.0f jobs/s   weft is %.2fx xargs\n", "xargs -P (no capture)", jobs / x, x / w);
    if (system("command -v parallel > /dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "seq %d | parallel -j %d /bin/true > /dev/null", jobs, par);
        double p = shell(cmd);
        printf("  %-38s %8.0f jobs/s   weft is %.2fx GNU parallel\n", "GNU parallel", jobs / p, p / w);
    } else {
        printf("  %-38s (not installed)\n", "GNU parallel");
    }

    /* The runtime's own cost: noop kernels, nothing spawned. */
    struct rusage one, many;
    write_flow("noop1.toml", "kernel = \"noop\"", 1);
    char *a1[] = {WEFT_EXE, "run", "noop1.toml", "--quiet", NULL};
    write_flow("noop.toml", "kernel = \"noop\"", noops);
    char *an[] = {WEFT_EXE, "run", "noop.toml", "--quiet", NULL};
    double ones[MAX_ROUNDS], manys[MAX_ROUNDS], resumes[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        if (system("rm -rf .weft") != 0) /* each round a fresh store */
            return 1;
        ones[r] = run_cmd(a1, &one);
        manys[r] = run_cmd(an, &many);
    }
    double t1 = median(ones, rounds), tn = median(manys, rounds);
    double us = (tn - t1) / noops * 1e6;
    double bytes = (double)(many.ru_maxrss - one.ru_maxrss) * 1024.0 / noops;
    struct stat db, wal;
    long long store = (stat(".weft/weft.db", &db) == 0 ? (long long)db.st_size : 0) +
                      (stat(".weft/weft.db-wal", &wal) == 0 ? (long long)wal.st_size : 0);
    /* the store holds the last round's runs: the 1-task run and the sweep */
    char *ar[] = {WEFT_EXE, "run", "noop.toml", "--quiet", "--resume", NULL};
    for (int r = 0; r < rounds; r++)
        resumes[r] = run_cmd(ar, NULL);
    double tr = median(resumes, rounds);
    char *ac[] = {WEFT_EXE, "results", "--csv", NULL};
    int devnull = open("/dev/null", O_WRONLY), saved = dup(1);
    dup2(devnull, 1);
    double tc = run_cmd(ac, NULL);
    dup2(saved, 1);
    close(devnull);
    close(saved);
    printf("noop sweep: %d tasks in %.3f s (1 task: %.3f s; medians)\n", noops, tn, t1);
    printf("  %-38s %8.2f us/task (target <= 2, expansion + store + journal included)\n", "time per task", us);
    printf("  %-38s %8.0f bytes/task (target <= 256; max RSS %ld KiB vs %ld KiB)\n", "memory per task", bytes,
           many.ru_maxrss, one.ru_maxrss);
    printf("  %-38s %8.0f bytes/task (.weft/weft.db and its WAL: %.1f MB)\n", "run store", (double)store / noops,
           (double)store / 1e6);
    printf("  %-38s %8.2f us/task (target <= 1; %.3f s, everything cached)\n", "--resume of the finished run",
           (tr - t1) / noops * 1e6, tr);
    printf("  %-38s %8.2f s (target < 5)\n", "weft results --csv", tc);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
