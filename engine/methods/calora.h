/* CA-LoRA (Zhao et al., arXiv 2307.07705; thunlp/CA-LoRA) over the engine API: adapting an existing LoRA,
 * trained on the uncompressed model, to a compressed one.
 *   init       inherit: the same A/B copied unchanged (the reference's load_state_dict); random: fresh A,
 *              B = 0 (and a fresh MoSLoRA mixer) with the adapter's rank, alpha and targets (the baseline
 *              `rd`); none: no LoRA on the student at all, the recovery modules are the only PET (the
 *              reference's `rc` rows, --pet False)
 *   recovery   recovery modules (recovery.h) beside the chosen linears (by default every projection: the
 *              reference's on v, o and the FFN, and on q and k summed with the LoRA), trained with it
 *   distill    w of the hidden-state MSE against the teacher: the uncompressed model with the same
 *              inherited adapter, frozen (its base is read in place when loaded mapped: nothing copied)
 * Only LoRA and recovery parameters train; the compressed base stays frozen. */
#ifndef CPET_CALORA_H
#define CPET_CALORA_H

#include <stdint.h>

#include "lora.h"
#include "model.h"
#include "optim.h"
#include "recovery.h"
#include "train.h"

typedef enum { CALORA_INIT_INHERIT, CALORA_INIT_RANDOM, CALORA_INIT_NONE } calora_init;

typedef struct {
    calora_init init;
    int recovery, recovery_rank;
    float recovery_alpha;
    const char *const *recovery_targets; /* NULL: every projection, the reference's (activate on v, o, FFN; on q, k summed with the LoRA) */
    int n_recovery_targets;
    float distill; /* >= 0; 0: no teacher */
    uint64_t seed;
} calora_options;

typedef struct {
    model *student, *teacher;
    lora_adapter lora, teacher_lora;
    recovery_set recovery;
    int has_lora, has_recovery;
    float distill;
    float *grad; /* the distillation term's gradient at the student's final hidden states */
    size_t cap;
    double last_distill;
} calora;

/* Attaches the adapter from adapter_dir (inherited or re-initialised) and the recovery modules to student,
 * and with distill > 0 the same adapter to teacher (which must be the uncompressed model of student). */
int calora_setup(calora *c, model *student, model *teacher, const char *adapter_dir, const calora_options *o, cpet_err *err);
/* Registers what trains (the LoRA, the recovery modules) with opt. */
int calora_add_trainable(calora *c, adamw *opt, cpet_err *err);
/* train_step_hooked's hook (ctx: the calora): the teacher's final hidden states on the same ids, and the
 * distillation term on the student (distill.h). Returns the term. */
double calora_step_hook(model *m, const int *ids, int B, int T, void *ctx, cpet_err *err);
/* Saves the student's adapter and recovery modules as one PEFT directory (recovery.h's extension). */
int calora_save(const calora *c, const char *dir, cpet_err *err);
void calora_free(calora *c);

#endif
