/* safetensors: mmap reader with a validated header, and an atomic writer.
 * Format: u64 LE header length, JSON header {name: {dtype, shape, data_offsets:[b,e]}, __metadata__},
 * then the data; offsets are relative to the data start and must tile it exactly. */
#ifndef CPET_SAFETENSORS_H
#define CPET_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } st_dtype;

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data; /* points into the mapping */
} st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_size;
    st_tensor *tensors;
    int n_tensors;
    char **meta_keys, **meta_values; /* __metadata__ (string -> string) */
    int n_meta;
} st_file;

const char *st_dtype_name(st_dtype t);
size_t st_dtype_size(st_dtype t);

int st_open(st_file *f, const char *path, cpet_err *err);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key);

/* Converts a floating tensor (f32/f16/bf16/f64) to f32 into dst (numel floats). */
int st_to_f32(const st_file *f, const st_tensor *t, float *dst, cpet_err *err);
/* Drops the resident pages of a tensor the caller has copied out of the mapping, so that loading a
 * model costs the model's bytes of RAM, not twice them (the mapping stays valid: pages come back from
 * the file if touched again). */
void st_release(const st_tensor *t);
/* Converts an integer tensor (I32/I64) to int into dst (numel ints); other dtypes are an error. */
int st_to_int(const st_file *f, const st_tensor *t, int *dst, cpet_err *err);
/* Checks that t has exactly the given shape; the error names file, tensor, both shapes. */
int st_check_shape(const st_file *f, const st_tensor *t, int ndim, const int64_t *shape, cpet_err *err);

/* Writing: entries are written in the given order; the file appears only when complete (tmp + rename). */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} st_entry;

int st_write(const char *path, const st_entry *entries, int n, const char *const *meta_kv, int n_meta,
             cpet_err *err);

/* Helper for building entry lists. */
st_entry st_f32_entry(const char *name, const float *data, int ndim, const int64_t *shape);

#endif
