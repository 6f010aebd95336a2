/* HF config.json <-> struct model_config for the LLaMA family. */
#ifndef CPET_CONFIG_H
#define CPET_CONFIG_H

#include "error.h"

typedef enum { ACT_SILU, ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_FATRELU } activation;

typedef struct {
    int vocab_size;
    int hidden_size;       /* d */
    int intermediate_size; /* FFN width */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;
    int tie_word_embeddings;
    activation hidden_act;
    float act_threshold; /* FATReLU: x if x >= threshold else 0 */
    int bos_token_id, eos_token_id;
    int moe_experts, moe_top_k; /* MoEfication (0 = dense FFN); config.json "moefication": {experts, top_k} */
} model_config;

const char *activation_name(activation a);
int activation_parse(const char *s, activation *out); /* HF names: silu, relu, gelu, gelu_pytorch_tanh, ... */

int config_load(model_config *c, const char *path, cpet_err *err);
int config_save(const model_config *c, const char *path, cpet_err *err); /* atomic */
int config_validate(const model_config *c, const char *path, cpet_err *err);
/* The weights of the linears and embeddings the config describes (norms left out): what a checkpoint must
 * hold, at some number of bits each. */
double config_weight_count(const model_config *c);

#endif
