/* LoRETTA (Yang et al., NAACL 2024): adapters whose matrices are tensor trains (tt.h), far fewer
 * trainable parameters than LoRA.
 *   rep: LoRA's update with A [in, r] and B [r, out] each a tensor train, no bias, in parallel with the
 *        projection: y += (alpha / r) (x A) B. Mergeable: W += (alpha / r) (A B)^T.
 *   adp: a bottleneck adapter, down [dim, k] and up [k, dim] tensor trains with biases and a ReLU between,
 *        scale 1, in series: on the input of a projection (x' = x + up(relu(down(x))) feeds it; LLaMA:
 *        gate_proj and up_proj, two adapters) or on its output (y' = y + up(relu(down(y))); down_proj).
 *        Not mergeable (the ReLU).
 * As in the reference, no core starts at zero: the cores are N(0, s^2) with s chosen so each materialized
 * entry has variance 1 / (rows + cols), so neither kind is the identity at init.
 * Each matrix's flattened size rows * cols is cut into factors by loretta_factors.
 * Files: adapter_config.json ("peft_type": "LORETTA_REP" or "LORETTA_ADP", r / bottleneck, lora_alpha,
 * tensor_rank, target_modules, output_modules) + adapter_model.safetensors with, per module,
 * base_model.model.<module>.loretta_{A,B}.core_<k> (rep) or .loretta_{down,up}.core_<k> and
 * .loretta_{down,up}.bias (adp); core k has the reference's shape [r_{k-1}, n_k, r_k], so the factors and
 * the rank are read from the shapes. */
#ifndef CPET_LORETTA_H
#define CPET_LORETTA_H

#include <stdint.h>

#include "error.h"
#include "linear.h"
#include "model.h"
#include "params.h"
#include "tt.h"

#define LORETTA_MAX_TARGETS 16
enum { LORETTA_REP, LORETTA_ADP };

typedef struct loretta_module {
    char module[128];
    linear *target;
    int place;           /* BRANCH_PARALLEL (rep), BRANCH_ON_INPUT or BRANCH_ON_OUTPUT (adp) */
    int in, inner, out;  /* the branch maps in -> inner -> out */
    int relu_bias;       /* adp: biases and the ReLU */
    float scaling;       /* rep: alpha / r; adp: 1 */
    tt_matrix down, up;  /* [in, inner], [inner, out] (x W orientation, as the reference) */
    float *w_down, *w_up, *g_down, *g_up, *tt_work; /* materialized matrices, their gradients, tt scratch */
    param_tensor *t_down, *t_up, *t_bias_down, *t_bias_up;
    const int *trainable;
    branch br;
} loretta_module;

typedef struct {
    int variant;      /* LORETTA_* */
    int rank;         /* rep: r */
    float alpha;      /* rep */
    int bottleneck;   /* adp */
    int tt_rank;
    char targets[LORETTA_MAX_TARGETS][64];        /* rep: parallel; adp: on the input */
    int n_targets;
    char output_targets[LORETTA_MAX_TARGETS][64]; /* adp: on the output */
    int n_output_targets;
} loretta_config;

typedef struct {
    loretta_config cfg;
    loretta_module *mods;
    int n_mods;
    param_tensor *tensors; /* per module: down cores, up cores (, down bias, up bias) */
    int n_tensors;
    int trainable, attached;
} loretta_adapter;

/* The factors of n: each the largest divisor of what remains that is at most 16 (2048 -> 16 16 8), or,
 * when none is, its smallest prime factor (11008 x 8 -> 16 16 8 43). Returns their count, 0 when it
 * is not 2..TT_MAX_CORES (n prime, or too many factors). */
int loretta_factors(size_t n, int *factors);
/* The reference's defaults: rep r 8, alpha 16, tt rank 5, q_proj and v_proj; adp bottleneck 64, tt rank 5,
 * on the input of gate_proj and up_proj and the output of down_proj. */
loretta_config loretta_defaults(int variant);
/* Builds the modules on every linear whose name matches a target (PEFT's rule), attached. */
int loretta_create(loretta_adapter *a, model *m, const loretta_config *cfg, uint64_t seed, cpet_err *err);
int loretta_save(const loretta_adapter *a, const char *dir, cpet_err *err);
int loretta_load(loretta_adapter *a, model *m, const char *dir, cpet_err *err);
/* Gradients allocated and computed when trainable. */
int loretta_set_trainable(loretta_adapter *a, int trainable, cpet_err *err);
void loretta_zero_grad(loretta_adapter *a);
size_t loretta_trainable_count(const loretta_adapter *a);
void loretta_attach(loretta_adapter *a);
void loretta_detach(loretta_adapter *a);
/* rep: W += (alpha / r) (A B)^T for every module (f32 bases), then detaches; adp is refused. */
int loretta_merge(loretta_adapter *a, cpet_err *err);
void loretta_free(loretta_adapter *a);

#endif
