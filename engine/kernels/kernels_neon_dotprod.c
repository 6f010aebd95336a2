/* The NEON dotprod level: the NEON kernels with the int8 sums on sdot (compiled with +dotprod). */
#define KERNELS_DOTPROD 1
#define KERNELS_TABLE kernels_neon_dotprod
#define KERNELS_ISA ISA_NEON_DOTPROD
#include "kernels_neon.c"
