/* The quantized tensor and its formats' block structs: the types every kernel and the decode pack address
 * (the formats themselves are described in quant.h). */
#ifndef CPET_QTENSOR_H
#define CPET_QTENSOR_H

#include <stddef.h>
#include <stdint.h>

/* ggml's blocks (ggml-common.h): the f16 scale d as IEEE half bits, then the codes */
#define QK8_0 32
#define QK4_0 32
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2]; /* element j in the low nibble of qs[j], element j + 16 in the high one */
} block_q4_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 is ggml's 34-byte block");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 is ggml's 18-byte block");

#define QGROUP_PER_CHANNEL (-1) /* INT4 / INT3: one scale and zero per output row */

typedef enum { QF_INT8, QF_INT4, QF_INT3, QF_Q8_0, QF_Q4_0, QF_NF4, QF_W8A8, QF_COUNT } qformat;

typedef struct {
    qformat format;
    int rows, cols, group; /* group: values per scale */
    uint8_t *data;         /* codes (Q8_0/Q4_0: whole ggml blocks) */
    size_t data_bytes;
    float *scales;         /* INT8/W8A8: per row; INT4/INT3: per group (values are f16-exact) */
    uint8_t *zeros;        /* INT4/INT3: per group */
    uint8_t *absmax_q;     /* NF4: int8 codes of (absmax - mean) per block */
    float *absmax_scale;   /* NF4: per 256 blocks */
    float absmax_mean;     /* NF4 */
    /* decode mode: quantize the activations to int8 blocks of 32 (absmax / 127) and use integer dot
     * products, llama.cpp's scheme (faster, slightly different numbers); 0 = exact float activations */
    int q8_activations;
    /* optional row-interleaved copy of the codes (Q8_0, Q4_0, INT4, INT3) that the q8_activations decode reads (qpack.c) */
    uint8_t *pack;
    size_t pack_bytes;
} qtensor;

#endif
