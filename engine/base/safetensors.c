#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "tensor.h"

#define ST_MAX_HEADER (100u * 1024u * 1024u)

static const struct {
    const char *name;
    st_dtype type;
    size_t size;
} dtype_table[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2},  {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};
#define N_DTYPES (sizeof dtype_table / sizeof dtype_table[0])

const char *st_dtype_name(st_dtype t)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtype_table[i].type == t) return dtype_table[i].name;
    return "?";
}

size_t st_dtype_size(st_dtype t)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtype_table[i].type == t) return dtype_table[i].size;
    return 0;
}

static int dtype_parse(const char *s, st_dtype *out)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype_table[i].name, s) == 0) {
            *out = dtype_table[i].type;
            return 0;
        }
    return -1;
}

static int by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

/* Parses and validates one header entry; data pointers are set relative to `data` */
static int parse_entry(st_file *f, const char *key, json_t *v, const char *data, size_t data_size,
                       st_tensor *t, cpet_err *err)
{
    const char *path = f->path;
    if (!json_is_object(v)) return cpet_fail(err, "%s: header entry '%s' is not an object", path, key);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return cpet_fail(err, "%s: tensor '%s' needs dtype, shape and data_offsets [begin, end]", path, key);
    if (dtype_parse(json_string_value(jd), &t->dtype) != 0)
        return cpet_fail(err, "%s: tensor '%s' has unsupported dtype %s", path, key, json_string_value(jd));
    if (json_array_size(js) > ST_MAX_DIMS)
        return cpet_fail(err, "%s: tensor '%s' has more than %d dimensions", path, key, ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *e = json_array_get(js, (size_t)d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return cpet_fail(err, "%s: tensor '%s' has a bad shape entry", path, key);
        t->shape[d] = json_integer_value(e);
        if (t->shape[d] > 0 && t->numel > SIZE_MAX / (size_t)t->shape[d])
            return cpet_fail(err, "%s: tensor '%s' shape overflows", path, key);
        t->numel *= (size_t)t->shape[d];
    }
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je))
        return cpet_fail(err, "%s: tensor '%s' data_offsets are not integers", path, key);
    json_int_t b = json_integer_value(jb), e = json_integer_value(je);
    if (b < 0 || e < b || (uint64_t)e > data_size)
        return cpet_fail(err, "%s: tensor '%s' data_offsets [%lld, %lld] out of range: the data section has %zu bytes "
                              "(truncated file or corrupt header)",
                         path, key, (long long)b, (long long)e, data_size);
    t->nbytes = (size_t)(e - b);
    if (t->nbytes != t->numel * st_dtype_size(t->dtype))
        return cpet_fail(err, "%s: tensor '%s' has %zu bytes but shape and dtype %s need %zu", path, key,
                         t->nbytes, st_dtype_name(t->dtype), t->numel * st_dtype_size(t->dtype));
    t->data = data + b;
    t->name = strdup(key);
    return t->name ? 0 : cpet_fail(err, "%s: out of memory", path);
}

static int parse_header(st_file *f, const char *hdr, size_t hdr_len, const char *data, size_t data_size,
                        cpet_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hdr_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return cpet_fail(err, "%s: header is not valid JSON (%s)", f->path, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        cpet_fail(err, "%s: header is not a JSON object", f->path);
        goto done;
    }
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->meta_keys = calloc(1, sizeof(char *));
    f->meta_values = calloc(1, sizeof(char *));
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                cpet_fail(err, "%s: __metadata__ is not an object", f->path);
                goto done;
            }
            size_t nm = json_object_size(v);
            f->meta_keys = realloc(f->meta_keys, (nm + 1) * sizeof(char *));
            f->meta_values = realloc(f->meta_values, (nm + 1) * sizeof(char *));
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv)
            {
                if (!json_is_string(mv)) {
                    cpet_fail(err, "%s: __metadata__ value for '%s' is not a string", f->path, mk);
                    goto done;
                }
                f->meta_keys[f->n_meta] = strdup(mk);
                f->meta_values[f->n_meta] = strdup(json_string_value(mv));
                f->n_meta++;
            }
            continue;
        }
        if (parse_entry(f, key, v, data, data_size, &f->tensors[f->n_tensors], err) != 0) goto done;
        f->n_tensors++;
    }
    /* The tensors must tile the data region exactly: no gaps, no overlaps, nothing trailing. */
    st_tensor *sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *sorted);
    memcpy(sorted, f->tensors, f->n_tensors * sizeof *sorted);
    qsort(sorted, f->n_tensors, sizeof *sorted, by_offset);
    size_t expect = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        size_t begin = (size_t)((const char *)sorted[i].data - data);
        if (begin != expect) {
            cpet_fail(err, "%s: tensor '%s' data starts at byte %zu, expected %zu (gap or overlap)", f->path,
                      sorted[i].name, begin, expect);
            free(sorted);
            goto done;
        }
        expect = begin + sorted[i].nbytes;
    }
    free(sorted);
    if (expect != data_size) {
        cpet_fail(err, "%s: tensors cover %zu of %zu data bytes", f->path, expect, data_size);
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int st_open(st_file *f, const char *path, cpet_err *err)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return cpet_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return cpet_fail(err, "%s: cannot stat (%s)", path, strerror(errno));
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        st_close(f);
        return cpet_fail(err, "%s: truncated: %zu bytes, too short for a safetensors header", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        st_close(f);
        return cpet_fail(err, "%s: cannot mmap (%s)", path, strerror(errno));
    }
    f->map = map;
    f->map_size = size;
    uint64_t hlen = 0;
    memcpy(&hlen, map, 8); /* little endian host assumed (x86-64, arm64) */
    if (hlen > ST_MAX_HEADER || hlen > size - 8) {
        cpet_err e2;
        cpet_fail(&e2, "%s: truncated or corrupt: header length %llu but file has %zu bytes", path,
                  (unsigned long long)hlen, size);
        st_close(f);
        return cpet_fail(err, "%s", e2.msg);
    }
    const char *hdr = (const char *)map + 8;
    if (parse_header(f, hdr, (size_t)hlen, hdr + hlen, size - 8 - (size_t)hlen, err) != 0) {
        st_close(f);
        return -1;
    }
    return 0;
}

