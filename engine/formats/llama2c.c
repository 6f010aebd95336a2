#include "llama2c.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "gguf.h"
#include "quant.h"

static int group_size(const model *m, const llama2c_options *o)
{
    int gs = o->group > 0 ? o->group : 64;
    /* export.py's backoff on dim; runq.c's matmul and activation quantizer also work in whole groups over
     * hidden_dim (a remainder would be silently dropped), so the group must divide it too */
    while (gs > 1 && (m->cfg.hidden_size % gs != 0 || m->cfg.intermediate_size % gs != 0)) gs /= 2;
    return gs;
}

int llama2c_check(const model *m, const llama2c_options *o, const char *src, cpet_err *err)
{
    const model_config *c = &m->cfg;
    if (c->head_dim * c->n_heads != c->hidden_size)
        return cpet_fail(err, "%s: llama2.c cannot hold head_dim %d != hidden_size / num_attention_heads (%d / %d): run.c derives the head size from dim",
                         src, c->head_dim, c->hidden_size, c->n_heads);
    if (c->hidden_act != ACT_SILU)
        return cpet_fail(err, "%s: llama2.c cannot hold hidden_act %s (run.c's FFN is silu only)", src, activation_name(c->hidden_act));
    if (c->rope_theta != 10000.0f)
        return cpet_fail(err, "%s: llama2.c cannot hold rope_theta %g (run.c hard-codes 10000)", src, (double)c->rope_theta);
    if (c->rms_norm_eps != 1e-5f)
        return cpet_fail(err, "%s: llama2.c cannot hold rms_norm_eps %g (run.c hard-codes 1e-5)", src, (double)c->rms_norm_eps);
    if (m->moe) return cpet_fail(err, "%s: llama2.c cannot hold a MoEfication (routed) FFN", src);
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++)
            if (m->layers[l].lin[k].qw && !o->requantize)
                return cpet_fail(err, "%s: the layer linears are packed as %s; llama2.c %s means dequantizing%s them: pass --requantize",
                                 src, qformat_name(m->layers[l].lin[k].qw->format), o->int8 ? "int8" : "fp32",
                                 o->int8 ? " and requantizing" : "");
    if (!c->tie_word_embeddings && m->lm_head.qw && !o->requantize)
        return cpet_fail(err, "%s: the LM head is packed as %s; llama2.c %s means dequantizing%s it: pass --requantize", src,
                         qformat_name(m->lm_head.qw->format), o->int8 ? "int8" : "fp32", o->int8 ? " and requantizing" : "");
    if (o->int8) {
        int gs = group_size(m, o);
        if (gs < 2)
            return cpet_fail(err, "%s: llama2.c int8 needs a group size (>= 2) that divides dim %d and hidden_dim %d", src,
                             c->hidden_size, c->intermediate_size);
    }
    return 0;
}

typedef struct {
    FILE *fp;
    int ok;
    int gs, int8;
    cpet_err *err;
} sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->ok && n && fwrite(p, 1, n, s->fp) != n) s->ok = 0;
}

/* One [rows, cols] matrix (q/k rows permuted to the interleaved order when heads > 0), fp32 or int8 + scales. */
static void put_matrix(sink *s, const float *w, int rows, int cols, int heads, int head_dim)
{
    if (!s->ok) return;
    size_t n = (size_t)rows * cols;
    float *tmp = NULL;
    if (heads) {
        tmp = malloc(n * sizeof(float));
        if (!tmp) {
            s->ok = 0;
            cpet_fail(s->err, "out of memory");
            return;
        }
        gguf_permute_rows(w, tmp, heads, head_dim, (size_t)cols * sizeof(float), 0);
        w = tmp;
    }
    if (!s->int8) put(s, w, n * sizeof(float));
    else {
        qtensor q;
        /* per-row INT8 on the tensor viewed as [n / GS, GS]: absmax / 127 per group, round(w / s) */
        if (quantize_rtn(&q, QF_INT8, w, (int)(n / (size_t)s->gs), s->gs, 0, s->err) != 0) s->ok = 0;
        else {
            put(s, q.data, n);
            put(s, q.scales, n / (size_t)s->gs * sizeof(float));
            qtensor_free(&q);
        }
    }
    free(tmp);
}

