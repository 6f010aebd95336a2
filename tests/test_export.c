/* cpet export: GGUF (write, read back, load, logits) and llama2.c (decoded by a reader and forward written
 * here from run.c's layout), the RoPE row permutation, bad files and refusals. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress.h"
#include "gguf.h"
#include "helpers.h"
#include "llama2c.h"
#include "model.h"
#include "quant.h"
#include "tensor.h"
#include "tokenizer.h"

/* ---- small helpers ---- */

static void load_tiny(model *m, tokenizer *tok, char *dir, size_t n)
{
    cpet_err err;
    char path[600];
    make_temp_dir(dir, n);
    make_tiny_model_dir(dir, 64, 128, 2); /* D 64, FFN 128, 4 heads of 16, 2 KV heads, vocab 300, untied */
    snprintf(path, sizeof path, "%s/model", dir);
    cr_assert_eq(model_load(m, path, &err), 0, "%s", err.msg);
    if (tok) {
        snprintf(path, sizeof path, "%s/model/tokenizer.json", dir);
        cr_assert_eq(tokenizer_load(tok, path, &err), 0, "%s", err.msg);
    }
}

static float *logits_copy(model *m, const int *ids, int T)
{
    cpet_err err;
    cr_assert_eq(model_forward(m, ids, NULL, 1, T, &err), 0, "%s", err.msg);
    size_t n = (size_t)T * m->cfg.vocab_size;
    float *out = malloc(n * sizeof(float));
    memcpy(out, model_logits(m), n * sizeof(float));
    return out;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int temp_files_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* interleaved row index of HF (rotate_half) row r in a head of hd, written out independently of the engine */
static int il_row_of_hf(int r, int hd)
{
    int h = r / hd, j = r % hd, half = hd / 2;
    int t = j / half, i = j % half;
    return h * hd + 2 * i + t;
}

/* ---- an independent GGUF walker (raw bytes, no engine code) ---- */

typedef struct {
    char name[96];
    uint32_t n_dims, type;
    uint64_t ne[4], offset;
} raw_tensor;

typedef struct {
    uint32_t version;
    uint64_t n_tensors, n_kv;
    raw_tensor t[64];
    size_t data_start;
} raw_gguf;

static uint64_t rd64(const uint8_t *b, size_t *p)
{
    uint64_t v;
    memcpy(&v, b + *p, 8);
    *p += 8;
    return v;
}

static uint32_t rd32(const uint8_t *b, size_t *p)
{
    uint32_t v;
    memcpy(&v, b + *p, 4);
    *p += 4;
    return v;
}

static void skip_value(const uint8_t *b, size_t *p, uint32_t type)
{
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        uint64_t len = rd64(b, p);
        *p += len;
    } else if (type == 9) {
        uint32_t et = rd32(b, p);
        uint64_t n = rd64(b, p);
        for (uint64_t i = 0; i < n; i++) skip_value(b, p, et);
    } else {
        cr_assert(type < 13 && sz[type] > 0, "bad value type %u", type);
        *p += (size_t)sz[type];
    }
}

static void raw_parse(const uint8_t *b, size_t size, raw_gguf *g)
{
    size_t p = 0;
    cr_assert(size > 24);
    cr_assert_eq(memcmp(b, "GGUF", 4), 0);
    p = 4;
    g->version = rd32(b, &p);
    g->n_tensors = rd64(b, &p);
    g->n_kv = rd64(b, &p);
    cr_assert(g->n_tensors <= 64);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        uint64_t len = rd64(b, &p);
        p += len;
        uint32_t type = rd32(b, &p);
        skip_value(b, &p, type);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        raw_tensor *t = &g->t[i];
        uint64_t len = rd64(b, &p);
        cr_assert(len < sizeof t->name);
        memcpy(t->name, b + p, len);
        t->name[len] = 0;
        p += len;
        t->n_dims = rd32(b, &p);
        for (uint32_t d = 0; d < t->n_dims; d++) t->ne[d] = rd64(b, &p);
        t->type = rd32(b, &p);
        t->offset = rd64(b, &p);
    }
    g->data_start = (p + 31) / 32 * 32;
}

/* expected bytes of a [rows, cols] weight in the type: the engine's quantizer / converter on the rows in
 * interleaved order when heads > 0 */
static void *expected_bytes(const float *w, int rows, int cols, uint32_t type, int permute, int hd, size_t *nbytes)
{
    size_t n = (size_t)rows * cols;
    float *pw = malloc(n * sizeof(float));
    for (int r = 0; r < rows; r++)
        memcpy(pw + (size_t)(permute ? il_row_of_hf(r, hd) : r) * cols, w + (size_t)r * cols, (size_t)cols * sizeof(float));
    if (type == GGML_T_F32) {
        *nbytes = n * 4;
        return pw;
    }
    if (type == GGML_T_F16) {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = cpet_f32_to_f16(pw[i]);
        free(pw);
        *nbytes = n * 2;
        return h;
    }
    qtensor q;
    cpet_err err;
    cr_assert_eq(quantize_rtn(&q, type == GGML_T_Q8_0 ? QF_Q8_0 : QF_Q4_0, pw, rows, cols, 0, &err), 0, "%s", err.msg);
    *nbytes = q.data_bytes;
    cr_assert_eq(q.data_bytes, (size_t)rows * cols / 32 * (type == GGML_T_Q8_0 ? 34 : 18));
    void *out = malloc(q.data_bytes);
    memcpy(out, q.data, q.data_bytes);
    qtensor_free(&q);
    free(pw);
    return out;
}

static const char *const lin_gguf[LIN_PER_LAYER] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

/* ---- GGUF round trip ---- */

