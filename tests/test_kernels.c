/* Every instruction-set level this build and this CPU share, held to the scalar level: kernel by kernel on
 * the same inputs, bitwise where kernels.h gives the kernel one order (f32 GEMV, dequantization, the int8
 * activation kernels, the decode pack, W8A8's int32 dot), and for the float-activation fused kernels, whose
 * orders differ by level, within f32 rounding of the double-precision reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "isa.h"
#include "kernels.h"
#include "q8act.h"
#include "quant.h"
#include "tensor.h"

static float *random_floats(size_t n, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = 0.05f * rng_normal(&r) + (i % 97 == 0 ? 0.4f : 0.0f);
    return v;
}

/* the levels to hold to scalar: every SIMD level this build has and this CPU runs */
static int usable_levels(cpu_isa *out)
{
    int n = 0;
    for (int l = ISA_SCALAR + 1; l < ISA_COUNT; l++)
        if (isa_compiled((cpu_isa)l) && isa_cpu_has((cpu_isa)l)) out[n++] = (cpu_isa)l;
    return n;
}

static kernel_table table_of(cpu_isa l)
{
    cpet_err err;
    cr_assert_eq(isa_use(l, &err), 0, "%s", err.msg);
    return *kernels();
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what, cpu_isa l)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s on %s: [%zu] %.9g vs scalar %.9g", what, isa_name(l), i,
                  (double)a[i], (double)b[i]);
}

/* shapes with every tail: columns not a multiple of 8 or 16, 8-row blocks and leftovers */
Test(kernels, f32_gemv_and_dot_equal_scalar_bitwise)
{
    const int ins[] = {1, 7, 8, 15, 16, 17, 40, 96, 771};
    const kernel_table s = table_of(ISA_SCALAR);
    cpu_isa levels[ISA_COUNT];
    const int nl = usable_levels(levels);
    for (size_t t = 0; t < sizeof ins / sizeof ins[0]; t++) {
        const int in = ins[t];
        float *w = random_floats((size_t)8 * in, 1 + t), *x = random_floats((size_t)4 * in, 100 + t);
        float ys[32], yl[32];
        for (int li = 0; li < nl; li++) {
            const kernel_table k = table_of(levels[li]);
            s.dot_f32_rows(x, w, (size_t)in, 7, in, ys);
            for (int j = 0; j < 7; j++) cr_assert(memcmp(&ys[j], &(float){s.dot_f32(x, w + (size_t)j * in, in)}, 4) == 0, "scalar dot_f32_rows row %d", j);
            s.gemv_rows8(w, x, ys, in);
            k.gemv_rows8(w, x, yl, in);
            assert_same_bits(yl, ys, 8, "gemv_rows8", levels[li]);
            for (int n = 1; n <= 4; n++) {
                s.gemv_row(w, x, ys, n, in, 3);
                k.gemv_row(w, x, yl, n, in, 3);
                for (int j = 0; j < n; j++) assert_same_bits(&yl[3 * j], &ys[3 * j], 1, "gemv_row", levels[li]);
            }
            ys[0] = s.dot_f32(w, x, in), yl[0] = k.dot_f32(w, x, in);
            assert_same_bits(yl, ys, 1, "dot_f32", levels[li]);
            /* x against 7 rows of w read with a stride (attention's scores): each is dot_f32's */
            k.dot_f32_rows(x, w, (size_t)in, 7, in, yl);
            for (int j = 0; j < 7; j++) ys[j] = s.dot_f32(x, w + (size_t)j * in, in);
            assert_same_bits(yl, ys, 7, "dot_f32_rows", levels[li]);
        }
        /* and the scalar level against double sums */
        s.gemv_rows8(w, x, ys, in);
        for (int r = 0; r < 8; r++) {
            double ref = 0, mag = 0;
            for (int c = 0; c < in; c++) ref += (double)w[r * in + c] * x[c], mag += fabs((double)w[r * in + c] * x[c]);
            cr_assert_leq(fabs(ys[r] - ref), 1e-6 * mag + 1e-9, "scalar gemv_rows8 in=%d row %d: %g vs %g", in, r, (double)ys[r], ref);
        }
        free(w);
        free(x);
    }
}

