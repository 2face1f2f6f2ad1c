/* poisson2d: -laplace(u) = f on the unit square, u = 0 on the boundary,
 * five-point stencil on n x n interior points, Jacobi iteration until the
 * residual ||f - A u||_2 <= tol * ||f||_2. f = 2 pi^2 sin(pi x) sin(pi y),
 * whose exact solution sin(pi x) sin(pi y) gives the discretization error
 * as a check on the answer (it shrinks like h^2). */
#include "workloads/kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "workloads/kernels/poisson_gpu.h"
#include "weft/error.h"

int weft__kernel_poisson2d(weft__kctx_t *k);

static int stopping(void *ud)
{
    return weft__kstopping(ud);
}

/* Reports a solve's outcome the same way on both devices. */
static int report(weft__kctx_t *k, long long n, double tol, const char *where, long long it, double res, double err,
                  double secs)
{
    weft__kprintf(k, "poisson2d n=%lld tol=%g on %s: %lld iterations, residual %.3e, max error %.3e, %.3f s\n", n, tol,
                  where, it, res, err, secs);
    weft__kresult(k, "device", "%s", where);
    weft__kresult(k, "iterations", "%lld", it);
    weft__kresult(k, "residual", "%.3e", res);
    weft__kresult(k, "error", "%.3e", err);
    if (res > tol) {
        if (weft__kstopping(k))
            return weft__kfail(k, "stopped after %lld iterations", it);
        return weft__kfail(k, "did not converge: residual %.3e > tol %g after %lld iterations", res, tol, it);
    }
    return 0;
}

static int on_gpu(weft__kctx_t *k, long long n, double tol, long long max_iters)
{
    weft__poisson_out_t o;
    int dev = k->gpu - 1;
    int rc = weft__poisson2d_gpu(n, tol, max_iters, dev, stopping, k, &o);
    if (rc)
        return weft__kfail(k, "GPU %d: %s", dev, o.msg);
    char where[16];
    snprintf(where, sizeof where, "gpu%d", dev);
    return report(k, n, tol, where, o.iterations, o.residual, o.error, o.seconds);
}

int weft__kernel_poisson2d(weft__kctx_t *k)
{
    long long n = weft__karg_int(k, "n", -1, 3, 8192);
    double tol = weft__karg_float(k, "tol", 1e-6, 1e-14, 1);
    long long max_iters = weft__karg_int(k, "max_iters", 1000000, 1, 1000000000);
    int rc = weft__kargs_check(k, weft__kernel_find("poisson2d"));
    if (rc)
        return rc < 0 ? rc : 0;
    if (k->gpu > 0)
        return on_gpu(k, n, tol, max_iters);

    size_t w = (size_t)n + 2; /* with the boundary */
    double *u = weft__calloc(w * w, sizeof *u);
    double *v = weft__calloc(w * w, sizeof *v);
    double *f = weft__malloc(w * w * sizeof *f);
    if (!u || !v || !f) {
        weft__free(u);
        weft__free(v);
        weft__free(f);
        return weft__kfail(k, "out of memory for a %lld x %lld grid", n, n);
    }
    const double pi = 3.14159265358979323846, h = 1.0 / (double)(n + 1), h2 = h * h;
    double fnorm = 0;
    for (size_t i = 0; i < w; i++)
        for (size_t j = 0; j < w; j++) {
            double x = (double)i * h, y = (double)j * h;
            f[i * w + j] = 2 * pi * pi * sin(pi * x) * sin(pi * y);
            if (i && j && i <= (size_t)n && j <= (size_t)n)
                fnorm += f[i * w + j] * f[i * w + j];
        }
    fnorm = sqrt(fnorm);
    uint64_t t0 = weft__clock_ns();
    long long it = 0;
    double res = INFINITY;
    while (it < max_iters) {
        /* u_new - u = (h^2 / 4) (f - A u): the residual comes for free */
        double sum = 0;
        for (size_t i = 1; i <= (size_t)n; i++) {
            const double *up = u + (i - 1) * w, *uc = u + i * w, *dn = u + (i + 1) * w;
            const double *fc = f + i * w;
            double *vc = v + i * w;
            for (size_t j = 1; j <= (size_t)n; j++) {
                double nu = 0.25 * (up[j] + dn[j] + uc[j - 1] + uc[j + 1] + h2 * fc[j]);
                double d = nu - uc[j];
                sum += d * d;
                vc[j] = nu;
            }
        }
        double *t = u;
        u = v;
        v = t;
        it++;
        res = 4 / h2 * sqrt(sum) / fnorm;
        if (res <= tol)
            break;
        if (weft__kstopping(k)) /* a run that stops or a timeout: at every sweep */
            break;
    }
    double err = 0;
    for (size_t i = 1; i <= (size_t)n; i++)
        for (size_t j = 1; j <= (size_t)n; j++) {
            double e = fabs(u[i * w + j] - sin(pi * (double)i * h) * sin(pi * (double)j * h));
            err = e > err ? e : err;
        }
    double secs = (double)(weft__clock_ns() - t0) / 1e9;
    weft__free(u);
    weft__free(v);
    weft__free(f);
    return report(k, n, tol, "cpu", it, res, err, secs);
}
