/* lora: a PEFT-style LoRA trained on the task's train split (loss on the correct choice's tokens), then
 * scored with the adapter attached. The base (compressed or not) stays frozen. With mixer trained or
 * frozen it is MoSLoRA (lora.h): an r x r mixer between A and B, learnt or kept at its random init. */
#include <string.h>

#include "finetune.h"
#include "lora.h"
#include "method.h"
#include "optim.h"

static const method_param params[] = {
    {"rank", PARAM_INT, "8", "LoRA rank r", 0},
    {"alpha", PARAM_NUMBER, "16", "LoRA alpha (scaling alpha/r)", 0},
    {"targets", PARAM_STRING_LIST, "[\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]",
     "modules to adapt", 0},
    {"steps", PARAM_INT, "100", "optimizer steps", 0},
    {"batch", PARAM_INT, "8", "examples per step", 0},
    {"lr", PARAM_NUMBER, "0.001", "peak learning rate (cosine, 10% warmup)", 0},
    {"weight_decay", PARAM_NUMBER, "0.0", "AdamW weight decay", 0},
    {"mixer", PARAM_STRING, "\"none\"", "MoSLoRA's r x r mixer: none, trained or frozen", .hashed_only_when_set = 1},
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
    const char *mixer = json_string_value(json_object_get(c->params, "mixer"));
    int mix = !strcmp(mixer, "trained") ? LORA_MIXER_TRAINED : !strcmp(mixer, "frozen") ? LORA_MIXER_FROZEN : LORA_MIXER_NONE;
    if (mix == LORA_MIXER_NONE && strcmp(mixer, "none") != 0)
        return cpet_fail(err, "lora: params.mixer '%s' is not none, trained or frozen", mixer);
    lora_adapter ad;
    if (lora_create_mixed(&ad, c->m, method_param_int(c, "rank"), (float)method_param_number(c, "alpha"), 0, mix, names, n,
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
                            (int)(sizeof params / sizeof params[0]), run, 0};
