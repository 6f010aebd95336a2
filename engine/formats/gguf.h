/* GGUF (llama.cpp's model file, version 3): a reader with bounds-checked parsing, a writer, the export of a
 * model as llama.cpp's `llama` architecture and the load of such a file into a model.
 *   file: "GGUF" u32 version, u64 n_tensors, u64 n_kv, then the KVs (string key, u32 value type, value),
 *         the tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset), padding to
 *         general.alignment (32), the tensor data (each tensor at offset from the data start, aligned).
 *   strings: u64 length + bytes (no NUL); arrays: u32 element type, u64 count, elements.
 *   ne[0] is the innermost dimension: a [out, in] weight has ne = {in, out}.
 * The q and k projections are stored with llama.cpp's interleaved RoPE row order (pairs 2i, 2i+1 of a head),
 * HF checkpoints with rotate_half order (i, i + head_dim/2): gguf_permute_rows converts between them. */
#ifndef CPET_GGUF_H
#define CPET_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "tokenizer.h"

enum {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3, GGUF_VT_U32 = 4, GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7, GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11, GGUF_VT_F64 = 12, GGUF_VT_COUNT
};

/* ggml tensor types this code reads and writes (others are named in errors) */
enum { GGML_T_F32 = 0, GGML_T_F16 = 1, GGML_T_Q4_0 = 2, GGML_T_Q8_0 = 8 };

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *ptr;
    size_t len;
} gguf_str;

typedef struct {
    char *key;
    uint32_t type;       /* GGUF_VT_* */
    /* scalars: as integer (u/i types, bool) and as double (every numeric type) */
    int64_t i;
    double f;
    gguf_str s;          /* GGUF_VT_STRING */
    uint32_t arr_type;   /* GGUF_VT_ARRAY: element type, count, raw element bytes (numeric) */
    uint64_t arr_n;
    const uint8_t *arr_data;
    gguf_str *arr_str;   /* string arrays: one entry per element (pointing into the file) */
} gguf_kv;

typedef struct {
    char *name;
    int n_dims;
    int64_t ne[4];
    uint32_t type;       /* GGML_T_* */
    uint64_t offset;     /* from the data start */
    const uint8_t *data;
    size_t nbytes;
} gguf_tensor;

typedef struct {
    char path[1024];
    uint8_t *map;
    size_t size;
    uint32_t version, alignment;
    int n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
} gguf_file;

/* Opens and validates a GGUF file (mmap): header, every KV and tensor info, tensor types (F32, F16, Q8_0,
 * Q4_0), data ranges inside the file. Errors are one line naming the file. */
int gguf_open(gguf_file *g, const char *path, cpet_err *err);
void gguf_close(gguf_file *g);
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);
const char *ggml_type_name(uint32_t type); /* "f32", "q8_0", ... or NULL when unknown */
/* Bytes of n elements of a type (n a multiple of the block size), 0 for types this code does not handle. */
size_t ggml_type_bytes(uint32_t type, int64_t n);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, const size_t *lens, size_t n);
void gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* ne[0] innermost. data must stay valid until gguf_write; with take_ownership the writer frees it (free()). */
int gguf_add_tensor(gguf_writer *w, const char *name, int n_dims, const int64_t *ne, uint32_t type, const void *data,
                    int take_ownership, cpet_err *err);
/* Writes the file atomically (temp file + rename); nothing is left at path on failure. */
int gguf_write(gguf_writer *w, const char *path, cpet_err *err);

/* ---- model <-> llama GGUF ---- */
/* The f32 values of a linear: l->w, or its packed base dequantized into a new *owned buffer (caller frees)
 * when the model keeps no f32 copy; NULL when out of memory. */
const float *gguf_linear_values(const linear *l, float **owned);
/* rotate_half (HF) row order -> interleaved (llama.cpp, Meta, llama2.c) of a [n_heads*head_dim, cols]
 * matrix of rows of row_bytes each; inverse = 1 goes back. */
void gguf_permute_rows(const void *src, void *dst, int n_heads, int head_dim, size_t row_bytes, int inverse);

typedef struct {
    uint32_t type;    /* GGML_T_F32, F16, Q8_0, Q4_0: the layer linears; norms stay f32 */
    int requantize;   /* a packed model in another format is dequantized and requantized (else refused) */
    int quantize_embeddings; /* token_embd / output in the chosen type too (default f32, as cpet compress) */
} gguf_export_options;

/* Writes m as a llama GGUF; tok (may be NULL) adds tokenizer.ggml.* (gpt2 byte-level BPE). src names the
 * model in errors. Refuses what the llama architecture cannot hold (MoE FFNs, activations other than
 * silu), saying which. */
int gguf_export_model(const model *m, const tokenizer *tok, const gguf_export_options *o, const char *src,
                      const char *path, cpet_err *err);
/* Loads a llama GGUF (f32/f16/q8_0/q4_0 tensors) for inference: Q8_0/Q4_0 layer linears become packed bases
 * (m->quant) with no f32 copy (w NULL), everything else f32. The tokenizer: gguf_load_tokenizer. */
int gguf_load_model(model *m, const char *path, cpet_err *err);
/* Builds a tokenizer from tokenizer.ggml.* (model gpt2: byte-level BPE; tokens, token_type 3/4 as special / added
 * tokens, 5 skipped; merges; pre gpt-2, or cpet.tokenizer.regex as cpet writes for other regexes). Errors name the
 * file (no tokenizer, another tokenizer model, another pre-tokenizer). */
int gguf_load_tokenizer(tokenizer *t, const char *path, cpet_err *err);
/* 1 if path is a regular file ending in .gguf or starting with the GGUF magic, or a missing path ending in
 * .gguf (so the loader reports it); 0 for directories. */
int gguf_is_file(const char *path);
/* A model from a directory (config.json + safetensors, model_load) or a .gguf file (gguf_load_model):
 * what every command that runs a model calls. */
int model_load_any(model *m, const char *path, cpet_err *err);
/* The same for commands that only run the model (generate, score, eval, bench decode): a directory's F32
 * tensors are read in place from the mapped checkpoint (model_load_mapped). */
int model_load_for_inference(model *m, const char *path, cpet_err *err);
/* The tokenizer that goes with it: tokenizer_path if given, else a .gguf file's metadata, else
 * DIR/tokenizer.json. */
int tokenizer_load_for(tokenizer *t, const char *model_path, const char *tokenizer_path, cpet_err *err);


#endif
