/* lora: a PEFT-style LoRA trained on the task's train split (loss on the correct choice's tokens), then
 * scored with the adapter attached (method_run_lora). The base (compressed or not) stays frozen. With mixer
 * trained or frozen it is MoSLoRA (lora.h): an r x r mixer between A and B, learnt or kept at its random init. */
#include "method.h"

static const method_param params[] = {
    METHOD_LORA_PARAMS,
    {.key = "mixer", .type = PARAM_STRING, .default_json = "\"none\"", .doc = "MoSLoRA's r x r mixer: none, trained or frozen",
     .hashed_only_when_set = 1, .choices = "none|trained|frozen"},
};

static int run(const method_cell *c, method_result *r, cpet_err *err) { return method_run_lora(c, r, NULL, err); }

const method method_lora = {
    .name = "lora",
    .doc = "LoRA trained on the task's train split (loss on the correct choice), then scored",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
