#include "calora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "distill.h"
#include "tensor.h"

/* a teacher must be the student before compression: what compression keeps (vocabulary, width, depth,
 * head size, activation, RoPE) must agree; the FFN width and head counts may differ (structured pruning) */
static int check_teacher(const model *s, const model *t, cpet_err *err)
{
    const model_config *a = &s->cfg, *b = &t->cfg;
    const struct {
        const char *field;
        double student, teacher;
    } kept[] = {{"vocab_size", a->vocab_size, b->vocab_size},       {"hidden_size", a->hidden_size, b->hidden_size},
                {"num_hidden_layers", a->n_layers, b->n_layers},    {"head_dim", a->head_dim, b->head_dim},
                {"hidden_act", a->hidden_act, b->hidden_act},       {"rope_theta", a->rope_theta, b->rope_theta},
                {"rms_norm_eps", a->rms_norm_eps, b->rms_norm_eps}, {"tie_word_embeddings", a->tie_word_embeddings, b->tie_word_embeddings}};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (kept[i].student != kept[i].teacher)
            return cpet_fail(err, "calora: the teacher's %s is %g, the student's %g: the teacher must be the student's uncompressed "
                                  "model (compression changes only the FFN width and head counts)",
                             kept[i].field, kept[i].teacher, kept[i].student);
    return 0;
}

int calora_setup(calora *c, model *student, model *teacher, const char *adapter_dir, const calora_options *o, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    if (!(o->distill >= 0)) return cpet_fail(err, "calora: the distillation weight must be >= 0 (got %g)", (double)o->distill);
    if (o->distill > 0 && !teacher) return cpet_fail(err, "calora: distillation needs a teacher (the uncompressed model)");
    if (teacher && check_teacher(student, teacher, err) != 0) return -1;
    c->student = student;
    c->teacher = o->distill > 0 ? teacher : NULL;
    c->distill = o->distill;
    if (o->init == CALORA_INIT_NONE && !o->recovery)
        return cpet_fail(err, "calora: init none (no LoRA) without recovery modules leaves nothing to train");
    if (o->init != CALORA_INIT_NONE) {
        if (lora_load(&c->lora, student, adapter_dir, err) != 0) return -1;
        c->has_lora = 1;
    }
    if (o->init == CALORA_INIT_RANDOM) { /* rd: the adapter's shape, PEFT's init (MoSLoRA's mixer as A, fan-in r) */
        cpet_rng rng;
        rng_seed(&rng, o->seed);
        for (int i = 0; i < c->lora.n_mods; i++) {
            lora_module *lm = &c->lora.mods[i];
            float bound = 1.0f / sqrtf((float)lm->in), mbound = 1.0f / sqrtf((float)lm->r);
            fill_uniform(lm->A->p, lm->A->n, -bound, bound, &rng);
            memset(lm->B->p, 0, lm->B->n * sizeof(float));
            if (lm->M) fill_uniform(lm->M->p, lm->M->n, -mbound, mbound, &rng);
        }
    }
    if (o->recovery) {
        /* the reference puts one on every linear it adapts: "activate" on v, o and the FFN, and on q and k
         * "full", summed with the LoRA there (without a LoRA, "activate" on all six) */
        static const char *const reference[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        const char *const *targets = o->recovery_targets ? o->recovery_targets : reference;
        int n = o->recovery_targets ? o->n_recovery_targets : 7;
        if (recovery_create(&c->recovery, student, o->recovery_rank, o->recovery_alpha, targets, n, o->seed + 1, err) != 0) {
            calora_free(c);
            return -1;
        }
        c->has_recovery = 1;
    }
    if (c->teacher && lora_load(&c->teacher_lora, c->teacher, adapter_dir, err) != 0) { /* frozen: never trainable */
        calora_free(c);
        return cpet_prefix(err, "calora teacher");
    }
    return 0;
}

int calora_add_trainable(calora *c, adamw *opt, cpet_err *err)
{
    if (c->has_lora && (lora_set_trainable(&c->lora, 1, err) != 0 || adamw_add(opt, c->lora.tensors, c->lora.n_tensors, err) != 0))
        return -1;
    if (c->has_recovery &&
        (recovery_set_trainable(&c->recovery, 1, err) != 0 || adamw_add(opt, c->recovery.tensors, c->recovery.n_tensors, err) != 0))
        return -1;
    return 0;
}

double calora_step_hook(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err)
{
    calora *c = ctx;
    if (!c->teacher || c->distill == 0) return c->last_distill = 0.0;
    const size_t n = (size_t)B * T * m->cfg.hidden_size;
    if (n > c->cap) {
        free(c->grad);
        c->cap = (c->grad = malloc(n * sizeof(float))) ? n : 0;
        if (!c->cap) return cpet_fail(err, "calora: out of memory for the distillation gradient"), NAN;
    }
    /* the teacher's activations hold its hidden states until its next forward, after this step's backward */
    if (model_forward(c->teacher, ids, NULL, B, T, err) != 0) return NAN;
    return c->last_distill = distill_hidden_mse(m, model_final_hidden(c->teacher), c->distill, c->grad);
}

int calora_save(const calora *c, const char *dir, cpet_err *err)
{
    if (!c->has_lora) return cpet_fail(err, "calora: saving recovery modules without a LoRA is not supported (PEFT's format needs the adapter)");
    if (lora_save_with(&c->lora, c->has_recovery ? c->recovery.tensors : NULL, c->has_recovery ? c->recovery.n_tensors : 0, dir,
                       err) != 0)
        return -1;
    return c->has_recovery ? recovery_save_config(&c->recovery, dir, err) : 0;
}

void calora_free(calora *c)
{
    if (c->student) c->student->taps.d_final_hidden = NULL;
    if (c->has_recovery) recovery_free(&c->recovery);
    if (c->has_lora) lora_free(&c->lora);
    if (c->teacher) lora_free(&c->teacher_lora);
    free(c->grad);
    memset(c, 0, sizeof *c);
}