Test(export, gguf_write_read_round_trip, .timeout = 120)
{
    char dir[256], path[600];
    model m;
    tokenizer tok;
    cpet_err err;
    load_tiny(&m, &tok, dir, sizeof dir);
    const uint32_t types[] = {GGML_T_F32, GGML_T_F16, GGML_T_Q8_0, GGML_T_Q4_0};
    for (int ti = 0; ti < 4; ti++) {
        uint32_t type = types[ti];
        snprintf(path, sizeof path, "%s/m%d.gguf", dir, ti);
        gguf_export_options o = {type, 0, 0};
        cr_assert_eq(gguf_export_model(&m, &tok, &o, "tiny", path, &err), 0, "%s", err.msg);
        size_t size;
        uint8_t *bytes = (uint8_t *)read_all(path, &size);
        raw_gguf raw;
        raw_parse(bytes, size, &raw);
        cr_assert_eq(raw.version, 3);
        cr_assert_eq(raw.n_tensors, 1 + 2 * 9 + 2, "untied: embedding, 2 x 9 layer tensors, output norm, output");

        gguf_file g;
        cr_assert_eq(gguf_open(&g, path, &err), 0, "%s", err.msg);
        cr_assert_eq(g.version, 3);
        cr_assert_eq(g.alignment, 32);
        cr_assert_eq((uint64_t)g.n_kv, raw.n_kv);
        const gguf_kv *kv = gguf_find_kv(&g, "general.architecture");
        cr_assert(kv && kv->type == GGUF_VT_STRING && kv->s.len == 5 && !memcmp(kv->s.ptr, "llama", 5));
        struct {
            const char *key;
            int64_t v;
        } ints[] = {{"general.alignment", 32}, {"llama.context_length", 64}, {"llama.embedding_length", 64},
                    {"llama.block_count", 2}, {"llama.feed_forward_length", 128}, {"llama.attention.head_count", 4},
                    {"llama.attention.head_count_kv", 2}, {"llama.rope.dimension_count", 16},
                    {"tokenizer.ggml.bos_token_id", 0}, {"tokenizer.ggml.eos_token_id", 0}};
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
            kv = gguf_find_kv(&g, ints[i].key);
            cr_assert(kv, "%s missing", ints[i].key);
            cr_expect_eq(kv->type, GGUF_VT_U32, "%s", ints[i].key);
            cr_expect_eq(kv->i, ints[i].v, "%s: %lld", ints[i].key, (long long)kv->i);
        }
        kv = gguf_find_kv(&g, "llama.attention.layer_norm_rms_epsilon");
        cr_assert(kv && kv->type == GGUF_VT_F32 && (float)kv->f == 1e-5f);
        kv = gguf_find_kv(&g, "llama.rope.freq_base");
        cr_assert(kv && kv->type == GGUF_VT_F32 && kv->f == 10000.0);
        /* tokenizer */
        kv = gguf_find_kv(&g, "tokenizer.ggml.model");
        cr_assert(kv && kv->s.len == 4 && !memcmp(kv->s.ptr, "gpt2", 4));
        kv = gguf_find_kv(&g, "tokenizer.ggml.tokens");
        cr_assert(kv && kv->type == GGUF_VT_ARRAY && kv->arr_type == GGUF_VT_STRING && kv->arr_n == 300);
        for (int id = 0; id < 300; id++) {
            char padname[32];
            snprintf(padname, sizeof padname, "[PAD%d]", id);
            const char *want_tok = id < tok.vocab_size && tok.token[id] ? tok.token[id] : padname;
            size_t want_len = id < tok.vocab_size && tok.token[id] ? tok.token_len[id] : strlen(padname);
            cr_assert_eq(kv->arr_str[id].len, want_len, "token %d", id);
            cr_assert_eq(memcmp(kv->arr_str[id].ptr, want_tok, want_len), 0, "token %d", id);
        }
        kv = gguf_find_kv(&g, "tokenizer.ggml.token_type");
        cr_assert(kv && kv->arr_type == GGUF_VT_I32 && kv->arr_n == 300);
        int32_t tt0, tt100;
        memcpy(&tt0, kv->arr_data, 4);
        memcpy(&tt100, kv->arr_data + 400, 4);
        cr_expect_eq(tt0, 3, "<|endoftext|> is a control token");
        cr_expect_eq(tt100, 1);
        kv = gguf_find_kv(&g, "tokenizer.ggml.merges");
        cr_assert(kv && kv->arr_type == GGUF_VT_STRING && kv->arr_n == (uint64_t)tok.n_merges);
        char want[128];
        snprintf(want, sizeof want, "%s %s", tok.token[tok.merge_left[0]], tok.token[tok.merge_right[0]]);
        cr_assert(kv->arr_str[0].len == strlen(want) && !memcmp(kv->arr_str[0].ptr, want, strlen(want)));

        /* tensor table and data, each against the raw walk and the expected bytes */
        for (uint64_t i = 0; i < raw.n_tensors; i++) {
            const raw_tensor *r = &raw.t[i];
            const gguf_tensor *t = gguf_find_tensor(&g, r->name);
            cr_assert(t, "%s", r->name);
            cr_assert_eq(t->type, r->type);
            cr_assert_eq((uint32_t)t->n_dims, r->n_dims);
            cr_assert_eq(r->offset % 32, 0);
            cr_assert_eq(t->data, g.map + raw.data_start + r->offset);
            cr_assert(raw.data_start + r->offset + t->nbytes <= size);
        }
        const raw_tensor *last = &raw.t[raw.n_tensors - 1];
        cr_assert_eq(size, raw.data_start + last->offset + (size_t)(last->ne[0] * last->ne[1] * 4), "the file ends with output.weight (f32)");
        cr_assert_eq(size % 32, 0, "every tensor, the last too, is padded to the alignment (ggml reads the padded blob)");
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < LIN_PER_LAYER; k++) {
                char name[64];
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, lin_gguf[k]);
                const gguf_tensor *t = gguf_find_tensor(&g, name);
                const linear *lin = &m.layers[l].lin[k];
                cr_assert(t && t->type == type && t->n_dims == 2 && t->ne[0] == lin->in && t->ne[1] == lin->out, "%s", name);
                size_t nb;
                void *exp = expected_bytes(lin->w, lin->out, lin->in, type, k == LIN_Q || k == LIN_K, 16, &nb);
                cr_assert_eq(t->nbytes, nb, "%s", name);
                cr_assert_eq(memcmp(t->data, exp, nb), 0, "%s (%s) differs from the expected bytes", name, ggml_type_name(type));
                free(exp);
                snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
                t = gguf_find_tensor(&g, name);
                cr_assert(t && t->type == GGML_T_F32 && t->n_dims == 1 && !memcmp(t->data, m.layers[l].attn_norm, 64 * 4));
                snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
                t = gguf_find_tensor(&g, name);
                cr_assert(t && t->type == GGML_T_F32 && !memcmp(t->data, m.layers[l].ffn_norm, 64 * 4));
            }
        const gguf_tensor *t = gguf_find_tensor(&g, "token_embd.weight");
        cr_assert(t && t->type == GGML_T_F32 && t->ne[0] == 64 && t->ne[1] == 300 && !memcmp(t->data, m.embed, 300 * 64 * 4));
        t = gguf_find_tensor(&g, "output.weight");
        cr_assert(t && t->type == GGML_T_F32 && !memcmp(t->data, m.lm_head.w, 300 * 64 * 4));
        t = gguf_find_tensor(&g, "output_norm.weight");
        cr_assert(t && !memcmp(t->data, m.final_norm, 64 * 4));
        gguf_close(&g);
        free(bytes);
    }
    tokenizer_free(&tok);
    model_free(&m);
}

/* ---- RoPE: HF rotate_half with W == interleaved with the permuted W ---- */

static void rope_hf(float *v, int n_heads, int hd, int pos, float theta)
{
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++) {
            double f = pos * pow(theta, -2.0 * i / hd);
            float c = (float)cos(f), s = (float)sin(f), *a = v + h * hd + i, *b = v + h * hd + i + hd / 2;
            float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x1 * c + x0 * s;
        }
}

static void rope_interleaved(float *v, int n_heads, int hd, int pos, float theta)
{
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++) {
            double f = pos * pow(theta, -2.0 * i / hd);
            float c = (float)cos(f), s = (float)sin(f), *a = v + h * hd + 2 * i, *b = a + 1;
            float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x0 * s + x1 * c;
        }
}

static void matvec(const float *W, const float *x, float *y, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++) s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = (float)s;
    }
}

