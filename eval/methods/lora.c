/* lora: a PEFT-style LoRA trained on the task's train split (loss on the correct choice's tokens), then
 * scored with the adapter attached. The base (compressed or not) stays frozen. */
#include <string.h>

#include "finetune.h"
#include "lora.h"
#include "method.h"
#include "optim.h"

static const method_param params[] = {
    {"rank", PARAM_INT, "8", "LoRA rank r"},
    {"alpha", PARAM_NUMBER, "16", "LoRA alpha (scaling alpha/r)"},
    {"targets", PARAM_STRING_LIST, "[\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]",
     "modules to adapt"},
    {"steps", PARAM_INT, "100", "optimizer steps"},
    {"batch", PARAM_INT, "8", "examples per step"},
    {"lr", PARAM_NUMBER, "0.001", "peak learning rate (cosine, 10% warmup)"},
    {"weight_decay", PARAM_NUMBER, "0.0", "AdamW weight decay"},
};

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    if (c->train->n == 0) return cpet_fail(err, "%s: lora: no training examples", c->task_file);
    json_t *targets = json_object_get(c->params, "targets");
    const char *names[LORA_MAX_TARGETS];
    int n = 0;
    for (size_t i = 0; i < json_array_size(targets) && n < LORA_MAX_TARGETS; i++)
        names[n++] = json_string_value(json_array_get(targets, i));
    adamw_config oc = adamw_defaults();
    oc.lr = (float)method_param_number(c, "lr");
    oc.weight_decay = (float)method_param_number(c, "weight_decay");
    lora_adapter ad;
    if (lora_create(&ad, c->m, method_param_int(c, "rank"), (float)method_param_number(c, "alpha"), 0, names, n,
                    (unsigned long long)c->seed, err) != 0)
        return -1;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    json_t *curve = json_array();
    finetune_config fc = {.steps = method_param_int(c, "steps"), .batch = method_param_int(c, "batch"), .lr = oc.lr,
                          .weight_decay = oc.weight_decay, .clip = 1.0f, .seed = c->seed, .bos_id = c->m->cfg.bos_token_id};
    int rc = lora_set_trainable(&ad, 1, err) || adamw_init(&opt, oc, err) || adamw_add(&opt, ad.tensors, ad.n_tensors, err) ||
             finetune_multiple_choice(c->m, &opt, c->tok, c->train, &fc, curve, &r->tokens, err);
    json_object_set_new(r->curves, "train_loss", curve);
    adamw_free(&opt);
    /* the adapter stays attached for scoring; the cell's process ends with it */
    return rc ? -1 : method_score_multiple_choice(c, r, err);
}

const method method_lora = {"lora", "LoRA trained on the task's train split (loss on the correct choice), then scored", params,
                            (int)(sizeof params / sizeof params[0]), run};
