/* Which instruction set the kernels run on. The CPU is read once (cpuid on x86, the auxiliary vector or
 * sysctl on ARM64) and the best level this build and this CPU share is chosen, unless the environment
 * variable CPET_ISA names another (the CLI's --isa sets the same). Each level has a table of kernels
 * (kernels.h); a kernel a level has no own version of is taken from the level below it, so a table is
 * "the best path for each kernel", and the scalar table, which has every kernel, ends every chain. */
#ifndef CPET_ISA_H
#define CPET_ISA_H

#include "error.h"

typedef enum {
    ISA_SCALAR,       /* plain C: the reference every other path is held to */
    ISA_AVX2,         /* AVX2 + FMA + F16C */
    ISA_AVX2_VNNI,    /* + AVX-VNNI: vpdpbusd on 256 bits (VEX) */
    ISA_AVX512,       /* AVX-512 F, BW, VL, DQ */
    ISA_AVX512_VNNI,  /* + AVX512-VNNI */
    ISA_NEON,         /* ARMv8 Advanced SIMD */
    ISA_NEON_DOTPROD, /* + sdot/udot (ARMv8.2 dotprod) */
    ISA_COUNT
} cpu_isa;

/* every level, best first (x86's, then ARM64's, scalar last) */
extern const cpu_isa isa_best_first[ISA_COUNT];

const char *isa_name(cpu_isa isa);
/* name -> level; -1 if no level has that name */
int isa_parse(const char *name, cpu_isa *isa);
/* this binary has the level's kernels / this CPU (and its OS) can run them */
int isa_compiled(cpu_isa isa);
int isa_cpu_has(cpu_isa isa);
/* the best level both have */
cpu_isa isa_best(void);
/* The level in use: CPET_ISA when set (and usable), else isa_best(). Fixed at the first call unless
 * isa_use changes it. */
cpu_isa isa_active(void);
/* Run on `isa` from now on: -1 (and err) if this build or this CPU lacks it. Not while kernels run. */
int isa_use(cpu_isa isa, cpet_err *err);
/* Read CPET_ISA and apply it: -1 with a one-line error naming the variable if it is not a level, or a
 * level this build or CPU lacks. Front ends call it first, so a bad value is an error, not a fallback. */
int isa_init_from_env(cpet_err *err);
/* the levels this CPU has, best first, as "avx512-vnni,avx512,avx2-vnni,avx2,scalar" (into buf) */
const char *isa_list_cpu(char *buf, int size);

#endif