Test(export, rope_permutation_matches_interleaved_rope)
{
    const int H = 3, hd = 8, D = 20, R = H * hd;
    float W[24 * 20], Wp[24 * 20], Wb[24 * 20], Wk[24 * 20], Wkp[24 * 20], x[20], x2[20];
    cpet_rng rng;
    rng_seed(&rng, 7);
    fill_normal(W, (size_t)R * D, 1.0f, &rng);
    fill_normal(Wk, (size_t)R * D, 1.0f, &rng);
    fill_normal(x, D, 1.0f, &rng);
    fill_normal(x2, D, 1.0f, &rng);
    gguf_permute_rows(W, Wp, H, hd, D * sizeof(float), 0);
    gguf_permute_rows(Wk, Wkp, H, hd, D * sizeof(float), 0);
    gguf_permute_rows(Wp, Wb, H, hd, D * sizeof(float), 1);
    cr_assert_eq(memcmp(W, Wb, sizeof W), 0, "the inverse permutation restores W");
    int moved = 0;
    for (int r = 0; r < R; r++) moved += memcmp(W + r * D, Wp + r * D, D * sizeof(float)) != 0;
    cr_assert_gt(moved, 0);
    for (int pos = 0; pos < 9; pos += 4) {
        float q[24], qp[24], k[24], kp[24];
        matvec(W, x, q, R, D);
        matvec(Wp, x, qp, R, D);
        matvec(Wk, x2, k, R, D);
        matvec(Wkp, x2, kp, R, D);
        rope_hf(q, H, hd, pos, 10000.0f);
        rope_hf(k, H, hd, pos + 3, 10000.0f);
        rope_interleaved(qp, H, hd, pos, 10000.0f);
        rope_interleaved(kp, H, hd, pos + 3, 10000.0f);
        for (int r = 0; r < R; r++)
            cr_assert_float_eq(qp[il_row_of_hf(r, hd)], q[r], 1e-4, "pos %d row %d: %g vs %g", pos, r, qp[il_row_of_hf(r, hd)], q[r]);
        /* attention scores per head are the same */
        for (int h = 0; h < H; h++) {
            double s = 0, sp = 0;
            for (int i = 0; i < hd; i++) {
                s += (double)q[h * hd + i] * k[h * hd + i];
                sp += (double)qp[h * hd + i] * kp[h * hd + i];
            }
            cr_assert(fabs(s - sp) <= 1e-4 * (1 + fabs(s)), "head %d: %g vs %g", h, s, sp);
        }
    }
}

/* ---- a GGUF-loaded model computes what the source computes ---- */

