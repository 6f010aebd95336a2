/* calora: CA-LoRA (engine/methods/calora.h) on the cell's compressed model, from an existing adapter
 * trained on the uncompressed one, on the task's train split; then scored with the adapter (and recovery
 * modules) attached. Every ablation row of the reference is a parameter setting: rd / i (init), rc
 * (recovery), d (distill > 0); steps 0 with init inherit is the adapter carried over without training. */
#include <math.h>
#include <string.h>

#include "calora.h"
#include "evaluate.h"
#include "finetune.h"
#include "gguf.h"
#include "method.h"

static const method_param params[] = {
    {.key = "adapter", .type = PARAM_STRING, .default_json = "\"\"", .doc = "the existing PEFT LoRA, trained on the uncompressed model ({task}: the task's name, {seed}: the cell's seed)"},
    {.key = "init", .type = PARAM_STRING, .default_json = "\"inherit\"", .doc = "inherit (copy A/B), random (fresh A, B = 0: the rd baseline) or none (no LoRA: recovery modules alone, the rc rows)", .choices = "inherit|random|none"},
    {.key = "recovery", .type = PARAM_BOOL, .default_json = "true", .doc = "recovery modules GELU(x a1^T) a2^T beside the linears of recovery_targets"},
    /* records before this parameter put recovery modules on v, o and the FFN only when a LoRA was there;
     * specs name the targets, so those records go stale rather than pass for the reference's placement */
    {.key = "recovery_targets", .type = PARAM_STRING_LIST, .default_json = "[]", .doc = "linears that get a recovery module ([]: every projection, the reference's: on v, o, FFN, and on q, k summed with the LoRA)", .hashed_only_when_set = 1},
    {.key = "recovery_rank", .type = PARAM_INT, .default_json = "8", .doc = "recovery module rank", .min = 1, .max = 4096},
    {.key = "recovery_alpha", .type = PARAM_NUMBER, .default_json = "16", .doc = "recovery module alpha (scaling alpha/r)", .min = 0, .max = INFINITY},
    {.key = "distill", .type = PARAM_NUMBER, .default_json = "1.0", .doc = "weight of the MSE to the teacher's final hidden states (0: off)", .min = 0, .max = INFINITY},
    {.key = "steps", .type = PARAM_INT, .default_json = "100", .doc = "optimizer steps (0: carry the adapter over untrained)", .min = 0, .max = 1 << 24},
    {.key = "batch", .type = PARAM_INT, .default_json = "8", .doc = "examples per step", .min = 1, .max = 1024},
    {.key = "lr", .type = PARAM_NUMBER, .default_json = "0.001", .doc = "peak learning rate (cosine, 10% warmup)"},
    {.key = "weight_decay", .type = PARAM_NUMBER, .default_json = "0.01", .doc = "AdamW weight decay (the reference's 1e-2)"},
};

static int run(const method_cell *c, method_result *r, cpet_err *err)
{
    const char *given = json_string_value(json_object_get(c->params, "adapter")),
               *init = json_string_value(json_object_get(c->params, "init"));
    if (!given || !given[0]) return cpet_fail(err, "calora: params.adapter (the existing LoRA's directory) is required");
    char adapter[4096]; /* one existing adapter per task and seed */
    if (method_expand_path(c, "adapter", adapter, sizeof adapter, err) != 0) return -1;
    const int init_kind = !strcmp(init, "inherit") ? CALORA_INIT_INHERIT : !strcmp(init, "random") ? CALORA_INIT_RANDOM
                          : !strcmp(init, "none")  ? CALORA_INIT_NONE : -1;
    if (init_kind < 0) return cpet_fail(err, "calora: params.init '%s' is not inherit, random or none", init);
    if (init_kind == CALORA_INIT_NONE && c->out_dir)
        return cpet_fail(err, "calora: init none (recovery modules alone, the reference's rc rows) cannot be saved: PEFT's format needs "
                              "a LoRA beside them");
    const float distill = (float)method_param_number(c, "distill");
    const int steps = method_param_int(c, "steps");
    model teacher;
    int have_teacher = distill > 0 && steps > 0;
    if (have_teacher && model_load_for_inference(&teacher, c->model_path, err) != 0) return cpet_prefix(err, "calora teacher");
    json_t *rt = json_object_get(c->params, "recovery_targets");
    const char *targets[16];
    int n_targets = 0;
    for (size_t i = 0; i < json_array_size(rt) && n_targets < 16; i++) targets[n_targets++] = json_string_value(json_array_get(rt, i));
    calora_options opts = {.init = (calora_init)init_kind,
                           .recovery_targets = n_targets ? targets : NULL,
                           .n_recovery_targets = n_targets,
                        .recovery = json_is_true(json_object_get(c->params, "recovery")),
                        .recovery_rank = method_param_int(c, "recovery_rank"),
                        .recovery_alpha = (float)method_param_number(c, "recovery_alpha"),
                        .distill = have_teacher ? distill : 0.0f,
                        .seed = c->seed};
    calora ca;
    adamw opt;
    memset(&opt, 0, sizeof opt);
    adamw_config oc = adamw_defaults();
    oc.lr = (float)method_param_number(c, "lr");
    oc.weight_decay = (float)method_param_number(c, "weight_decay");
    json_t *curve = json_array();
    int rc = distill < 0 ? cpet_fail(err, "calora: params.distill must be >= 0 (got %g)", (double)distill)
                         : calora_setup(&ca, c->m, have_teacher ? &teacher : NULL, adapter, &opts, err);
    int set_up = rc == 0;
    if (rc == 0 && c->score_before) { /* the adapter as carried over, before any step */
        mc_result before;
        rc = eval_multiple_choice(c->m, c->tok, c->eval, c->m->cfg.bos_token_id, 32, &before, NULL, NULL, err);
        if (rc == 0) json_object_set_new(r->metrics, "acc_before", json_real(before.acc));
    }
    if (rc == 0 && steps > 0) {
        finetune_config fc = {.steps = steps, .batch = method_param_int(c, "batch"), .lr = oc.lr, .weight_decay = oc.weight_decay,
                              .clip = 1.0f, .seed = c->seed, .bos_id = c->m->cfg.bos_token_id, .hook = calora_step_hook,
                              .hook_ctx = &ca};
        rc = adamw_init(&opt, oc, err) || calora_add_trainable(&ca, &opt, err) ||
             finetune_multiple_choice(c->m, &opt, c->tok, c->train, &fc, curve, &r->tokens, err);
        if (rc == 0 && have_teacher) json_object_set_new(r->metrics, "last_distill_loss", json_real(ca.last_distill));
    }
    json_object_set_new(r->curves, "train_loss", curve);
    adamw_free(&opt);
    if (have_teacher) { /* the teacher is done: free it before scoring */
        if (set_up) lora_free(&ca.teacher_lora);
        ca.teacher = NULL;
        model_free(&teacher);
    }
    if (set_up) c->m->taps.d_final_hidden = NULL;
    if (rc == 0) rc = method_score_multiple_choice(c, r, err); /* with the adapter and recovery modules attached */
    if (rc == 0 && c->out_dir) rc = calora_save(&ca, c->out_dir, err); /* one PEFT directory: the LoRA, recovery modules beside it */
    if (set_up) calora_free(&ca);
    return rc ? -1 : 0;
}

const method method_calora = {
    .name = "calora",
    .doc = "CA-LoRA: an existing LoRA carried onto the compressed model (inherit or rd), with recovery modules "
           "and hidden-state distillation from the uncompressed model, trained on the train split",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .run = run,
};
