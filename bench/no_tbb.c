/* Built instead of overhead_tbb.cpp when oneTBB is not installed. */
#include "shapes.h"

int bench_have_tbb(void)
{
    return 0;
}

double bench_tbb(const bench_params_t *p, int shape, int threads)
{
    (void)p;
    (void)shape;
    (void)threads;
    return -1.0;
}
