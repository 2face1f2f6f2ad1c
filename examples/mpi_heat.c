/* mpi_heat — a Jacobi relaxation of the Laplace equation on an N×N grid
 * split into strips of rows over the ranks of an MPI program, each rank's
 * strip cut into tiles that are weft tasks, the halo exchange with the
 * neighbouring ranks as tasks that complete on their MPI requests
 * (weft_ctx_wait_mpi_all, include/weft/mpi.h) — so a rank's interior
 * tiles are computed while its halo rows travel.
 *
 * One graph per rank, built once and run once per sweep: "halo" posts the
 * receives of the two ghost rows and the sends of the two edge rows and
 * hands the four requests to weft; the tiles next to the strip's edges
 * run after it, the others at once. Jacobi reads the old grid and writes
 * a new one, so the result is bit for bit the serial sweep's; rank 0
 * gathers the strips and compares them with a serial run of its own.
 *
 *   mpirun -n 4 mpi_heat [--n N] [--sweeps S] [--tiles T] [--threads W]
 * Exits 0 on every rank when the grids are equal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <weft.h>
#include <weft/mpi.h>

typedef struct strip {
    int n;             /* grid side, boundary included: interior 1..n-2 */
    int rows;          /* this rank's interior rows */
    int row0;          /* its first row's global index */
    int up, down;      /* neighbour ranks (MPI_PROC_NULL at the edges) */
    double *cur, *nxt; /* (rows + 2) x n each: row 0 and rows+1 are ghosts */
} strip_t;

typedef struct tile {
    strip_t *s;
    int r0, r1; /* local rows [r0, r1), 1-based */
} tile_t;

static void sweep_rows(const double *u, double *v, int n, int r0, int r1)
{
    for (int i = r0; i < r1; i++)
        for (int j = 1; j < n - 1; j++)
            v[i * n + j] = 0.25 * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1]);
}

static int tile_task(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    tile_t *t = arg;
    sweep_rows(t->s->cur, t->s->nxt, t->s->n, t->r0, t->r1);
    return 0;
}

/* The ghost rows of cur from the neighbours, this strip's edge rows to
 * them: four requests weft completes the task on. */
