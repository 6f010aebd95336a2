#include "calib_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "tensor.h"
#include "train.h"

/* a frozen copy of m's weights: the teacher */
static int copy_model(model *dst, const model *src, cpet_err *err)
{
    if (model_create(dst, &src->cfg, err) != 0) return -1;
    if (dst->n_params != src->n_params) {
        model_free(dst);
        return cpet_fail(err, "cannot copy the model for its teacher (its layout differs)");
    }
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return 0;
}

int calib_train(model *m, const compress_training *o, const calib_data *c, const calib_hooks *h, json_t *curve, cpet_err *err)
{
    if (o->steps <= 0) return 0;
    if (!c || c->rows < 1 || c->seq < 2) return cpet_fail(err, "training needs calibration text (--calib)");
    if (o->batch < 1) return cpet_fail(err, "training batch %d (at least 1)", o->batch);
    const int B = o->batch, T = c->seq - 1;
    const size_t nh = (size_t)B * T * m->cfg.hidden_size;
    model teacher;
    int have_teacher = 0, rc = 0;
    if (h->needs_teacher) {
        if (copy_model(&teacher, m, err) != 0) return -1;
        have_teacher = 1;
    }
    adamw opt, own; /* the model's weights; the method's tensors at their own learning rate */
    memset(&opt, 0, sizeof opt), memset(&own, 0, sizeof own);
    adamw_config oc = adamw_defaults();
    oc.lr = o->lr, oc.weight_decay = 0.0f;
    int *ids = malloc((size_t)B * T * sizeof *ids), *targets = malloc((size_t)B * T * sizeof *targets);
    float *teacher_hidden = have_teacher ? cpet_alloc_floats(nh) : NULL;
    if (!ids || !targets || (have_teacher && !teacher_hidden)) rc = cpet_fail(err, "out of memory");
    if (rc == 0 && !h->model_frozen) rc = model_set_trainable(m, NULL, 1, err);
    if (rc == 0) rc = adamw_init(&opt, oc, err) || (!h->model_frozen && adamw_add(&opt, m->tensors, m->n_tensors, err)) ||
                      adamw_init(&own, oc, err) || adamw_add(&own, h->tensors, h->n_tensors, err);
    const lr_schedule sched = {.kind = SCHED_COSINE, .lr = o->lr, .min_lr = o->lr * 0.1f, .warmup_steps = o->steps / 10, .total_steps = o->steps};
    cpet_rng rng;
    rng_seed(&rng, o->seed);
    for (int step = 0; step < o->steps && rc == 0; step++) {
        for (int b = 0; b < B; b++) { /* rows drawn from the calibration set */
            const int *row = c->ids + (size_t)rng_below(&rng, c->rows) * c->seq;
            memcpy(ids + (size_t)b * T, row, (size_t)T * sizeof *ids);
            memcpy(targets + (size_t)b * T, row + 1, (size_t)T * sizeof *targets);
        }
        if (have_teacher) {
            if ((rc = model_forward(&teacher, ids, NULL, B, T, err)) != 0) break;
            memcpy(teacher_hidden, model_final_hidden(&teacher), nh * sizeof(float));
        }
        optimizer_zero_grad(&opt), optimizer_zero_grad(&own);
        if ((rc = h->before_forward(h->ctx, m, err)) != 0) break;
        double ce = NAN, extra = 0;
        rc = model_forward(m, ids, targets, B, T, err);
        if (rc == 0) ce = m->loss;
        if (rc == 0 && !isfinite(ce)) rc = cpet_fail(err, "loss is %f at step %d (diverged)", ce, step + 1);
        if (rc == 0 && h->extra_loss && !isfinite(extra = h->extra_loss(h->ctx, m, teacher_hidden, err))) rc = -1;
        if (rc == 0) rc = model_backward(m, err);
        m->taps.d_final_hidden = NULL;
        if (h->after_backward(h->ctx, m, rc != 0, err) != 0 && rc == 0) rc = -1;
        if (rc) break;
        const double norm = clip_grad_norm(&opt, 1.0), own_norm = clip_grad_norm(&own, 1.0); /* each clipped on its own */
        if (!isfinite(norm) || !isfinite(own_norm)) {
            rc = cpet_fail(err, "gradient norm is %f at step %d", isfinite(norm) ? own_norm : norm, step + 1);
            break;
        }
        const float lr = lr_at(&sched, step);
        adamw_step(&opt, lr);
        adamw_step(&own, o->lr > 0 ? lr * o->method_lr / o->lr : 0.0f);
        if (h->after_update) h->after_update(h->ctx);
        if (curve) json_array_append_new(curve, json_pack("[i, f, f]", step + 1, ce, extra));
    }
    if (rc == 0 && !h->model_frozen) rc = model_set_trainable(m, NULL, 0, err);
    adamw_free(&opt), adamw_free(&own);
    if (have_teacher) model_free(&teacher);
    cpet_free(teacher_hidden);
    free(ids), free(targets);
    return rc ? -1 : 0;
}
