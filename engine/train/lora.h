/* LoRA as a linear-layer branch, PEFT-compatible: y += scaling * (x A^T) B^T with A [r, in], B [out, r],
 * scaling = alpha / r (or alpha / sqrt(r) with use_rslora). Files: adapter_config.json +
 * adapter_model.safetensors with names base_model.model.<module>.lora_{A,B}.weight.
 * MoSLoRA (Wu et al., EMNLP 2024; wutaiqiang/MoSLoRA): an r x r mixer M between A and B,
 * y += scaling * ((x A^T) M^T) B^T, A and M kaiming-uniform, B = 0; merged dW = scaling B M A. Saved as
 * <module>.lora_AB.weight [r, r] (MoSLoRA's name) with "use_moslora": true in adapter_config.json. PEFT
 * proper has no mixer and would drop it (MoSLoRA#3), so such an adapter is for cpet and MoSLoRA's fork.
 * A frozen mixer (kept at its random init, "moslora_mixer_frozen": true) is the ablation PEFT's reviewers
 * asked for: without a nonlinearity a mixer can be folded into A. */
#ifndef CPET_LORA_H
#define CPET_LORA_H

#include "error.h"
#include "linear.h"
#include "model.h"
#include "params.h"

#define LORA_MAX_TARGETS 32
enum { LORA_MIXER_NONE, LORA_MIXER_TRAINED, LORA_MIXER_FROZEN };

typedef struct lora_module {
    char module[128]; /* HF module path, e.g. model.layers.0.self_attn.q_proj */
    int r, in, out;
    float scaling;
    param_tensor *A, *B, *M; /* M: the MoSLoRA mixer [r, r], or NULL */
    linear *target;
    branch br;
    int *trainable; /* the adapter's flag */
} lora_module;

typedef struct {
    int r;
    float alpha;
    int use_rslora;
    int mixer; /* LORA_MIXER_* */
    char target_modules[LORA_MAX_TARGETS][64];
    int n_targets;
    lora_module *mods;
    int n_mods;
    param_tensor *tensors; /* A0, B0, A1, B1, ... with PEFT's saved names */
    int n_tensors;
    float *params, *grads;
    size_t n_params;
    int trainable;
    int attached;
} lora_adapter;

/* New adapter on every linear whose module name ends with one of targets ("all-linear": every linear
 * but lm_head): A ~ U(+-1/sqrt(in)) (PEFT's kaiming_uniform(a=sqrt(5))), B = 0. Attached. */
int lora_create(lora_adapter *a, model *m, int r, float alpha, int use_rslora, const char *const *targets,
                int n_targets, unsigned long long seed, cpet_err *err);
/* The same with a MoSLoRA mixer (LORA_MIXER_TRAINED or _FROZEN; NONE is lora_create). */
int lora_create_mixed(lora_adapter *a, model *m, int r, float alpha, int use_rslora, int mixer, const char *const *targets,
                      int n_targets, unsigned long long seed, cpet_err *err);
/* Loads a PEFT adapter directory and attaches it to m. */
int lora_load(lora_adapter *a, model *m, const char *dir, cpet_err *err);
int lora_save(const lora_adapter *a, const char *dir, cpet_err *err);
/* lora_save with extra tensors in adapter_model.safetensors (CA-LoRA's recovery modules): PEFT loads the
 * file and ignores tensors that are not its own */
int lora_save_with(const lora_adapter *a, const param_tensor *extra, int n_extra, const char *dir, cpet_err *err);
void lora_attach(lora_adapter *a);
void lora_detach(lora_adapter *a);
/* W += scaling * B A for every module, then detaches: the model alone now computes what model+adapter did. */
int lora_merge(lora_adapter *a, cpet_err *err); /* refused for a packed base */
/* w [out, in] += scaling B (M) A: the module's update to a weight (merges and their measurements) */
int lora_module_add_delta(const lora_module *lm, float *w, cpet_err *err);
/* lora_merge on any base of m: a packed base is dequantized, given s B (M) A, and quantized again in its own
 * format and group, round-to-nearest (GPTQ's error compensation is not redone), replacing the packed
 * matrix -- the deployment users ask about, whose drift against the unmerged adapter is then measurable.
 * An f32 base is lora_merge's (a pruned base becomes dense where B A is). Refused for a model holding only
 * decode packs (model_keep_decode_packs_only). Detaches the adapter. */
int lora_merge_requantize(lora_adapter *a, model *m, cpet_err *err);
/* Gradients of A and B are computed only when trainable (allocates them). */
int lora_set_trainable(lora_adapter *a, int trainable, cpet_err *err);
/* LoRA-FA (arXiv 2308.03303): every A keeps its random init; the optimizer and the backward skip it, B trains. */
void lora_freeze_a(lora_adapter *a);
void lora_zero_grad(lora_adapter *a);
void lora_free(lora_adapter *a);
/* PEFT's target rule: module path equal to target, or ending with "." + target; "all-linear" is every
 * linear but lm_head */
int lora_target_matches(const char *module, const char *target);
/* PEFT's in-memory parameter name (adapter name "default" inserted), e.g. ...q_proj.lora_A.default.weight */
void lora_live_name(const char *saved_name, char *out, size_t n);

#endif
