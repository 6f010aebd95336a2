/* One place that includes OpenBLAS's CBLAS header and exposes its thread control. */
#ifndef CPET_BLAS_H
#define CPET_BLAS_H

#include <cblas.h>

void engine_set_threads(int n); /* one setting for OpenMP loops and OpenBLAS */
int engine_threads(void);

#endif