static int halo_task(weft_ctx_t *ctx, void *arg)
{
    strip_t *s = arg;
    int n = s->n;
    MPI_Request r[4];
    MPI_Irecv(s->cur, n, MPI_DOUBLE, s->up, 1, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(s->cur + (size_t)(s->rows + 1) * n, n, MPI_DOUBLE, s->down, 0, MPI_COMM_WORLD, &r[1]);
    MPI_Isend(s->cur + (size_t)n, n, MPI_DOUBLE, s->up, 0, MPI_COMM_WORLD, &r[2]);
    MPI_Isend(s->cur + (size_t)s->rows * n, n, MPI_DOUBLE, s->down, 1, MPI_COMM_WORLD, &r[3]);
    int rc = weft_ctx_wait_mpi_all(ctx, 4, r);
    if (rc) { /* weft cannot wait for them: this task does */
        MPI_Waitall(4, r, MPI_STATUSES_IGNORE);
        return rc;
    }
    return 0;
}

/* The whole grid with its fixed boundary: a hot top edge, a warm ramp on
 * the right, cold elsewhere (row-major, n x n). */
static double boundary(int n, int i, int j)
{
    if (i == 0)
        return 100.0;
    if (j == n - 1)
        return 50.0 * i / (n - 1);
    return 0.0;
}

static int usage(int rank)
{
    if (rank == 0)
        fprintf(stderr, "usage: mpirun -n P mpi_heat [--n N] [--sweeps S] [--tiles T] [--threads W]\n");
    MPI_Finalize();
    return 2;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = 130, sweeps = 300, ntiles = 4, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--n"))
            n = atoi(argv[++i]) + 2;
        else if (i + 1 < argc && !strcmp(argv[i], "--sweeps"))
            sweeps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--tiles"))
            ntiles = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else
            return usage(rank);
    }
    if (n - 2 < size || sweeps < 1 || ntiles < 1 || threads < 0)
        return usage(rank);
    if (provided < MPI_THREAD_MULTIPLE) {
        if (rank == 0)
            fprintf(stderr, "mpi_heat: this MPI gives thread level %d, not MPI_THREAD_MULTIPLE\n", provided);
        MPI_Finalize();
        return 1;
    }

    /* this rank's strip of interior rows */
    strip_t s = {.n = n};
    int interior = n - 2;
    s.row0 = 1 + rank * interior / size;
    s.rows = 1 + (rank + 1) * interior / size - s.row0;
    s.up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
    s.down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    size_t cells = (size_t)(s.rows + 2) * (size_t)n;
    s.cur = malloc(cells * sizeof *s.cur);
    s.nxt = malloc(cells * sizeof *s.nxt);
    if (!s.cur || !s.nxt) {
        fprintf(stderr, "mpi_heat: rank %d: out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int i = 0; i < s.rows + 2; i++)
        for (int j = 0; j < n; j++)
            s.cur[(size_t)i * n + j] = s.nxt[(size_t)i * n + j] = boundary(n, s.row0 - 1 + i, j);

    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    weft_runtime_t *rt;
    weft_graph_t *g;
    if (weft_runtime_create(&cfg, &rt) != 0 || weft_graph_create(&g) != 0) {
        fprintf(stderr, "mpi_heat: rank %d: cannot start weft\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (ntiles > s.rows)
        ntiles = s.rows;
    tile_t *tiles = calloc((size_t)ntiles, sizeof *tiles);
    weft_task_t *halo = weft_graph_add(g, "halo", halo_task, &s);
    if (!tiles || !halo)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int k = 0; k < ntiles; k++) {
        tiles[k] = (tile_t){&s, 1 + k * s.rows / ntiles, 1 + (k + 1) * s.rows / ntiles};
        char name[32];
        snprintf(name, sizeof name, "tile-%d", k);
        weft_task_t *t = weft_graph_add(g, name, tile_task, &tiles[k]);
        /* the tiles that read a ghost row wait for the halo */
        if (!t || ((k == 0 || k == ntiles - 1) && weft_task_after(t, halo) != 0))
            MPI_Abort(MPI_COMM_WORLD, 1);
    }

    double t0 = MPI_Wtime();
    for (int it = 0; it < sweeps; it++) {
        int rc = weft_graph_run(rt, g);
        if (rc) {
            fprintf(stderr, "mpi_heat: rank %d: sweep %d: %s (%s)\n", rank, it, weft_strerror(rc), weft_graph_error(g));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double *t = s.cur; /* the new grid is the next sweep's old one */
        s.cur = s.nxt;
        s.nxt = t;
    }
    double secs = MPI_Wtime() - t0;
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    int src = weft_mpi_shutdown();

    /* rank 0: every strip, against the serial sweeps of the whole grid */
    int *counts = NULL, *displs = NULL;
    double *all = NULL;
    if (rank == 0) {
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
        all = malloc((size_t)n * (size_t)n * sizeof *all);
        if (!counts || !displs || !all)
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (int r = 0; r < size; r++) {
            int a = 1 + r * interior / size, b = 1 + (r + 1) * interior / size;
            counts[r] = (b - a) * n;
            displs[r] = a * n;
        }
    }
    MPI_Gatherv(s.cur + n, s.rows * n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    int ok = 1;
    if (rank == 0) {
        double *u = malloc((size_t)n * (size_t)n * sizeof *u), *v = malloc((size_t)n * (size_t)n * sizeof *v);
        if (!u || !v)
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                u[i * n + j] = v[i * n + j] = boundary(n, i, j);
        for (int it = 0; it < sweeps; it++) {
            sweep_rows(u, v, n, 1, n - 1);
            double *t = u;
            u = v;
            v = t;
        }
        size_t diff = 0;
        double worst = 0.0;
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++) {
                double d = fabs(all[i * n + j] - u[i * n + j]);
                diff += d != 0.0;
                worst = d > worst ? d : worst;
            }
        ok = diff == 0 && src == 0;
        printf("mpi_heat: %d x %d grid over %d ranks, %d tiles each, %d sweeps: %.3f s\n", n - 2, n - 2, size, ntiles,
               sweeps, secs);
        printf("mpi_heat: u(center) = %.9f; %s: %zu cells differ from the serial sweeps (largest %.3e)%s\n",
               u[(n / 2) * n + n / 2], ok ? "OK" : "MISMATCH", diff, worst,
               src ? "; weft_mpi_shutdown: requests still pending" : "");
        free(u);
        free(v);
        free(all);
        free(counts);
        free(displs);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(tiles);
    free(s.cur);
    free(s.nxt);
    MPI_Finalize();
    return ok ? 0 : 1;
}
