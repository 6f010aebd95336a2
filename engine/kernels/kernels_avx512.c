/* The AVX-512 level (F, BW, VL, DQ), and with KERNELS_VNNI the AVX512-VNNI one. */
#include <immintrin.h>

#include "kernels.h"

#ifndef KERNELS_TABLE
#define KERNELS_TABLE kernels_avx512
#define KERNELS_ISA ISA_AVX512
#endif

const kernel_table KERNELS_TABLE = {
    .isa = KERNELS_ISA,
};