typedef struct {
    qformat format;
    int group;
} kformat;

static const kformat formats[] = {{QF_Q8_0, 0}, {QF_Q4_0, 0}, {QF_INT8, 0}, {QF_INT4, 32}, {QF_INT4, 160}, {QF_INT3, 64}, {QF_INT3, 32}, {QF_INT4, -1}, {QF_NF4, 0}};

/* per format: dequantized rows, the int8-activation row kernel (n = 1..4), Q8_0's four-row kernel, the
 * decode pack's row groups and rows; bitwise to scalar. The fused float kernel: to the reference. */
static void check_quantized(int cols)
{
    const int rows = 16;
    int ran = 0;
    float *w = random_floats((size_t)rows * cols, 7), *x = random_floats((size_t)4 * cols, 8);
    const kernel_table s = table_of(ISA_SCALAR);
    cpu_isa levels[ISA_COUNT];
    const int nl = usable_levels(levels);
    q8_rows *a = malloc(sizeof *a);
    int8_t *codes = malloc((size_t)4 * cols);
    quantize_q8_rows(x, 4, cols, codes, a);
    float *ys = malloc((size_t)4 * rows * sizeof(float)), *yl = malloc((size_t)4 * rows * sizeof(float));
    float *ds = malloc((size_t)cols * sizeof(float)), *dl = malloc((size_t)cols * sizeof(float));
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        qtensor q;
        cpet_err err;
        if (quantize_rtn(&q, formats[f].format, w, rows, cols, formats[f].group, &err) != 0) continue;
        ran++;
        const char *name = qformat_name(q.format);
        const int int8_ok = q.format != QF_NF4 && (q.group % 32 == 0 || q.format == QF_INT8 || q.format == QF_Q8_0 || q.format == QF_Q4_0);
        for (int li = 0; li < nl; li++) {
            const kernel_table k = table_of(levels[li]);
            for (int r = 0; r < rows; r++) {
                s.dequant_row(&q, r, ds);
                k.dequant_row(&q, r, dl);
                assert_same_bits(dl, ds, (size_t)cols, name, levels[li]);
            }
            if (int8_ok)
                for (int n = 1; n <= 4; n++) {
                    for (int r = 0; r < rows; r++) s.q8act_row(&q, r, a, ys, n), k.q8act_row(&q, r, a, yl, n);
                    for (int i = 0; i < n; i++) assert_same_bits(yl + (size_t)i * rows, ys + (size_t)i * rows, (size_t)rows, name, levels[li]);
                }
            if (q.format == QF_Q8_0) {
                for (int r = 0; r < rows; r += 4) s.q8_0_rows4(&q, r, a, ys), k.q8_0_rows4(&q, r, a, yl);
                assert_same_bits(yl, ys, (size_t)rows, "q8_0_rows4", levels[li]);
                for (int r = 0; r < rows; r++) s.q8act_row(&q, r, a, ys, 1);
                assert_same_bits(yl, ys, (size_t)rows, "q8_0_rows4 vs q8act_row", levels[li]);
            }
            if (k.fused_row)
                for (int n = 1; n <= 4; n++) {
                    for (int r = 0; r < rows; r++) k.fused_row(&q, r, x, yl, n);
                    for (int i = 0; i < n; i++)
                        for (int r = 0; r < rows; r++) {
                            s.dequant_row(&q, r, ds);
                            double ref = 0, mag = 0;
                            for (int c = 0; c < cols; c++) ref += (double)ds[c] * x[i * cols + c], mag += fabs((double)ds[c] * x[i * cols + c]);
                            cr_assert_leq(fabs(yl[i * rows + r] - ref), 2e-6 * mag + 1e-9, "fused %s on %s n=%d: y[%d,%d] %g vs %g", name,
                                          isa_name(levels[li]), n, i, r, (double)yl[i * rows + r], ref);
                        }
                }
        }
        if (qtensor_pack_supported(&q)) {
            cr_assert_eq(qtensor_pack_decode(&q), 0);
            float zsum[Q8_MAX_INPUTS][Q8_MAX_BLOCKS];
            const int per_row = cols / q.group, bpg = q.group / 32;
            for (int i = 0; i < 4; i++)
                for (int g = 0; g < per_row; g++) {
                    float z = 0;
                    for (int j = 0; j < bpg; j++) z += a->d[i][g * bpg + j] * (float)a->sum[i][g * bpg + j];
                    zsum[i][g] = z;
                }
            for (int li = 0; li < nl; li++) {
                const kernel_table k = table_of(levels[li]);
                for (int n = 1; n <= 4; n++) {
                    for (int rg = 0; rg < rows / 8; rg++) s.pack_row_group(&q, rg, a, (const float(*)[Q8_MAX_BLOCKS])zsum, ys, n),
                                                            k.pack_row_group(&q, rg, a, (const float(*)[Q8_MAX_BLOCKS])zsum, yl, n);
                    for (int i = 0; i < n; i++) assert_same_bits(yl + (size_t)i * rows, ys + (size_t)i * rows, (size_t)rows, "pack", levels[li]);
                }
                for (int r = 0; r < rows; r++) {
                    s.pack_dequant_row(&q, r, ds);
                    k.pack_dequant_row(&q, r, dl);
                    assert_same_bits(dl, ds, (size_t)cols, "pack dequant", levels[li]);
                }
            }
            /* the pack's sums are the stored layout's sums, in the pack's order: to the scalar row kernel's
             * result within f32 rounding */
            for (int r = 0; r < rows; r++) s.q8act_row(&q, r, a, yl, 1);
            for (int rg = 0; rg < rows / 8; rg++) s.pack_row_group(&q, rg, a, (const float(*)[Q8_MAX_BLOCKS])zsum, ys, 1);
            cr_assert_lt(vec_max_rel_diff(ys, yl, (size_t)rows), 1e-5, "%s pack vs stored layout", name);
        }
        qtensor_free(&q);
    }
    cr_assert_geq(ran, 6, "cols %d: %d formats", cols, ran);
    free(ys), free(yl), free(ds), free(dl), free(codes), free(a), free(w), free(x);
}

