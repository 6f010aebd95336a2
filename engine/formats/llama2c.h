/* karpathy/llama2.c checkpoints (run.c / runq.c), written from a model:
 *   fp32 (legacy, run.c): Config {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len} as 7
 *        int32 (vocab_size negative when the classifier is not shared with the embedding), then f32: token
 *        embedding, attention norms [L], wq [L], wk [L], wv [L], wo [L], FFN norms [L], w1 (gate) [L],
 *        w2 (down) [L], w3 (up) [L], final norm, freq_cis real and imag [seq_len, head_size/2] (run.c skips
 *        them), the classifier when unshared.
 *   int8 (version 2, runq.c): u32 magic 0x616b3432, i32 version 2, the 7 Config ints (vocab positive), u8
 *        shared_classifier, i32 group size, zeros to 256 bytes; f32 attention norms [L], FFN norms [L], final
 *        norm; then per quantized tensor int8 codes and f32 scales (absmax / 127 per group of GS along the
 *        flattened tensor): embedding, wq, wk, wv, wo, w1, w2, w3 (each over all layers, layer by layer), the
 *        classifier when unshared.
 * Both store q and k rows in the interleaved RoPE order run.c rotates (pairs 2i, 2i+1). llama2.c hard-codes
 * head_size = dim / n_heads, silu, rope theta 10000 and RMSNorm eps 1e-5; other models are refused. */
#ifndef CPET_LLAMA2C_H
#define CPET_LLAMA2C_H

#include "error.h"
#include "model.h"

#define LLAMA2C_MAGIC 0x616b3432u

typedef struct {
    int int8;       /* version 2 (runq.c) instead of the legacy fp32 file */
    int group;      /* int8 group size (0 = 64), halved until it divides dim (as export.py does) and hidden_dim
                     * (runq.c drops a remainder silently) */
    int requantize; /* a packed model is dequantized (and requantized for int8); else refused */
} llama2c_options;

/* The first thing llama2.c cannot hold in m, as an error naming src; 0 when it can. */
int llama2c_check(const model *m, const llama2c_options *o, const char *src, cpet_err *err);
/* Writes the checkpoint atomically; nothing is left at path on failure. */
int llama2c_export(const model *m, const llama2c_options *o, const char *src, const char *path, cpet_err *err);

#endif
