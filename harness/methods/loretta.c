/* loretta: LoRETTA's tensor-train adapters (loretta.h) trained on the task's train split like lora
 * (method_train_adapter), then scored. variant rep: LoRA's A and B as tensor trains on `targets`
 * (q_proj, v_proj); adp: bottleneck adapters on the input of `targets` (gate_proj, up_proj) and the output
 * of `output_targets` (down_proj). The reference's learning rate for LLaMA is 1e-4 over 3 epochs of 1,000
 * examples; the default here is LoRA's, for the same step budget. */
#include <string.h>

#include "loretta.h"
#include "method.h"

static const method_param params[] = {
    {.key = "variant", .type = PARAM_STRING, .default_json = "\"rep\"", .doc = "rep (tensor-train LoRA) or adp (tensor-train adapters)",
     .choices = "rep|adp"},
    {.key = "rank", .type = PARAM_INT, .default_json = "8", .doc = "rep: the LoRA rank r", .min = 1, .max = 4096},
    {.key = "alpha", .type = PARAM_NUMBER, .default_json = "16", .doc = "rep: scaling alpha/r"},
    {.key = "bottleneck", .type = PARAM_INT, .default_json = "64", .doc = "adp: the adapter's inner width", .min = 1, .max = 65536},
    {.key = "tt_rank", .type = PARAM_INT, .default_json = "5", .doc = "tensor-train rank of every matrix", .min = 1, .max = 256},
    {.key = "targets", .type = PARAM_STRING_LIST, .default_json = "[]",
     .doc = "modules: rep adapts them, adp adapts their input (empty: q_proj, v_proj or gate_proj, up_proj)"},
    {.key = "output_targets", .type = PARAM_STRING_LIST, .default_json = "[]",
     .doc = "adp: modules whose output is adapted (empty: down_proj)"},
    {.key = "steps", .type = PARAM_INT, .default_json = "100", .doc = "optimizer steps", .min = 0, .max = 1 << 24},
    {.key = "batch", .type = PARAM_INT, .default_json = "8", .doc = "examples per step", .min = 1, .max = 1024},
    {.key = "lr", .type = PARAM_NUMBER, .default_json = "0.001", .doc = "peak learning rate (cosine, 10% warmup)"},
    {.key = "weight_decay", .type = PARAM_NUMBER, .default_json = "0.0", .doc = "AdamW weight decay"},
    {.key = "clip", .type = PARAM_NUMBER, .default_json = "1.0", .doc = "gradient norm clip (0: off)", .min = 0, .max = INFINITY},
};

static void copy_names(const json_t *list, char (*dst)[64], int *n)
{
    if (json_array_size(list) == 0) return; /* the variant's defaults stay */
    *n = 0;
    for (size_t i = 0; i < json_array_size(list) && *n < LORETTA_MAX_TARGETS; i++)
        snprintf(dst[(*n)++], 64, "%s", json_string_value(json_array_get(list, i)));
}

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    const char *variant = json_string_value(json_object_get(c->params, "variant"));
    loretta_config lc = loretta_defaults(variant && !strcmp(variant, "adp") ? LORETTA_ADP : LORETTA_REP);
    lc.rank = method_param_int(c, "rank");
    lc.alpha = (float)method_param_number(c, "alpha");
    lc.bottleneck = method_param_int(c, "bottleneck");
    lc.tt_rank = method_param_int(c, "tt_rank");
    copy_names(json_object_get(c->params, "targets"), lc.targets, &lc.n_targets);
    if (lc.variant == LORETTA_ADP) copy_names(json_object_get(c->params, "output_targets"), lc.output_targets, &lc.n_output_targets);
    loretta_adapter ad;
    if (loretta_create(&ad, c->m, &lc, c->seed, err) != 0) return -1;
    int rc = loretta_set_trainable(&ad, 1, err);
    if (rc == 0) rc = method_train_adapter(c, r, ad.tensors, ad.n_tensors, err);
    if (rc == 0 && c->out_dir) rc = loretta_save(&ad, c->out_dir, err);
    loretta_free(&ad); /* detached: the model is the base again */
    return rc ? -1 : 0;
}

const method method_loretta = {
    .name = "loretta",
    .doc = "LoRETTA tensor-train adapters (rep or adp) trained on the task's train split, then scored",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