/* 10 blocks of 32 a row (groups of 160: 5 blocks), then 11 (an odd block after the two-block steps); a
 * format whose groups do not divide the row is skipped on that shape */
Test(kernels, quantized_kernels_equal_scalar)
{
    check_quantized(320);
    check_quantized(352);
}

Test(kernels, w8a8_dot_is_the_integer_sum)
{
    int8_t a[203], b[203];
    for (int i = 0; i < 203; i++) a[i] = (int8_t)((i * 37) % 255 - 127), b[i] = (int8_t)((i * 91 + 5) % 255 - 127);
    cpu_isa levels[ISA_COUNT];
    const int nl = usable_levels(levels);
    for (int n = 0; n <= 203; n += 29) {
        int32_t want = 0;
        for (int i = 0; i < n; i++) want += a[i] * b[i];
        cr_assert_eq(table_of(ISA_SCALAR).dot_i8(a, b, n), want);
        for (int li = 0; li < nl; li++) cr_assert_eq(table_of(levels[li]).dot_i8(a, b, n), want, "%s n=%d", isa_name(levels[li]), n);
    }
}

Test(kernels, read_probe_sums_what_it_reads)
{
    const size_t seg = 4096;
    float *p = malloc(8 * seg * sizeof(float));
    for (size_t i = 0; i < 8 * seg; i++) p[i] = (float)(i % 5) * 0.25f; /* exact sums */
    double want = 0;
    for (size_t i = 0; i < 8 * seg; i++) want += p[i];
    cpu_isa levels[ISA_COUNT + 1];
    int nl = usable_levels(levels);
    levels[nl++] = ISA_SCALAR;
    for (int li = 0; li < nl; li++) cr_assert_eq(table_of(levels[li]).read_sum8(p, seg), (float)want, "%s", isa_name(levels[li]));
    free(p);
}