void st_close(st_file *f)
{
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int st_to_f32(const st_file *f, const st_tensor *t, float *dst, cpet_err *err)
{
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, src, t->numel * 4); return 0;
    case ST_F16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = cpet_f16_to_f32(h);
        }
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = cpet_bf16_to_f32(h);
        }
        return 0;
    case ST_F64:
        for (size_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return cpet_fail(err, "%s: tensor '%s' has dtype %s, expected a float type (F32, F16, BF16)", f->path,
                         t->name, st_dtype_name(t->dtype));
    }
}

void st_release(const st_tensor *t)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data, b = a + t->nbytes;
    uintptr_t first = (a + page - 1) / page * page, last = b / page * page; /* whole pages inside the tensor */
    if (last > first) madvise((void *)first, last - first, MADV_DONTNEED);
}

int st_to_int(const st_file *f, const st_tensor *t, int *dst, cpet_err *err)
{
    if (t->dtype != ST_I32 && t->dtype != ST_I64)
        return cpet_fail(err, "%s: tensor '%s' has dtype %s, expected I32 or I64", f->path, t->name, st_dtype_name(t->dtype));
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == ST_I32) {
            int32_t v;
            memcpy(&v, (const char *)t->data + 4 * i, 4);
            dst[i] = v;
        } else {
            int64_t v;
            memcpy(&v, (const char *)t->data + 8 * i, 8);
            dst[i] = (int)v;
        }
    }
    return 0;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

int st_check_shape(const st_file *f, const st_tensor *t, int ndim, const int64_t *shape, cpet_err *err)
{
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (same) return 0;
    char have[128], want[128];
    shape_str(have, sizeof have, t->ndim, t->shape);
    shape_str(want, sizeof want, ndim, shape);
    return cpet_fail(err, "%s: tensor '%s' has shape %s but the config expects %s", f->path, t->name, have, want);
}

st_entry st_f32_entry(const char *name, const float *data, int ndim, const int64_t *shape)
{
    st_entry e;
    memset(&e, 0, sizeof e);
    e.name = name;
    e.dtype = ST_F32;
    e.ndim = ndim;
    for (int d = 0; d < ndim; d++) e.shape[d] = shape[d];
    e.data = data;
    return e;
}

int st_write(const char *path, const st_entry *entries, int n, const char *const *meta_kv, int n_meta,
             cpet_err *err)
{
    json_t *root = json_object();
    if (n_meta > 0) {
        json_t *meta = json_object();
        for (int i = 0; i < n_meta; i++) json_object_set_new(meta, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]));
        json_object_set_new(root, "__metadata__", meta);
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < entries[i].ndim; d++) {
            numel *= (size_t)entries[i].shape[d];
            json_array_append_new(shape, json_integer(entries[i].shape[d]));
        }
        size_t nbytes = numel * st_dtype_size(entries[i].dtype);
        json_t *info = json_object();
        json_object_set_new(info, "dtype", json_string(st_dtype_name(entries[i].dtype)));
        json_object_set_new(info, "shape", shape);
        json_object_set_new(info, "data_offsets", json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + nbytes)));
        if (json_object_set_new(root, entries[i].name, info) != 0) {
            json_decref(root);
            return cpet_fail(err, "%s: cannot add tensor '%s' to the header", path, entries[i].name);
        }
        offset += nbytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return cpet_fail(err, "%s: cannot serialise header", path);
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) / 8 * 8; /* pad with spaces so the data starts 8-byte aligned */

    atomic_file af;
    if (atomic_open(&af, path, err) != 0) {
        free(hdr);
        return -1;
    }
    uint64_t hl = padded;
    int ok = fwrite(&hl, 8, 1, af.fp) == 1 && fwrite(hdr, 1, hlen, af.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
    free(hdr);
    for (int i = 0; ok && i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < entries[i].ndim; d++) numel *= (size_t)entries[i].shape[d];
        size_t nbytes = numel * st_dtype_size(entries[i].dtype);
        ok = nbytes == 0 || fwrite(entries[i].data, 1, nbytes, af.fp) == nbytes;
    }
    if (!ok) {
        atomic_abort(&af);
        return cpet_fail(err, "%s: write failed (%s)", path, strerror(errno));
    }
    return atomic_commit(&af, err);
}
