/* lora-fa: LoRA-FA (Zhang et al., arXiv 2308.03303): A frozen at its random initialization and only B
 * trained, so the update B A stays in the subspace A spans and the backward computes no dA. The rest is
 * the LoRA recipe (method_run_lora). */
#include "method.h"

static const method_param params[] = {METHOD_LORA_PARAMS};

static int run(const method_cell *c, method_result *r, cpet_err *err) { return method_run_lora(c, r, lora_freeze_a, err); }

const method method_lora_fa = {
    .name = "lora-fa",
    .doc = "LoRA-FA: LoRA with A frozen at its random init, only B trained on the train split, then scored",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