int llama2c_export(const model *m, const llama2c_options *o, const char *src, const char *path, cpet_err *err)
{
    if (model_is_decode_only(m)) return cpet_fail(err, "%s: the model holds only its decode packs; load it again to export", src);
    if (llama2c_check(m, o, src, err) != 0) return -1;
    const model_config *c = &m->cfg;
    const int L = c->n_layers, D = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, kvd = c->n_kv_heads * hd;
    const int shared = c->tie_word_embeddings;
    float *embed_owned = NULL; /* a packed table (cpet compress --embeddings) goes out dequantized */
    const float *embed = model_embed_values(m, &embed_owned);
    if (!embed) return cpet_fail(err, "out of memory");
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) {
        free(embed_owned);
        return -1;
    }
    sink s = {af.fp, 1, group_size(m, o), o->int8, err};
    int32_t cfg[7] = {D, F, L, c->n_heads, c->n_kv_heads, c->vocab_size, c->max_position_embeddings};
    err->msg[0] = '\0';
    if (o->int8) {
        uint8_t header[256] = {0};
        uint32_t magic = LLAMA2C_MAGIC;
        int32_t version = 2, gs = s.gs;
        memcpy(header, &magic, 4);
        memcpy(header + 4, &version, 4);
        memcpy(header + 8, cfg, sizeof cfg);
        header[36] = (uint8_t)shared;
        memcpy(header + 37, &gs, 4);
        put(&s, header, sizeof header);
        for (int l = 0; l < L; l++) put(&s, m->layers[l].attn_norm, (size_t)D * 4);
        for (int l = 0; l < L; l++) put(&s, m->layers[l].ffn_norm, (size_t)D * 4);
        put(&s, m->final_norm, (size_t)D * 4);
        put_matrix(&s, embed, c->vocab_size, D, 0, 0);
    } else {
        if (!shared) cfg[5] = -cfg[5];
        put(&s, cfg, sizeof cfg);
        put_matrix(&s, embed, c->vocab_size, D, 0, 0);
        for (int l = 0; l < L; l++) put(&s, m->layers[l].attn_norm, (size_t)D * 4);
    }
    const int order[4] = {LIN_Q, LIN_K, LIN_V, LIN_O};
    for (int i = 0; i < 4; i++)
        for (int l = 0; l < L; l++) {
            const linear *lin = &m->layers[l].lin[order[i]];
            int heads = order[i] == LIN_Q ? c->n_heads : order[i] == LIN_K ? c->n_kv_heads : 0;
            float *owned = NULL;
            const float *wf = gguf_linear_values(lin, &owned);
            if (!wf) s.ok = 0, cpet_fail(err, "out of memory");
            else put_matrix(&s, wf, lin->out, lin->in, heads, hd);
            free(owned);
        }
    if (!o->int8)
        for (int l = 0; l < L; l++) put(&s, m->layers[l].ffn_norm, (size_t)D * 4);
    const int ffn[3] = {LIN_GATE, LIN_DOWN, LIN_UP}; /* w1, w2, w3 */
    for (int i = 0; i < 3; i++)
        for (int l = 0; l < L; l++) {
            const linear *lin = &m->layers[l].lin[ffn[i]];
            float *owned = NULL;
            const float *wf = gguf_linear_values(lin, &owned);
            if (!wf) s.ok = 0, cpet_fail(err, "out of memory");
            else put_matrix(&s, wf, lin->out, lin->in, 0, 0);
            free(owned);
        }
    if (!o->int8) {
        put(&s, m->final_norm, (size_t)D * 4);
        /* freq_cis as model.py's precompute_freqs_cis (run.c skips it; older readers use it) */
        const int half = hd / 2, T = c->max_position_embeddings;
        float *fc = malloc((size_t)T * half * sizeof(float)), *fs = malloc((size_t)T * half * sizeof(float));
        if (!fc || !fs) {
            s.ok = 0;
            cpet_fail(err, "out of memory");
        }
        for (int t = 0; s.ok && t < T; t++)
            for (int i = 0; i < half; i++) {
                float freq = 1.0f / powf(10000.0f, (float)(2 * i) / (float)hd), a = (float)t * freq;
                fc[(size_t)t * half + i] = cosf(a);
                fs[(size_t)t * half + i] = sinf(a);
            }
        if (s.ok) {
            put(&s, fc, (size_t)T * half * sizeof(float));
            put(&s, fs, (size_t)T * half * sizeof(float));
        }
        free(fc);
        free(fs);
    }
    if (!shared) {
        float *owned = NULL;
        const float *wf = gguf_linear_values(&m->lm_head, &owned);
        if (!wf) s.ok = 0, cpet_fail(err, "out of memory");
        else put_matrix(&s, wf, c->vocab_size, D, 0, 0);
        free(owned);
    }
    (void)kvd;
    free(embed_owned);
    if (!s.ok) {
        atomic_abort(&af);
        if (!err->msg[0]) cpet_fail(err, "write failed (disk full?)");
        return cpet_prefix(err, "%s", path);
    }
    return atomic_commit(&af, err);
}
