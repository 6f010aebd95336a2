/* A named parameter tensor: what the optimizer, checkpoint I/O and gradient dumps iterate over.
 * Model weights and every branch (LoRA, ...) describe their parameters with this one type. */
#ifndef CPET_PARAMS_H
#define CPET_PARAMS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[160];   /* HF / PEFT tensor name */
    float *p;         /* values */
    float *g;         /* gradient (NULL until gradients are allocated) */
    size_t n;
    int ndim;
    int64_t shape[2];
    int trainable;    /* gradients are computed only for trainable tensors */
    int decay;        /* AdamW weight decay applies (matrices yes, norms no) */
    int external;     /* p points into a mapped checkpoint (model_load_mapped), not into params */
} param_tensor;

/* Gradients of a block of tensors that point into one params buffer [n] (an adapter, recovery modules):
 * allocates *grads once and points each tensor's g at its place; -1 when out of memory. */
int param_block_grads(param_tensor *tensors, int n_tensors, const float *params, size_t n, float **grads);

#endif
