/* CA-LoRA's recovery module (Zhao et al., arXiv 2307.07705; thunlp/CA-LoRA loras.py LowRankLinearActivate):
 * a branch beside a linear of a compressed model that learns back what compression removed,
 *   y += s GELU(x a1^T) a2^T,  a1 [r, in] ~ U(+-1/sqrt(in)) (kaiming_uniform(a=sqrt(5))), a2 [out, r] = 0,
 * so it is a no-op at init. s = alpha / r. GELU is the exact (erf) one, as torch.nn.GELU. Only a1 and a2
 * train; the base stays frozen. Saved beside a PEFT LoRA in its adapter_model.safetensors as
 * base_model.model.<module>.recovery_{a1,a2}.weight (PEFT ignores tensors it does not know), with r, alpha
 * and the targets in the adapter directory's recovery_config.json. */
#ifndef CPET_RECOVERY_H
#define CPET_RECOVERY_H

#include "error.h"
#include "linear.h"
#include "model.h"
#include "params.h"

typedef struct recovery_module {
    char module[128];
    int r, in, out;
    float scaling;
    param_tensor *a1, *a2;
    linear *target;
    branch br;
    const int *trainable;
} recovery_module;

#define RECOVERY_MAX_TARGETS 32

typedef struct {
    int r;
    float alpha;
    char targets[RECOVERY_MAX_TARGETS][64];
    int n_targets;
    recovery_module *mods;
    int n_mods;
    param_tensor *tensors; /* a1, a2 of each module, with their saved names */
    int n_tensors;
    float *params, *grads;
    size_t n_params;
    int trainable, attached;
} recovery_set;

/* One module on every linear whose module path matches a target (PEFT's rule: equal, or ends with
 * "." + target; "all-linear": every linear but lm_head). Attached. */
int recovery_create(recovery_set *s, model *m, int r, float alpha, const char *const *targets, int n_targets,
                    unsigned long long seed, cpet_err *err);
int recovery_set_trainable(recovery_set *s, int trainable, cpet_err *err);
void recovery_zero_grad(recovery_set *s);
void recovery_attach(recovery_set *s);
void recovery_detach(recovery_set *s);
void recovery_free(recovery_set *s);
/* dir/recovery_config.json ({"kind": "calora_recovery", "r", "alpha", "target_modules", "activation":
 * "gelu"}); the tensors go into the adapter's safetensors through lora_save_with(..., s->tensors, ...) */
int recovery_save_config(const recovery_set *s, const char *dir, cpet_err *err);
/* Recovery modules from an adapter directory that has recovery_config.json, onto m, attached. */
int recovery_load(recovery_set *s, model *m, const char *dir, cpet_err *err);
/* recovery_load when dir has recovery_config.json (a CA-LoRA adapter), else nothing (s zeroed): whatever
 * runs an adapter directory runs its recovery modules too. */
int recovery_load_if_present(recovery_set *s, model *m, const char *dir, cpet_err *err);

#endif
