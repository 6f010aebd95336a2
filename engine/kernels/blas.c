#include "blas.h"

#include <omp.h>

/* openblas-openmp runs its kernels on the OpenMP pool, so one call sets both */
void engine_set_threads(int n)
{
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int engine_threads(void) { return omp_get_max_threads(); }