Test(export, gguf_loaded_model_gives_source_logits, .timeout = 120)
{
    char dir[256], path[600];
    model m, g;
    cpet_err err;
    load_tiny(&m, NULL, dir, sizeof dir);
    int ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 37 + 5) % 300;
    float *ref = logits_copy(&m, ids, 12);
    size_t n = (size_t)12 * 300;
    /* f32: the same numbers */
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    gguf_export_options o = {GGML_T_F32, 0, 0};
    cr_assert_eq(gguf_export_model(&m, NULL, &o, "tiny", path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    cr_assert_eq(g.cfg.n_kv_heads, 2);
    cr_assert_eq(g.cfg.tie_word_embeddings, 0);
    cr_assert_eq(g.cfg.bos_token_id, 0, "the BOS id travels without the tokenizer too");
    for (int i = 0; i < m.n_tensors; i++)
        cr_assert_eq(memcmp(m.tensors[i].p, g.tensors[i].p, m.tensors[i].n * 4), 0, "%s", m.tensors[i].name);
    float *got = logits_copy(&g, ids, 12);
    cr_assert_eq(memcmp(got, ref, n * sizeof(float)), 0, "f32 GGUF logits are bitwise the source's");
    free(got);
    model_free(&g);
    /* f16: close */
    snprintf(path, sizeof path, "%s/f16.gguf", dir);
    o.type = GGML_T_F16;
    cr_assert_eq(gguf_export_model(&m, NULL, &o, "tiny", path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    got = logits_copy(&g, ids, 12);
    cr_assert_lt(vec_max_rel_diff(got, ref, n), 1e-2);
    free(got);
    model_free(&g);
    /* q8_0 / q4_0: packed bases with the blocks cpet compress makes, so the same logits */
    const char *methods[] = {"q8_0", "q4_0"};
    const uint32_t types[] = {GGML_T_Q8_0, GGML_T_Q4_0};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s.gguf", dir, methods[k]);
        o.type = types[k];
        cr_assert_eq(gguf_export_model(&m, NULL, &o, "tiny", path, &err), 0, "%s", err.msg);
        cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
        model c;
        snprintf(path, sizeof path, "%s/model", dir);
        cr_assert_eq(model_load(&c, path, &err), 0, "%s", err.msg);
        compress_options co = {.group = 32, .sparsity = 0.5, .damp = 0.01};
        cr_assert_eq(compress_model(&c, methods[k], &co, NULL, &err), 0, "%s", err.msg);
        for (int l = 0; l < 2; l++)
            for (int j = 0; j < LIN_PER_LAYER; j++) {
                const qtensor *a = g.layers[l].lin[j].qw, *b = c.layers[l].lin[j].qw;
                cr_assert(a && b && a->format == b->format && a->data_bytes == b->data_bytes, "layer %d linear %d is packed", l, j);
                cr_assert_null(g.layers[l].lin[j].w, "a GGUF-loaded packed linear keeps no f32 copy");
                cr_assert_eq(memcmp(a->data, b->data, a->data_bytes), 0, "%s layer %d linear %d blocks", methods[k], l, j);
            }
        got = logits_copy(&g, ids, 12);
        float *want = logits_copy(&c, ids, 12);
        cr_assert_eq(memcmp(got, want, n * sizeof(float)), 0, "%s GGUF logits equal cpet's %s model's", methods[k], methods[k]);
        double drift = vec_max_rel_diff(got, ref, n);
        cr_assert_lt(drift, k == 0 ? 0.05 : 0.5, "%s drifts %g from the f32 logits", methods[k], drift);
        /* the packed model exports to the same file without --requantize */
        snprintf(path, sizeof path, "%s/%s_again.gguf", dir, methods[k]);
        cr_assert_eq(gguf_export_model(&c, NULL, &o, "tiny", path, &err), 0, "%s", err.msg);
        char first[600];
        snprintf(first, sizeof first, "%s/%s.gguf", dir, methods[k]);
        size_t n1, n2;
        char *b1 = read_all(first, &n1), *b2 = read_all(path, &n2);
        cr_assert(n1 == n2 && !memcmp(b1, b2, n1), "a %s model re-exports bit-identically", methods[k]);
        free(b1);
        free(b2);
        free(got);
        free(want);
        model_free(&c);
        model_free(&g);
    }
    /* --quantize-embeddings: token_embd and output in q8_0 too, both kept packed when loaded */
    snprintf(path, sizeof path, "%s/q8e.gguf", dir);
    gguf_export_options oe = {GGML_T_Q8_0, 0, 1};
    char first_path[600];
    cr_assert_eq(gguf_export_model(&m, NULL, &oe, "tiny", path, &err), 0, "%s", err.msg);
    size_t fsize;
    char *fbytes = read_all(path, &fsize);
    free(fbytes);
    cr_assert_eq(fsize % 32, 0, "the last tensor (q8_0 output, 20400 bytes) is padded to the alignment too");
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    qtensor qe;
    float *deq = malloc(300 * 64 * sizeof(float));
    cr_assert_eq(quantize_rtn(&qe, QF_Q8_0, m.embed, 300, 64, 0, &err), 0, "%s", err.msg);
    qtensor_dequantize(&qe, deq);
    cr_assert(g.embed_q && g.embed_q->format == QF_Q8_0 && !g.embed, "a q8_0 token_embd stays packed, no f32 copy");
    cr_assert_eq(memcmp(qe.data, g.embed_q->data, qe.data_bytes), 0);
    float rows[3 * 64];
    int look[3] = {0, 299, 17};
    model_embed_tokens(&g, look, 3, rows);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(memcmp(rows + i * 64, deq + look[i] * 64, 64 * sizeof(float)), 0, "token_embd is looked up dequantized");
    qtensor_free(&qe);
    cr_assert_eq(quantize_rtn(&qe, QF_Q8_0, m.lm_head.w, 300, 64, 0, &err), 0, "%s", err.msg);
    cr_assert(g.lm_head.qw && g.lm_head.qw->format == QF_Q8_0 && !g.lm_head.w, "a q8_0 output.weight runs packed");
    cr_assert_eq(memcmp(qe.data, g.lm_head.qw->data, qe.data_bytes), 0);
    qtensor_free(&qe);
    free(deq);
    /* re-exported as it is: the packed head's blocks go out unchanged, no --requantize needed */
    snprintf(path, sizeof path, "%s/q8e_again.gguf", dir);
    cr_assert_eq(gguf_export_model(&g, NULL, &oe, "tiny", path, &err), 0, "%s", err.msg);
    snprintf(first_path, sizeof first_path, "%s/q8e.gguf", dir);
    size_t s1, s2;
    char *f1 = read_all(first_path, &s1), *f2 = read_all(path, &s2);
    cr_assert(s1 == s2 && !memcmp(f1, f2, s1), "a GGUF-loaded q8_0 model re-exports bit-identically");
    free(f1);
    free(f2);
    model_free(&g);
    free(ref);
    model_free(&m);
}

Test(export, gguf_tied_mha_model_round_trips)
{
    char dir[256], path[600];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    model_config c = small_config(4, 4, ACT_SILU, 1, 500000.0f); /* head_dim 8 x 4 heads != hidden 24 */
    model m, g;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.2f, 11);
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    gguf_export_options o = {GGML_T_F32, 0, 0};
    cr_assert_eq(gguf_export_model(&m, NULL, &o, "small", path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    cr_assert(g.cfg.tie_word_embeddings && g.cfg.head_dim == 8 && g.cfg.rope_theta == 500000.0f && g.cfg.n_kv_heads == 4);
    int ids[6] = {1, 5, 9, 2, 30, 7};
    float *a = logits_copy(&m, ids, 6), *b = logits_copy(&g, ids, 6);
    cr_assert_eq(memcmp(a, b, 6 * 37 * sizeof(float)), 0);
    free(a);
    free(b);
    model_free(&g);
    model_free(&m);
}

/* ---- bad GGUF files ---- */

static void expect_load_error(const char *path, const char *needle)
{
    model m;
    cpet_err err = {{0}};
    cr_assert_neq(gguf_load_model(&m, path, &err), 0, "%s loaded", path);
    cr_assert(strstr(err.msg, path), "error names the file: %s", err.msg);
    cr_assert(strstr(err.msg, needle), "error says '%s': %s", needle, err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
}

/* A small random model (d 32, 2 heads, 1 KV head) written as DIR/good.gguf with the given linear type;
 * layers/vocab 0 keep small_config's. The model stays in *m (caller frees). */
static void write_small_gguf(const char *dir, int ffn, int layers, int vocab, int type, model *m, char *path, size_t n)
{
    cpet_err err;
    model_config c = small_config(2, 1, ACT_SILU, 0, 10000.0f);
    c.hidden_size = 32;
    c.head_dim = 16;
    c.intermediate_size = ffn;
    if (layers) c.n_layers = layers;
    if (vocab) c.vocab_size = vocab;
    cr_assert_eq(model_create(m, &c, &err), 0, "%s", err.msg);
    model_init_random(m, 0.1f, 5);
    snprintf(path, n, "%s/good.gguf", dir);
    gguf_export_options o = {type, 0, 0};
    cr_assert_eq(gguf_export_model(m, NULL, &o, "small", path, &err), 0, "%s", err.msg);
}

Test(export, bad_gguf_files_are_refused, .timeout = 60)
{
    char dir[256], path[600], bad[600];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    model m;
    write_small_gguf(dir, 64, 0, 0, GGML_T_Q8_0, &m, path, sizeof path);
    size_t size;
    uint8_t *bytes = (uint8_t *)read_all(path, &size);
    /* truncated: in the header, the metadata, the tensor infos, the data */
    size_t cuts[] = {10, 40, size / 3, size - 1};
    for (int i = 0; i < 4; i++) {
        snprintf(bad, sizeof bad, "%s/trunc%d.gguf", dir, i);
        write_bytes(bad, bytes, cuts[i]);
        expect_load_error(bad, "truncated");
    }
    /* an unknown tensor type, and a known one cpet does not read */
    raw_gguf raw;
    raw_parse(bytes, size, &raw);
    size_t p = 24; /* find the first tensor's type field: walk again to its info */
    for (uint64_t i = 0; i < raw.n_kv; i++) {
        uint64_t len = rd64(bytes, &p);
        p += len;
        uint32_t type = rd32(bytes, &p);
        skip_value(bytes, &p, type);
    }
    uint64_t len = rd64(bytes, &p);
    p += len;
    uint32_t nd = rd32(bytes, &p);
    p += 8 * nd;
    uint32_t orig;
    memcpy(&orig, bytes + p, 4);
    cr_assert_eq(orig, GGML_T_F32, "the first tensor is token_embd (f32)");
    uint32_t unknown = 99, q4k = 12;
    memcpy(bytes + p, &unknown, 4);
    snprintf(bad, sizeof bad, "%s/unknown_type.gguf", dir);
    write_bytes(bad, bytes, size);
    expect_load_error(bad, "ggml type 99");
    memcpy(bytes + p, &q4k, 4);
    snprintf(bad, sizeof bad, "%s/q4k.gguf", dir);
    write_bytes(bad, bytes, size);
    expect_load_error(bad, "q4_K");
    /* not GGUF at all */
    snprintf(bad, sizeof bad, "%s/notgguf.gguf", dir);
    write_text(bad, "this is not a GGUF file, just some text of more than 24 bytes");
    expect_load_error(bad, "not a GGUF file");
    /* another architecture */
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "gpt2");
    gguf_set_u32(w, "general.alignment", 32);
    float v[32] = {0};
    int64_t ne[1] = {32};
    cr_assert_eq(gguf_add_tensor(w, "output_norm.weight", 1, ne, GGML_T_F32, v, 0, &err), 0, "%s", err.msg);
    snprintf(bad, sizeof bad, "%s/gpt2.gguf", dir);
    cr_assert_eq(gguf_write(w, bad, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    expect_load_error(bad, "architecture 'gpt2'");
    /* a llama file that misses a tensor: the good file's metadata and tensors but one */
    gguf_file good;
    cr_assert_eq(gguf_open(&good, path, &err), 0, "%s", err.msg);
    w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "llama");
    const char *keys[] = {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                          "llama.attention.head_count", "llama.attention.head_count_kv", "llama.context_length"};
    for (int i = 0; i < 6; i++) gguf_set_u32(w, keys[i], (uint32_t)gguf_find_kv(&good, keys[i])->i);
    for (int i = 0; i < good.n_tensors; i++)
        if (strcmp(good.tensors[i].name, "blk.1.ffn_down.weight") != 0)
            cr_assert_eq(gguf_add_tensor(w, good.tensors[i].name, good.tensors[i].n_dims, good.tensors[i].ne, good.tensors[i].type,
                                         good.tensors[i].data, 0, &err), 0, "%s", err.msg);
    snprintf(bad, sizeof bad, "%s/missing.gguf", dir);
    cr_assert_eq(gguf_write(w, bad, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_close(&good);
    expect_load_error(bad, "tensor 'blk.1.ffn_down.weight' is missing");
    cr_assert_eq(temp_files_in(dir), 0);
    free(bytes);
    model_free(&m);
}

/* ---- llama2.c: a reader and forward written from run.c's layout ---- */

typedef struct {
    int dim, hidden, L, H, KV, vocab, seq, shared, gs;
    float *emb, *att_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3, *final_norm, *wcls;
} l2c;

static float *take_f32(const uint8_t *b, size_t *p, size_t n, size_t size)
{
    cr_assert(*p + n * 4 <= size, "file too short");
    float *out = malloc(n * 4);
    memcpy(out, b + *p, n * 4);
    *p += n * 4;
    return out;
}

/* int8 codes then f32 scales of n_tensors tensors of `each` values, dequantized */
static float *take_q8(const uint8_t *b, size_t *p, int n_tensors, size_t each, int gs, size_t size)
{
    float *out = malloc((size_t)n_tensors * each * 4);
    for (int t = 0; t < n_tensors; t++) {
        const int8_t *q = (const int8_t *)(b + *p);
        cr_assert(*p + each + each / gs * 4 <= size, "file too short");
        *p += each;
        const uint8_t *s = b + *p;
        *p += each / (size_t)gs * 4;
        for (size_t i = 0; i < each; i++) {
            float sc;
            memcpy(&sc, s + i / (size_t)gs * 4, 4);
            out[(size_t)t * each + i] = (float)q[i] * sc;
        }
    }
    return out;
}

static void l2c_read(l2c *w, const char *path, int int8)
{
    size_t size, p = 0;
    uint8_t *b = (uint8_t *)read_all(path, &size);
    int32_t h[7];
    if (int8) {
        uint32_t magic;
        int32_t version;
        memcpy(&magic, b, 4);
        memcpy(&version, b + 4, 4);
        cr_assert_eq(magic, 0x616b3432u);
        cr_assert_eq(version, 2);
        memcpy(h, b + 8, 28);
        w->shared = b[36];
        memcpy(&w->gs, b + 37, 4);
        for (int i = 41; i < 256; i++) cr_assert_eq(b[i], 0, "header padding");
        p = 256;
    } else {
        memcpy(h, b, 28);
        p = 28;
        w->shared = h[5] > 0;
    }
    w->dim = h[0], w->hidden = h[1], w->L = h[2], w->H = h[3], w->KV = h[4], w->vocab = abs(h[5]), w->seq = h[6];
    size_t D = (size_t)w->dim, F = (size_t)w->hidden, L = (size_t)w->L, hs = D / (size_t)w->H, kvd = hs * (size_t)w->KV, V = (size_t)w->vocab;
    if (!int8) {
        w->emb = take_f32(b, &p, V * D, size);
        w->att_norm = take_f32(b, &p, L * D, size);
        w->wq = take_f32(b, &p, L * D * D, size);
        w->wk = take_f32(b, &p, L * D * kvd, size);
        w->wv = take_f32(b, &p, L * D * kvd, size);
        w->wo = take_f32(b, &p, L * D * D, size);
        w->ffn_norm = take_f32(b, &p, L * D, size);
        w->w1 = take_f32(b, &p, L * D * F, size);
        w->w2 = take_f32(b, &p, L * D * F, size);
        w->w3 = take_f32(b, &p, L * D * F, size);
        w->final_norm = take_f32(b, &p, D, size);
        p += (size_t)w->seq * hs / 2 * 4 * 2; /* freq_cis real, imag */
        w->wcls = w->shared ? w->emb : take_f32(b, &p, V * D, size);
    } else {
        w->att_norm = take_f32(b, &p, L * D, size);
        w->ffn_norm = take_f32(b, &p, L * D, size);
        w->final_norm = take_f32(b, &p, D, size);
        w->emb = take_q8(b, &p, 1, V * D, w->gs, size);
        w->wq = take_q8(b, &p, w->L, D * D, w->gs, size);
        w->wk = take_q8(b, &p, w->L, D * kvd, w->gs, size);
        w->wv = take_q8(b, &p, w->L, D * kvd, w->gs, size);
        w->wo = take_q8(b, &p, w->L, D * D, w->gs, size);
        w->w1 = take_q8(b, &p, w->L, D * F, w->gs, size);
        w->w2 = take_q8(b, &p, w->L, D * F, w->gs, size);
        w->w3 = take_q8(b, &p, w->L, D * F, w->gs, size);
        w->wcls = w->shared ? w->emb : take_q8(b, &p, 1, V * D, w->gs, size);
    }
    cr_assert_eq(p, size, "the file holds exactly run.c's layout (%zu of %zu bytes read)", p, size);
    free(b);
}

static void l2c_free(l2c *w)
{
    if (w->wcls != w->emb) free(w->wcls);
    float *all[] = {w->emb, w->att_norm, w->wq, w->wk, w->wv, w->wo, w->ffn_norm, w->w1, w->w2, w->w3, w->final_norm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void l2c_rmsnorm(float *o, const float *x, const float *w, int n)
{
    float ss = 0;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / n + 1e-5f);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

/* run.c's forward over a sequence: logits [T, vocab] */
static float *l2c_forward(const l2c *w, const int *ids, int T)
{
    int D = w->dim, F = w->hidden, hs = D / w->H, kvd = hs * w->KV, kv_mul = w->H / w->KV;
    float *logits = malloc((size_t)T * w->vocab * 4), *kc = calloc((size_t)w->L * T * kvd, 4), *vc = calloc((size_t)w->L * T * kvd, 4);
    float x[256], xb[256], xb2[256], q[256], hb[512], hb2[512], att[64];
    cr_assert(D <= 256 && F <= 512 && T <= 64);
    for (int pos = 0; pos < T; pos++) {
        memcpy(x, w->emb + (size_t)ids[pos] * D, D * 4);
        for (int l = 0; l < w->L; l++) {
            l2c_rmsnorm(xb, x, w->att_norm + l * D, D);
            float *k = kc + ((size_t)l * T + pos) * kvd, *v = vc + ((size_t)l * T + pos) * kvd;
            matvec(w->wq + (size_t)l * D * D, xb, q, D, D);
            matvec(w->wk + (size_t)l * D * kvd, xb, k, kvd, D);
            matvec(w->wv + (size_t)l * D * kvd, xb, v, kvd, D);
            for (int i = 0; i < D; i += 2) {
                int hd = i % hs;
                float freq = 1.0f / powf(10000.0f, hd / (float)hs), val = pos * freq, fcr = cosf(val), fci = sinf(val);
                for (int r = 0; r < (i < kvd ? 2 : 1); r++) {
                    float *vec = r == 0 ? q : k, v0 = vec[i], v1 = vec[i + 1];
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                }
            }
            for (int h = 0; h < w->H; h++) {
                float mx = -1e30f, sum = 0;
                for (int t = 0; t <= pos; t++) {
                    const float *kt = kc + ((size_t)l * T + t) * kvd + (h / kv_mul) * hs;
                    float s = 0;
                    for (int i = 0; i < hs; i++) s += q[h * hs + i] * kt[i];
                    att[t] = s / sqrtf((float)hs);
                    mx = att[t] > mx ? att[t] : mx;
                }
                for (int t = 0; t <= pos; t++) sum += (att[t] = expf(att[t] - mx));
                for (int i = 0; i < hs; i++) xb[h * hs + i] = 0;
                for (int t = 0; t <= pos; t++) {
                    const float *vt = vc + ((size_t)l * T + t) * kvd + (h / kv_mul) * hs;
                    for (int i = 0; i < hs; i++) xb[h * hs + i] += att[t] / sum * vt[i];
                }
            }
            matvec(w->wo + (size_t)l * D * D, xb, xb2, D, D);
            for (int i = 0; i < D; i++) x[i] += xb2[i];
            l2c_rmsnorm(xb, x, w->ffn_norm + l * D, D);
            matvec(w->w1 + (size_t)l * D * F, xb, hb, F, D);
            matvec(w->w3 + (size_t)l * D * F, xb, hb2, F, D);
            for (int i = 0; i < F; i++) hb[i] = hb[i] / (1.0f + expf(-hb[i])) * hb2[i];
            matvec(w->w2 + (size_t)l * D * F, hb, xb, D, F);
            for (int i = 0; i < D; i++) x[i] += xb[i];
        }
        l2c_rmsnorm(xb, x, w->final_norm, D);
        matvec(w->wcls, xb, logits + (size_t)pos * w->vocab, w->vocab, D);
    }
    free(kc);
    free(vc);
    return logits;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

Test(export, llama2c_fp32_decodes_to_cpet_logits, .timeout = 120)
{
    char dir[256], path[600], cmd[2048], out[4096];
    model m;
    load_tiny(&m, NULL, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    snprintf(cmd, sizeof cmd, "%s export %s/model --format llama2c -o %s", CPET_BINARY, dir, path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    l2c w;
    memset(&w, 0, sizeof w);
    l2c_read(&w, path, 0);
    cr_assert(w.dim == 64 && w.hidden == 128 && w.L == 2 && w.H == 4 && w.KV == 2 && w.vocab == 300 && w.seq == 64 && !w.shared);
    cr_assert_eq(memcmp(w.wv, m.layers[0].lin[LIN_V].w, 32 * 64 * 4), 0, "wv is stored as is");
    cr_assert_eq(memcmp(w.w2, m.layers[0].lin[LIN_DOWN].w, 64 * 128 * 4), 0, "w2 is down_proj");
    int ids[10];
    for (int i = 0; i < 10; i++) ids[i] = (i * 53 + 11) % 300;
    float *want = logits_copy(&m, ids, 10), *got = l2c_forward(&w, ids, 10);
    cr_assert_lt(vec_max_rel_diff(got, want, 10 * 300), 1e-4, "run.c's forward on the file gives cpet's logits");
    for (int t = 0; t < 10; t++) cr_assert_eq(argmax(got + t * 300, 300), argmax(want + t * 300, 300), "greedy token at %d", t);
    l2c_free(&w);
    free(want);
    free(got);
    model_free(&m);
}

Test(export, llama2c_int8_is_runq_version2, .timeout = 120)
{
    char dir[256], path[600];
    cpet_err err;
    model m;
    load_tiny(&m, NULL, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model_q80.bin", dir);
    llama2c_options o = {1, 0, 0};
    cr_assert_eq(llama2c_export(&m, &o, "tiny", path, &err), 0, "%s", err.msg);
    l2c w;
    memset(&w, 0, sizeof w);
    l2c_read(&w, path, 1);
    cr_assert(w.gs == 64 && !w.shared && w.vocab == 300);
    /* each group: scale = absmax / 127 and codes within half a step of the (permuted) weights */
    const float *src[3] = {m.layers[1].lin[LIN_Q].w, m.layers[1].lin[LIN_UP].w, m.embed};
    const float *deq[3] = {w.wq + 64 * 64, w.w3 + 64 * 128, w.emb};
    const int rows[3] = {64, 128, 300}, permute[3] = {1, 0, 0};
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < rows[k]; r++) {
            const float *row = src[k] + (size_t)r * 64, *dr = deq[k] + (size_t)(permute[k] ? il_row_of_hf(r, 16) : r) * 64;
            float amax = 0;
            for (int c = 0; c < 64; c++) amax = fmaxf(amax, fabsf(row[c]));
            float s = amax / 127.0f;
            for (int c = 0; c < 64; c++) cr_assert(fabsf(dr[c] - row[c]) <= 0.5f * s * 1.0001f + 1e-9f, "tensor %d row %d col %d", k, r, c);
        }
    /* and the quantized model still predicts about what the model does */
    int ids[8];
    for (int i = 0; i < 8; i++) ids[i] = (i * 17 + 3) % 300;
    float *want = logits_copy(&m, ids, 8), *got = l2c_forward(&w, ids, 8);
    cr_assert_lt(vec_max_rel_diff(got, want, 8 * 300), 0.1);
    l2c_free(&w);
    free(want);
    free(got);
    model_free(&m);
}

/* ---- refusals: what a format cannot hold, packed models, nothing half-written ---- */

static void save_model(const model_config *c, const char *dir)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_create(&m, c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.1f, 9);
    cr_assert_eq(model_save(&m, dir, &err), 0, "%s", err.msg);
    model_free(&m);
}

Test(export, refusals_say_which_and_write_nothing, .timeout = 120)
{
    char dir[256], mdir[600], outp[700], cmd[4096], out[4096];
    make_temp_dir(dir, sizeof dir);
    snprintf(outp, sizeof outp, "%s/out.bin", dir);
    write_text(outp, "old contents");
    struct {
        model_config c;
        const char *format, *type, *needle;
    } cases[] = {
        {small_config(3, 1, ACT_RELU, 0, 10000.0f), "llama2c", "f32", "hidden_act relu"},
        {small_config(4, 2, ACT_SILU, 0, 10000.0f), "llama2c", "f32", "head_dim 8"},
        {small_config(3, 1, ACT_SILU, 0, 500000.0f), "llama2c", "int8", "rope_theta 500000"},
        {small_config(3, 3, ACT_GELU, 1, 10000.0f), "gguf", "f32 --no-tokenizer", "hidden_act gelu"},
        {small_config(3, 3, ACT_SILU, 1, 10000.0f), "gguf", "q4_0 --no-tokenizer", "multiple of 32"},
        /* llama.cpp refuses a GGUF without tokenizer.ggml.* (seen with node-llama-cpp 3.21.1) */
        {small_config(3, 3, ACT_SILU, 1, 10000.0f), "gguf", "f32", "llama.cpp refuses a GGUF without"},
    };
    for (int i = 0; i < 6; i++) {
        snprintf(mdir, sizeof mdir, "%s/m%d", dir, i);
        save_model(&cases[i].c, mdir);
        snprintf(cmd, sizeof cmd, "%s export %s --format %s --type %s -o %s", CPET_BINARY, mdir, cases[i].format, cases[i].type, outp);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "case %d exported: %s", i, out);
        cr_assert(strstr(out, cases[i].needle), "case %d says '%s': %s", i, cases[i].needle, out);
        cr_assert(strstr(out, mdir) || strstr(out, outp), "case %d names the file: %s", i, out);
        cr_assert_eq(count_lines(out), 1, "one line: %s", out);
        size_t n;
        char *old = read_all(outp, &n);
        cr_assert_str_eq(old, "old contents", "case %d: the old file is untouched", i);
        free(old);
        cr_assert_eq(temp_files_in(dir), 0, "case %d left a temp file", i);
    }
    /* rms_norm_eps 1e-6 cannot go to llama2.c (run.c hard-codes 1e-5) */
    model_config c = small_config(3, 1, ACT_SILU, 0, 10000.0f);
    c.rms_norm_eps = 1e-6f;
    model m;
    cpet_err err;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    llama2c_options lo = {0, 0, 0};
    cr_assert_neq(llama2c_export(&m, &lo, "eps", outp, &err), 0);
    cr_assert(strstr(err.msg, "rms_norm_eps"), "%s", err.msg);
    model_free(&m);
}

Test(export, packed_models_need_requantize, .timeout = 120)
{
    char dir[256], cmd[2048], out[4096], path[700];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 64, 128, 2);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method rtn-int4 --group 32 -o %s/int4", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/x.gguf", dir);
    const char *fmts[] = {"--format gguf --type q8_0", "--format gguf --type f32", "--format llama2c --type int8"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s export %s/int4 %s -o %s", CPET_BINARY, dir, fmts[i], path);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
        cr_assert(strstr(out, "packed as int4") && strstr(out, "--requantize"), "%s", out);
        cr_assert_not(file_exists(path), "nothing written");
    }
    snprintf(cmd, sizeof cmd, "%s export %s/int4 --format gguf --type q8_0 --requantize -o %s", CPET_BINARY, dir, path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    /* requantized from the int4 values: the blocks are q8_0 of the dequantized int4 weights */
    cpet_err err;
    model q, g;
    char mp[600];
    snprintf(mp, sizeof mp, "%s/int4", dir);
    cr_assert_eq(model_load(&q, mp, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    qtensor e;
    const linear *lin = &q.layers[1].lin[LIN_DOWN];
    float *owned;
    const float *wf = gguf_linear_values(lin, &owned); /* the int4 values (a packed load may keep no f32 copy) */
    cr_assert_not_null(wf);
    cr_assert_eq(quantize_rtn(&e, QF_Q8_0, wf, lin->out, lin->in, 0, &err), 0, "%s", err.msg);
    free(owned);
    cr_assert_eq(memcmp(e.data, g.layers[1].lin[LIN_DOWN].qw->data, e.data_bytes), 0);
    qtensor_free(&e);
    model_free(&g);
    model_free(&q);
    /* the CLI also reads a .gguf: gguf -> llama2c */
    char l2[700];
    snprintf(l2, sizeof l2, "%s/from_gguf.bin", dir);
    snprintf(cmd, sizeof cmd, "%s export %s --format llama2c --requantize -o %s", CPET_BINARY, path, l2);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(file_exists(l2));
}

/* every truncation fails cleanly, and flipped header/metadata bytes either load or fail with a message */
Test(export, gguf_reader_survives_truncation_and_corruption, .timeout = 120)
{
    char dir[256], path[600], bad[600];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    model m;
    write_small_gguf(dir, 32, 1, 8, GGML_T_Q4_0, &m, path, sizeof path);
    model_free(&m);
    size_t size;
    uint8_t *bytes = (uint8_t *)read_all(path, &size);
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    for (size_t cut = 0; cut < size; cut += cut < 1200 ? 1 : 97) {
        write_bytes(bad, bytes, cut);
        model g;
        err.msg[0] = 0;
        cr_assert_neq(gguf_load_model(&g, bad, &err), 0, "a file cut at %zu of %zu bytes loaded", cut, size);
        cr_assert(strstr(err.msg, bad) && !strchr(err.msg, '\n'), "cut %zu: %s", cut, err.msg);
    }
    cpet_rng rng;
    rng_seed(&rng, 1);
    uint8_t *copy = malloc(size);
    size_t span = size < 1200 ? size : 1200;
    for (int it = 0; it < 2000; it++) {
        memcpy(copy, bytes, size);
        for (int k = 0; k < 3; k++) copy[rng_next(&rng) % span] ^= (uint8_t)(1u << (rng_next(&rng) % 8));
        write_bytes(bad, copy, size);
        model g;
        err.msg[0] = 0;
        if (gguf_load_model(&g, bad, &err) == 0) model_free(&g);
        else cr_assert(strstr(err.msg, bad), "iteration %d: %s", it, err.msg);
    }
    free(copy);
    free(bytes);
}

/* the HF fixture through both formats gives transformers' logits (the expected.safetensors oracle) */
Test(export, hf_fixture_through_gguf_and_llama2c_gives_transformers_logits, .timeout = 120)
{
    char dir[256], path[600], cmd[2048], out[4096];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/fx", dir);
    copy_fixture_model(path);
    st_file exp;
    cr_assert_eq(st_open(&exp, FIXTURE_DIR "/expected.safetensors", &err), 0, "%s", err.msg);
    int B, T;
    int *ids = fixture_ids(&exp, &B, &T);
    size_t n;
    float *want = tensor_f32(&exp, "logits", &n);
    cr_assert(want && n == (size_t)B * T * 320);
    /* GGUF f32 -> gguf_load_model -> forward */
    snprintf(cmd, sizeof cmd, "%s export %s/fx --format gguf --no-tokenizer -o %s/fx.gguf", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/fx.gguf", dir);
    model g;
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    cr_assert_eq(g.cfg.bos_token_id, 1);
    cr_assert_eq(g.cfg.eos_token_id, 2);
    cr_assert_eq(model_forward(&g, ids, NULL, B, T, &err), 0, "%s", err.msg);
    double rel = vec_max_rel_diff(model_logits(&g), want, n);
    cr_assert_lt(rel, 1e-4, "GGUF-loaded fixture logits differ from transformers' by %g", rel);
    model_free(&g);
    /* the q8_0 export is refused: intermediate_size 172 is not a multiple of 32 */
    snprintf(cmd, sizeof cmd, "%s export %s/fx --format gguf --type q8_0 --no-tokenizer -o %s/fx8.gguf", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "multiple of 32") && strstr(out, "172"), "%s", out);
    snprintf(path, sizeof path, "%s/fx8.gguf", dir);
    cr_assert_not(file_exists(path));
    /* llama2.c fp32 -> run.c's forward written here, one sequence at a time */
    snprintf(cmd, sizeof cmd, "%s export %s/fx --format llama2c -o %s/fx.bin", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/fx.bin", dir);
    l2c w;
    memset(&w, 0, sizeof w);
    l2c_read(&w, path, 0);
    cr_assert(w.dim == 64 && w.hidden == 172 && w.KV == 2 && w.vocab == 320 && w.seq == 128 && !w.shared);
    for (int b = 0; b < B; b++) {
        float *got = l2c_forward(&w, ids + b * T, T);
        rel = vec_max_rel_diff(got, want + (size_t)b * T * 320, (size_t)T * 320);
        cr_assert_lt(rel, 1e-4, "row %d: llama2.c forward differs from transformers' by %g", b, rel);
        free(got);
    }
    l2c_free(&w);
    /* int8: runq.c works in whole groups over dim and hidden_dim (172), so the group backs off to 4 */
    snprintf(cmd, sizeof cmd, "%s export %s/fx --format llama2c --type int8 -o %s/fx_q80.bin", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/fx_q80.bin", dir);
    memset(&w, 0, sizeof w);
    l2c_read(&w, path, 1);
    cr_assert_eq(w.gs, 4);
    float *got = l2c_forward(&w, ids, T);
    rel = vec_max_rel_diff(got, want, (size_t)T * 320);
    cr_assert_lt(rel, 0.05, "int8 llama2.c forward differs from transformers' by %g", rel);
    free(got);
    l2c_free(&w);
    free(want);
    free(ids);
    st_close(&exp);
}

/* the tokenizer travels: tokenizer.ggml.* read back encodes and decodes as the tokenizer.json did */
Test(export, gguf_tokenizer_reads_back, .timeout = 60)
{
    char dir[256], path[600];
    model m;
    tokenizer tok, back;
    cpet_err err;
    load_tiny(&m, &tok, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    gguf_export_options o = {GGML_T_F32, 0, 0};
    cr_assert_eq(gguf_export_model(&m, &tok, &o, "tiny", path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_tokenizer(&back, path, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_merges, tok.n_merges);
    cr_assert_eq(back.n_added, tok.n_added);
    for (int id = 0; id < tok.vocab_size; id++) {
        int has = tok.token[id] != NULL;
        cr_assert_eq(back.token[id] != NULL, has, "token %d", id);
        if (has) cr_assert(back.token_len[id] == tok.token_len[id] && !memcmp(back.token[id], tok.token[id], tok.token_len[id]), "token %d", id);
    }
    const char *texts[] = {"the river runs through the old city", "a city by the river has a bridge<|endoftext|> Zürich 42!",
                           "  spaces\n\tand tabs"};
    for (int i = 0; i < 3; i++) {
        int *a, *b, na, nb;
        cr_assert_eq(tokenizer_encode(&tok, texts[i], strlen(texts[i]), &a, &na, &err), 0, "%s", err.msg);
        cr_assert_eq(tokenizer_encode(&back, texts[i], strlen(texts[i]), &b, &nb, &err), 0, "%s", err.msg);
        cr_assert(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)), "'%s' encodes the same", texts[i]);
        char *d;
        size_t dl;
        cr_assert_eq(tokenizer_decode(&back, b, nb, &d, &dl, &err), 0, "%s", err.msg);
        cr_assert(dl == strlen(texts[i]) && !memcmp(d, texts[i], dl));
        free(a);
        free(b);
        free(d);
    }
    tokenizer_free(&back);
    /* a LLaMA-3 style pre-tokenizer (Split regex, ignore_merges) travels under cpet's own keys */
    char tj[600];
    snprintf(tj, sizeof tj, "%s/model/tokenizer.json", dir);
    json_t *j = json_load_file(tj, 0, NULL);
    cr_assert_not_null(j);
    json_object_set_new(j, "pre_tokenizer", json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}", "type", "Sequence",
        "pretokenizers", "type", "Split", "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0));
    json_object_set_new(json_object_get(j, "model"), "ignore_merges", json_true());
    snprintf(tj, sizeof tj, "%s/l3.json", dir);
    cr_assert_eq(json_dump_file(j, tj, 0), 0);
    json_decref(j);
    tokenizer l3;
    cr_assert_eq(tokenizer_load(&l3, tj, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/l3.gguf", dir);
    cr_assert_eq(gguf_export_model(&m, &l3, &o, "tiny", path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_tokenizer(&back, path, &err), 0, "%s", err.msg);
    cr_assert(back.n_regex == 1 && !strcmp(back.regex_src[0], l3.regex_src[0]) && back.ignore_merges);
    const char *t3 = "12345 the river's city\r\n 7";
    int *a, *b, na, nb;
    cr_assert_eq(tokenizer_encode(&l3, t3, strlen(t3), &a, &na, &err), 0, "%s", err.msg);
    cr_assert_eq(tokenizer_encode(&back, t3, strlen(t3), &b, &nb, &err), 0, "%s", err.msg);
    cr_assert(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)));
    free(a);
    free(b);
    tokenizer_free(&back);
    tokenizer_free(&l3);
    /* no tokenizer, and one cpet cannot run */
    snprintf(path, sizeof path, "%s/notok.gguf", dir);
    cr_assert_eq(gguf_export_model(&m, NULL, &o, "tiny", path, &err), 0, "%s", err.msg);
    cr_assert_neq(gguf_load_tokenizer(&back, path, &err), 0);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "no tokenizer"), "%s", err.msg);
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "llama");
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", "qwen2");
    const char *toks[] = {"a", "b"};
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 2);
    snprintf(path, sizeof path, "%s/qwen.gguf", dir);
    cr_assert_eq(gguf_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    cr_assert_neq(gguf_load_tokenizer(&back, path, &err), 0);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "pre-tokenizer 'qwen2'"), "%s", err.msg);
    tokenizer_free(&tok);
    model_free(&m);
}

/* a model compressed with --lm-head: its packed head goes out as output.weight blocks and runs packed again */
Test(export, packed_lm_head_travels, .timeout = 120)
{
    char dir[256], cmd[2048], out[4096], path[700], mp[600];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 64, 128, 2);
    snprintf(cmd, sizeof cmd, "%s compress %s/model --method q4_0 --lm-head -o %s/q4h", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/q4h.gguf", dir);
    snprintf(cmd, sizeof cmd, "%s export %s/q4h --format gguf --type q4_0 -o %s", CPET_BINARY, dir, path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    gguf_file f;
    cr_assert_eq(gguf_open(&f, path, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_find_tensor(&f, "output.weight")->type, GGML_T_Q4_0);
    cr_assert_eq(gguf_find_tensor(&f, "token_embd.weight")->type, GGML_T_F32);
    gguf_close(&f);
    model c, g;
    snprintf(mp, sizeof mp, "%s/q4h", dir);
    cr_assert_eq(model_load(&c, mp, &err), 0, "%s", err.msg);
    cr_assert_eq(gguf_load_model(&g, path, &err), 0, "%s", err.msg);
    cr_assert(c.lm_head.qw && g.lm_head.qw && !memcmp(c.lm_head.qw->data, g.lm_head.qw->data, c.lm_head.qw->data_bytes));
    int ids[9] = {3, 99, 4, 250, 17, 0, 8, 41, 5};
    float *a = logits_copy(&c, ids, 9), *b = logits_copy(&g, ids, 9);
    cr_assert_eq(memcmp(a, b, 9 * 300 * sizeof(float)), 0, "same logits as the cpet q4_0 --lm-head model");
    free(a);
    free(b);
    model_free(&g);
    model_free(&c);
    /* llama2.c holds no packed head: refused without --requantize, naming it */
    snprintf(mp, sizeof mp, "%s/model", dir);
    cr_assert_eq(model_load(&c, mp, &err), 0, "%s", err.msg);
    cr_assert_eq(compress_lm_head(&c, "rtn-int8", 0, &err), 0, "%s", err.msg); /* only the head packed */
    llama2c_options lo = {0, 0, 0};
    snprintf(path, sizeof path, "%s/h.bin", dir);
    cr_assert_neq(llama2c_export(&c, &lo, "i8h", path, &err), 0);
    cr_assert(strstr(err.msg, "LM head is packed as int8") && strstr(err.msg, "--requantize"), "%s", err.msg);
    cr_assert_not(file_exists(path));
    gguf_export_options go = {GGML_T_Q8_0, 0, 0};
    cr_assert_neq(gguf_export_model(&c, NULL, &go, "i8h", path, &err), 0);
    cr_assert(strstr(err.msg, "LM head is packed as int8"), "%s", err.msg);
    lo.requantize = 1;
    cr_assert_eq(llama2c_export(&c, &lo, "i8h", path, &err), 0, "%s", err.msg);
    model_free(&c);
}
