/* A model's decode through sparse FFNs: model_sparse_enable builds every layer's sparse_ffn (sparse_ffn.h)
 * into m->sparse, which the forward takes for decode-sized chunks. */
#ifndef CPET_SPARSE_DECODE_H
#define CPET_SPARSE_DECODE_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "sparse_ffn.h"

/* Builds m->sparse (every layer; calibrate: measure the crossover on layer 0 for all, else always sparse). Refuses
 * a model whose activation is not ReLU (SiLU is never exactly zero: nothing to skip) and MoEfication. */
int model_sparse_enable(model *m, int calibrate, cpet_err *err);
void model_sparse_disable(model *m);
/* FNV-1a over the model's shape and its gate matrices (dequantized): what a predictor is checked against. */
uint64_t model_ffn_fingerprint(const model *m);

#endif
