/* The training loop the compression methods that train share (qat.h, simple.h): batches of calibration
 * rows (next-token cross-entropy), the unpruned, unquantized model as a frozen teacher when asked, AdamW on
 * every weight of the model (unless frozen) and the method's own tensors, cosine schedule with 10% warmup, clip 1.0. The
 * method reparameterizes weights through hooks around each forward and backward. */
#ifndef CPET_CALIB_TRAIN_H
#define CPET_CALIB_TRAIN_H

#include <jansson.h>

#include "calib.h"
#include "error.h"
#include "model.h"
#include "params.h"

typedef struct {
    void *ctx;
    int needs_teacher;
    int model_frozen; /* only the method's tensors train (else every weight of the model too) */
    /* before each forward: put the weights the step computes with in place */
    int (*before_forward)(void *ctx, model *m, cpet_err *err);
    /* after the forward: a loss term of the method's (setting the model's taps; teacher_hidden is the
     * teacher's final hidden state for the same rows, or NULL); returns its value, NAN on failure */
    double (*extra_loss)(void *ctx, model *m, const float *teacher_hidden, cpet_err *err);
    /* after the backward (also after a failed one, with failed set): the method's gradients, the latent
     * weights back in place */
    int (*after_backward)(void *ctx, model *m, int failed, cpet_err *err);
    /* after each optimizer update (projections, clamps), or NULL */
    void (*after_update)(void *ctx);
    param_tensor *tensors; /* the method's trainable tensors, with gradients */
    int n_tensors;
} calib_hooks;

/* o->steps steps; curve (may be NULL) receives [step, cross-entropy, extra term] per step. Unless the hooks
 * say model_frozen, every weight of m is trained (gradients allocated) and frozen again at the end. */
int calib_train(model *m, const compress_training *o, const calib_data *c, const calib_hooks *h, json_t *curve, cpet_err *err);

#endif
