/* The AVX-VNNI level: the AVX2 kernels with the int8 dots on vpdpbusd (compiled with -mavxvnni too). */
#define KERNELS_VNNI 1
#define KERNELS_TABLE kernels_avx2_vnni
#define KERNELS_ISA ISA_AVX2_VNNI
#include "kernels_avx2.c"
