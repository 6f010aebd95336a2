#include "isa.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(CPET_KERNELS_X86)
#include <cpuid.h>
#elif defined(CPET_KERNELS_NEON) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#elif defined(CPET_KERNELS_NEON) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static const char *const names[ISA_COUNT] = {
    [ISA_SCALAR] = "scalar", [ISA_AVX2] = "avx2", [ISA_AVX2_VNNI] = "avx2-vnni", [ISA_AVX512] = "avx512",
    [ISA_AVX512_VNNI] = "avx512-vnni", [ISA_NEON] = "neon", [ISA_NEON_DOTPROD] = "neon-dotprod",
};

/* the level whose kernels fill a level's NULL entries (AVX512-VNNI CPUs need not have AVX-VNNI) */
static const cpu_isa below[ISA_COUNT] = {
    [ISA_SCALAR] = ISA_SCALAR, [ISA_AVX2] = ISA_SCALAR, [ISA_AVX2_VNNI] = ISA_AVX2, [ISA_AVX512] = ISA_AVX2,
    [ISA_AVX512_VNNI] = ISA_AVX512, [ISA_NEON] = ISA_SCALAR, [ISA_NEON_DOTPROD] = ISA_NEON,
};

const cpu_isa isa_best_first[ISA_COUNT] = {ISA_AVX512_VNNI, ISA_AVX512, ISA_AVX2_VNNI, ISA_AVX2,
                                           ISA_NEON_DOTPROD, ISA_NEON, ISA_SCALAR};

const char *isa_name(cpu_isa isa) { return (unsigned)isa < ISA_COUNT ? names[isa] : "?"; }

int isa_parse(const char *name, cpu_isa *isa)
{
    for (int i = 0; i < ISA_COUNT; i++)
        if (!strcmp(name, names[i])) return *isa = (cpu_isa)i, 0;
    return -1;
}

static const kernel_table *own_table(cpu_isa isa)
{
    switch (isa) {
    case ISA_SCALAR: return &kernels_scalar;
#if defined(CPET_KERNELS_X86)
    case ISA_AVX2: return &kernels_avx2;
    case ISA_AVX2_VNNI: return &kernels_avx2_vnni;
    case ISA_AVX512: return &kernels_avx512;
    case ISA_AVX512_VNNI: return &kernels_avx512_vnni;
#elif defined(CPET_KERNELS_NEON)
    case ISA_NEON: return &kernels_neon;
    case ISA_NEON_DOTPROD: return &kernels_neon_dotprod;
#endif
    default: return NULL;
    }
}

int isa_compiled(cpu_isa isa) { return (unsigned)isa < ISA_COUNT && own_table(isa) != NULL; }

#if defined(CPET_KERNELS_X86)
/* XCR0: which register states the OS saves (AVX's ymm, AVX-512's opmask and zmm) */
static unsigned long long xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}

static int x86_has(cpu_isa isa)
{
    unsigned a, b, c, d, max7;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = c >> 27 & 1, avx = c >> 28 & 1, fma = c >> 12 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx) return 0;
    const unsigned long long x = xcr0();
    const int ymm = (x & 0x6) == 0x6, zmm = (x & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &max7, &b, &c, &d)) return 0;
    const int avx2 = b >> 5 & 1, f = b >> 16 & 1, dq = b >> 17 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1;
    const int vnni512 = c >> 11 & 1;
    int avxvnni = 0;
    if (max7 >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) avxvnni = a >> 4 & 1;
    const int base = ymm && avx2 && fma && f16c, avx512 = base && zmm && f && dq && bw && vl;
    switch (isa) {
    case ISA_AVX2: return base;
    case ISA_AVX2_VNNI: return base && avxvnni;
    case ISA_AVX512: return avx512;
    case ISA_AVX512_VNNI: return avx512 && vnni512;
    default: return 0;
    }
}
#endif

#if defined(CPET_KERNELS_NEON)
static int arm_has_dotprod(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v;
#else
    return 0;
#endif
}
#endif

int isa_cpu_has(cpu_isa isa)
{
    if (isa == ISA_SCALAR) return 1;
#if defined(CPET_KERNELS_X86)
    return x86_has(isa);
#elif defined(CPET_KERNELS_NEON)
    if (isa == ISA_NEON) return 1; /* Advanced SIMD is part of ARMv8-A */
    return isa == ISA_NEON_DOTPROD && arm_has_dotprod();
#else
    return 0;
#endif
}

static int usable(cpu_isa isa) { return isa_compiled(isa) && isa_cpu_has(isa); }

cpu_isa isa_best(void)
{
    for (int i = 0; i < ISA_COUNT; i++)
        if (usable(isa_best_first[i])) return isa_best_first[i];
    return ISA_SCALAR;
}

const char *isa_list_cpu(char *buf, int size)
{
    int at = 0;
    buf[0] = 0;
    for (int i = 0; i < ISA_COUNT && at < size; i++)
        if (isa_cpu_has(isa_best_first[i])) at += snprintf(buf + at, (size_t)(size - at), "%s%s", at ? "," : "", names[isa_best_first[i]]);
    return buf;
}

/* ---- the table in use ---- */

static kernel_table active;
static pthread_once_t chosen = PTHREAD_ONCE_INIT;

/* the level's own entries, then each NULL one from the levels below it */
static void fill(kernel_table *t, cpu_isa isa)
{
    *t = *own_table(isa);
    t->isa = isa;
    for (cpu_isa l = below[isa];; l = below[l]) {
        const kernel_table *from = own_table(l);
#define FILL(f) if (!t->f) t->f = from->f
        FILL(gemv_rows8); FILL(gemv_row); FILL(dot_f32); FILL(dot_f32_rows); FILL(dequant_row); FILL(fused_row); FILL(q8act_row);
        FILL(q8_0_rows4); FILL(dot_i8); FILL(pack_dequant_row); FILL(pack_row_group); FILL(read_sum8);
#undef FILL
        if (l == ISA_SCALAR) break;
    }
}

static void choose_once(void)
{
    cpu_isa isa = isa_best(), want;
    const char *env = getenv("CPET_ISA");
    if (env && *env && isa_parse(env, &want) == 0 && usable(want)) isa = want; /* isa_init_from_env reports a bad one */
    fill(&active, isa);
}

const kernel_table *kernels(void)
{
    pthread_once(&chosen, choose_once);
    return &active;
}

cpu_isa isa_active(void) { return kernels()->isa; }

int isa_use(cpu_isa isa, cpet_err *err)
{
    if (!isa_compiled(isa)) return cpet_fail(err, "instruction set %s: this build has no kernels for it", isa_name(isa));
    if (!isa_cpu_has(isa)) return cpet_fail(err, "instruction set %s: this CPU does not have it", isa_name(isa));
    pthread_once(&chosen, choose_once);
    fill(&active, isa);
    return 0;
}

int isa_init_from_env(cpet_err *err)
{
    const char *env = getenv("CPET_ISA");
    if (!env || !*env) return 0;
    cpu_isa isa;
    if (isa_parse(env, &isa) != 0)
        return cpet_fail(err, "CPET_ISA=%s: not an instruction set (scalar, avx2, avx2-vnni, avx512, avx512-vnni, neon, neon-dotprod)", env);
    if (isa_use(isa, err) != 0) return cpet_prefix(err, "CPET_ISA");
    return 0;
}
