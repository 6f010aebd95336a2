/* Input files for karpathy/llm.c's train_gpt2.c, written into the current directory by bench/peers/llmc
 * (compiled there at run time; no llm.c code here, only its documented file layouts):
 *   gpt2_124M.bin         checkpoint: 256 int32 header {20240326, 3, maxT, V, L, NH, C, Vp}, then f32 tensors in
 *                         train_gpt2.c's order (wte Vp*C, wpe maxT*C, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb,
 *                         ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb); weights N(0, 0.02), LN gains 1,
 *                         biases 0, padded vocabulary rows 0
 *   dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin
 *                         token files: 256 int32 header {20240520, 1, ntok}, then ntok uint16 tokens, uniform < V
 *   gpt2_tokenizer.bin    256 uint32 header {20240328, 2, V, eot = V - 1}, then V one-byte tokens (so the
 *                         sampling at steps 20 and 40 has a defined EOT token)
 * Usage: llmc_fixture L NH C [V 50257] [Vp 50304] [maxT 1024] [ntok 65537] [seed 0]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static float gauss(void) /* Box-Muller */
{
    double u = ((next() >> 11) + 1.0) / 9007199254740993.0, v = (next() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void put(FILE *f, const void *p, size_t size, size_t n)
{
    if (fwrite(p, size, n, f) != n) {
        perror("llmc_fixture: write");
        exit(1);
    }
}

/* n floats: kind 0 = N(0, 0.02), 1 = ones, 2 = zeros */
static void tensor(FILE *f, size_t n, int kind)
{
    static float buf[1 << 16];
    while (n > 0) {
        size_t k = n < (1 << 16) ? n : (1 << 16);
        for (size_t i = 0; i < k; i++) buf[i] = kind == 0 ? 0.02f * gauss() : kind == 1 ? 1.0f : 0.0f;
        put(f, buf, sizeof(float), k);
        n -= k;
    }
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

static void tokens(const char *path, int V, long ntok)
{
    FILE *f = create(path);
    int32_t h[256] = {20240520, 1, (int32_t)ntok};
    put(f, h, sizeof h[0], 256);
    for (long i = 0; i < ntok; i++) {
        uint16_t t = (uint16_t)(next() % (uint64_t)V);
        put(f, &t, sizeof t, 1);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: llmc_fixture L NH C [V 50257] [Vp 50304] [maxT 1024] [ntok 65537] [seed 0]\n");
        return 2;
    }
    size_t L = strtoul(argv[1], 0, 10), NH = strtoul(argv[2], 0, 10), C = strtoul(argv[3], 0, 10);
    size_t V = argc > 4 ? strtoul(argv[4], 0, 10) : 50257, Vp = argc > 5 ? strtoul(argv[5], 0, 10) : 50304;
    size_t maxT = argc > 6 ? strtoul(argv[6], 0, 10) : 1024;
    long ntok = argc > 7 ? strtol(argv[7], 0, 10) : 65537;
    rng ^= (argc > 8 ? strtoull(argv[8], 0, 10) : 0) * 0x2545f4914f6cdd1dull;
    if (!L || !NH || !C || C % NH || V < 2 || V > 65536 || Vp < V || maxT < 1 || ntok < 2) {
        fprintf(stderr, "llmc_fixture: need L, NH, C >= 1 with NH dividing C, 2 <= V <= 65536, Vp >= V, maxT >= 1, ntok >= 2\n");
        return 2;
    }
    FILE *f = create("gpt2_124M.bin");
    int32_t h[256] = {20240326, 3, (int32_t)maxT, (int32_t)V, (int32_t)L, (int32_t)NH, (int32_t)C, (int32_t)Vp};
    put(f, h, sizeof h[0], 256);
    tensor(f, V * C, 0);
    tensor(f, (Vp - V) * C, 2);              /* wte's padded rows */
    tensor(f, maxT * C, 0);                  /* wpe */
    tensor(f, L * C, 1), tensor(f, L * C, 2); /* ln1w, ln1b */
    tensor(f, L * 3 * C * C, 0), tensor(f, L * 3 * C, 2);
    tensor(f, L * C * C, 0), tensor(f, L * C, 2);
    tensor(f, L * C, 1), tensor(f, L * C, 2); /* ln2w, ln2b */
    tensor(f, L * 4 * C * C, 0), tensor(f, L * 4 * C, 2);
    tensor(f, L * C * 4 * C, 0), tensor(f, L * C, 2);
    tensor(f, C, 1), tensor(f, C, 2); /* lnfw, lnfb */
    fclose(f);

    mkdir("dev", 0755), mkdir("dev/data", 0755), mkdir("dev/data/tinyshakespeare", 0755);
    tokens("dev/data/tinyshakespeare/tiny_shakespeare_train.bin", (int)V, ntok);
    tokens("dev/data/tinyshakespeare/tiny_shakespeare_val.bin", (int)V, ntok);

    f = create("gpt2_tokenizer.bin");
    uint32_t th[256] = {20240328, 2, (uint32_t)V, (uint32_t)(V - 1)};
    put(f, th, sizeof th[0], 256);
    for (size_t i = 0; i < V; i++) {
        unsigned char tok[2] = {1, (unsigned char)('a' + i % 26)};
        put(f, tok, 1, 2);
    }
    fclose(f);
    return 0;
}
