/* The AVX512-VNNI level: the AVX-512 kernels with the int8 dots on vpdpbusd (compiled with -mavx512vnni too). */
#define KERNELS_VNNI 1
#define KERNELS_TABLE kernels_avx512_vnni
#define KERNELS_ISA ISA_AVX512_VNNI
#include "kernels_avx512.c"
