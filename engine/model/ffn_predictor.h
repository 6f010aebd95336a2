/* An activation predictor per FFN layer (Deja Vu / PowerInfer, as ProSparse's DejaVu_predictor trains it):
 * Linear(D, H, no bias) -> ReLU -> Linear(H, F, no bias), read from the residual stream before the FFN's
 * norm; a neuron is predicted active when its logit passes the gate (sigmoid >= p, i.e. logit >=
 * log(p / (1 - p)); or the top k logits). Trained with binary cross-entropy on recorded (input, x1 > 0)
 * pairs, positives weighted 1 and negatives mean(y) + 0.005 (the reference's weighting, which favours
 * recall), AdamW; the epoch with the best validation recall is kept, as the reference does.
 * Cost per token: H (D + F) multiply-adds against the gate's D F it lets the sparse FFN skip. */
#ifndef CPET_FFN_PREDICTOR_H
#define CPET_FFN_PREDICTOR_H

#include <stdint.h>

#include "error.h"

typedef struct {
    int D, H, F;
    float *w1; /* [H, D] */
    float *w2; /* [F, H] */
} ffn_predictor_layer;

typedef enum { PREDICT_THRESHOLD, PREDICT_TOP_K } predict_gating;

typedef struct ffn_predictor {
    int n_layers;
    ffn_predictor_layer *layers;
    predict_gating gating;
    float p;   /* PREDICT_THRESHOLD: sigmoid >= p */
    int top_k; /* PREDICT_TOP_K: neurons kept per row */
    /* the model it was trained for: its shape and a fingerprint of its FFN gate weights */
    int model_layers, model_hidden, model_ffn;
    uint64_t model_fingerprint;
} ffn_predictor;

int ffn_predictor_alloc(ffn_predictor *p, int n_layers, int D, int H, int F, cpet_err *err);
void ffn_predictor_free(ffn_predictor *p);
/* Floats of scratch ffn_predictor_mask needs for n rows. */
size_t ffn_predictor_scratch(const ffn_predictor *p, int n);
/* mask[F] = 1 for the neurons predicted active in any of the n rows x [n, D]; returns how many. */
int ffn_predictor_mask(const ffn_predictor *p, int layer, const float *x, int n, uint8_t *mask, float *scratch);

/* Classification counts of a predicted mask against the truth (x1 != 0), accumulated. */
typedef struct {
    double tp, fp, fn, tn;
} predict_counts;
double predict_recall(const predict_counts *c);    /* tp / (tp + fn): truly active neurons predicted */
double predict_precision(const predict_counts *c); /* tp / (tp + fp) */
double predict_sparsity(const predict_counts *c);  /* (tn + fn) / all: the share predicted inactive (skipped) */
void predict_count(predict_counts *c, const uint8_t *predicted, const uint8_t *truth, int n);

/* dir/predictor.safetensors (w1, w2 per layer) + dir/predictor.json (gating, the model's shape and
 * fingerprint). Loading checks them against `fingerprint` and the shape: a predictor for another model
 * is an error naming the file. */
int ffn_predictor_save(const ffn_predictor *p, const char *dir, cpet_err *err);
int ffn_predictor_load(ffn_predictor *p, const char *dir, int n_layers, int D, int F, uint64_t fingerprint, cpet_err *err);

#endif