/* names round-trip; a level this build or CPU lacks is refused with a message naming it */
Test(kernels, levels_are_named_and_refused_when_missing)
{
    for (int l = 0; l < ISA_COUNT; l++) {
        cpu_isa back;
        cr_assert_eq(isa_parse(isa_name((cpu_isa)l), &back), 0);
        cr_assert_eq(back, (cpu_isa)l);
    }
    cpu_isa none;
    cr_assert_eq(isa_parse("avx3", &none), -1);
    cr_assert(isa_compiled(ISA_SCALAR) && isa_cpu_has(ISA_SCALAR));
    cpu_isa missing = ISA_COUNT;
    for (int l = 0; l < ISA_COUNT; l++)
        if (!isa_compiled((cpu_isa)l)) missing = (cpu_isa)l;
    cr_assert_neq(missing, ISA_COUNT, "a build has the levels of one architecture only");
    cpet_err err;
    cr_assert_eq(isa_use(missing, &err), -1);
    cr_assert(strstr(err.msg, isa_name(missing)) != NULL, "%s", err.msg);
    cr_assert_eq(isa_use(isa_best(), &err), 0, "%s", err.msg);
    cr_assert_eq(isa_active(), isa_best());
    setenv("CPET_ISA", "avx3", 1);
    cr_assert_eq(isa_init_from_env(&err), -1);
    cr_assert(strstr(err.msg, "CPET_ISA=avx3") != NULL, "%s", err.msg);
    setenv("CPET_ISA", "scalar", 1);
    cr_assert_eq(isa_init_from_env(&err), 0, "%s", err.msg);
    cr_assert_eq(isa_active(), ISA_SCALAR);
    unsetenv("CPET_ISA");
}

/* activation codes round halves away from zero, as roundf (llama.cpp's quantize_row_q8_0): a block whose
 * absmax is 127 has scale 1, so its codes are its values rounded */
Test(kernels, activation_codes_round_halves_away_from_zero)
{
    const float v[] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 0.49999997f, -0.49999997f, 1.5f, -126.5f, 126.49999f, 3.4999998f, -0.0f, 0.0f, 7.5f, -7.5f, 64.50001f};
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = v[j % 16];
    q8_rows *a = malloc(sizeof *a);
    int8_t codes[32];
    quantize_q8_rows(x, 1, 32, codes, a);
    cr_assert_eq(a->d[0][0], 1.0f);
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
        cr_assert_eq(codes[j], (int8_t)roundf(x[j]), "x = %.9g: code %d, roundf %g", (double)x[j], codes[j], (double)roundf(x[j]));
        sum += codes[j];
    }
    cr_assert_eq(a->sum[0][0], sum);
    free(a);
}

/* the front door: a level that is not one, or one this build or CPU lacks, from CPET_ISA or bench --isa, is a
 * one-line error naming it and exit 2, before any work; a level the CPU has runs */
Test(kernels, the_cli_refuses_a_bad_level_in_one_line)
{
    char cmd[1024], out[4096];
    const char *missing = isa_compiled(ISA_NEON) ? "avx2" : "neon"; /* a build has one architecture's levels */
    const struct {
        const char *env, *args, *want;
    } cases[] = {
        {"CPET_ISA=avx3", "isa", "CPET_ISA=avx3: not an instruction set"},
        {"", "bench gemv --isa avx3 --rows 8 --cols 128 --reps 1", "--isa avx3: not an instruction set"},
        {"", "bench gemv --rows 8 --cols 128 --reps 1 --isa", "--isa needs a level"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(cmd, sizeof cmd, "%s %s %s", cases[k].env, CPET_BINARY, cases[k].args);
        cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s: %s", cmd, out);
        cr_assert(strstr(out, cases[k].want) != NULL, "%s: %s", cmd, out);
        cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    }
    snprintf(cmd, sizeof cmd, "CPET_ISA=%s %s isa", missing, CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "this build has no kernels for it"), "%s", out);
    snprintf(cmd, sizeof cmd, "CPET_ISA=scalar %s isa", CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "| scalar | yes | yes | **yes** |"), "%s", out);
}
