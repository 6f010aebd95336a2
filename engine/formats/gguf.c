#include "gguf.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress.h"
#include "fileio.h"
#include "quant.h"
#include "tensor.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_MAX_DIMS 4

/* ---- types ---- */

const char *ggml_type_name(uint32_t type)
{
    static const char *const names[] = {"f32", "f16", "q4_0", "q4_1", NULL, NULL, "q5_0", "q5_1", "q8_0", "q8_1",
                                        "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq2_xxs", "iq2_xs",
                                        "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8", "i16",
                                        "i32", "i64", "f64", "iq1_m", "bf16"};
    return type < sizeof names / sizeof names[0] ? names[type] : NULL;
}

size_t ggml_type_bytes(uint32_t type, int64_t n)
{
    switch (type) {
    case GGML_T_F32: return (size_t)n * 4;
    case GGML_T_F16: return (size_t)n * 2;
    case GGML_T_Q8_0: return (size_t)(n / 32) * 34;
    case GGML_T_Q4_0: return (size_t)(n / 32) * 18;
    default: return 0;
    }
}

static int ggml_block(uint32_t type) { return type == GGML_T_Q8_0 || type == GGML_T_Q4_0 ? 32 : 1; }

static size_t vt_size(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_I8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_U16: case GGUF_VT_I16: return 2;
    case GGUF_VT_U32: case GGUF_VT_I32: case GGUF_VT_F32: return 4;
    case GGUF_VT_U64: case GGUF_VT_I64: case GGUF_VT_F64: return 8;
    default: return 0;
    }
}

/* ---- reader ---- */

typedef struct {
    const uint8_t *p;
    size_t pos, size;
} cursor;

static int take(cursor *c, void *dst, size_t n)
{
    if (c->size - c->pos < n) return -1;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int take_str(cursor *c, gguf_str *s)
{
    uint64_t len;
    if (take(c, &len, 8) != 0 || len > c->size - c->pos) return -1;
    s->ptr = (const char *)c->p + c->pos;
    s->len = (size_t)len;
    c->pos += (size_t)len;
    return 0;
}

/* a float key read as an integer: truncated, NaN as 0, out of range saturated (a cast would be undefined) */
static int64_t truncate_to_i64(double x)
{
    if (!(x == x)) return 0;
    if (x >= 9.2233720368547758e18) return INT64_MAX;
    if (x <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)x;
}

static void scalar_value(gguf_kv *kv, const uint8_t *b)
{
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
        uint64_t u64; int64_t i64; double f64;
    } v;
    memcpy(&v, b, vt_size(kv->type));
    switch (kv->type) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: kv->i = v.u8; break;
    case GGUF_VT_I8: kv->i = v.i8; break;
    case GGUF_VT_U16: kv->i = v.u16; break;
    case GGUF_VT_I16: kv->i = v.i16; break;
    case GGUF_VT_U32: kv->i = v.u32; break;
    case GGUF_VT_I32: kv->i = v.i32; break;
    case GGUF_VT_U64: kv->i = (int64_t)v.u64; break;
    case GGUF_VT_I64: kv->i = v.i64; break;
    case GGUF_VT_F32: kv->f = v.f32; kv->i = truncate_to_i64(v.f32); return;
    case GGUF_VT_F64: kv->f = v.f64; kv->i = truncate_to_i64(v.f64); return;
    default: break;
    }
    kv->f = (double)kv->i;
}

static char *dup_str(const gguf_str *s)
{
    char *out = malloc(s->len + 1);
    if (out) {
        memcpy(out, s->ptr, s->len);
        out[s->len] = '\0';
    }
    return out;
}

static int parse_kv(cursor *c, gguf_kv *kv, const char *path, cpet_err *err)
{
    gguf_str key;
    if (take_str(c, &key) != 0 || take(c, &kv->type, 4) != 0)
        return cpet_fail(err, "%s: truncated in the metadata (at byte %zu)", path, c->pos);
    kv->key = dup_str(&key);
    if (!kv->key) return cpet_fail(err, "%s: out of memory", path);
    if (kv->type == GGUF_VT_STRING) {
        if (take_str(c, &kv->s) != 0) return cpet_fail(err, "%s: truncated in the value of '%s'", path, kv->key);
        return 0;
    }
    if (kv->type == GGUF_VT_ARRAY) {
        if (take(c, &kv->arr_type, 4) != 0 || take(c, &kv->arr_n, 8) != 0)
            return cpet_fail(err, "%s: truncated in the value of '%s'", path, kv->key);
        if (kv->arr_type == GGUF_VT_STRING) {
            if (kv->arr_n > (c->size - c->pos) / 8) return cpet_fail(err, "%s: truncated in the array '%s'", path, kv->key);
            kv->arr_str = malloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof *kv->arr_str);
            if (!kv->arr_str) return cpet_fail(err, "%s: out of memory", path);
            for (uint64_t j = 0; j < kv->arr_n; j++)
                if (take_str(c, &kv->arr_str[j]) != 0) return cpet_fail(err, "%s: truncated in the array '%s'", path, kv->key);
            return 0;
        }
        size_t es = vt_size(kv->arr_type);
        if (!es) return cpet_fail(err, "%s: array '%s' has element type %u, which is not supported", path, kv->key, kv->arr_type);
        if (kv->arr_n > (c->size - c->pos) / es) return cpet_fail(err, "%s: truncated in the array '%s'", path, kv->key);
        kv->arr_data = c->p + c->pos;
        c->pos += (size_t)kv->arr_n * es;
        return 0;
    }
    size_t es = vt_size(kv->type);
    if (!es) return cpet_fail(err, "%s: metadata '%s' has value type %u, which is not a GGUF type", path, kv->key, kv->type);
    if (c->size - c->pos < es) return cpet_fail(err, "%s: truncated in the value of '%s'", path, kv->key);
    scalar_value(kv, c->p + c->pos);
    c->pos += es;
    return 0;
}

static int parse_tensor(cursor *c, gguf_tensor *t, const char *path, cpet_err *err)
{
    gguf_str name;
    uint32_t nd;
    if (take_str(c, &name) != 0 || take(c, &nd, 4) != 0) return cpet_fail(err, "%s: truncated in the tensor infos", path);
    t->name = dup_str(&name);
    if (!t->name) return cpet_fail(err, "%s: out of memory", path);
    if (nd < 1 || nd > GGUF_MAX_DIMS) return cpet_fail(err, "%s: tensor '%s' has %u dimensions (1 to 4)", path, t->name, nd);
    t->n_dims = (int)nd;
    int64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (take(c, &v, 8) != 0) return cpet_fail(err, "%s: truncated in the tensor infos", path);
        if (v == 0 || v > ((uint64_t)1 << 40) || (uint64_t)n > ((uint64_t)1 << 50) / v)
            return cpet_fail(err, "%s: tensor '%s' has an invalid dimension %llu", path, t->name, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        n *= (int64_t)v;
    }
    if (take(c, &t->type, 4) != 0 || take(c, &t->offset, 8) != 0) return cpet_fail(err, "%s: truncated in the tensor infos", path);
    const char *tn = ggml_type_name(t->type);
    if (!tn) return cpet_fail(err, "%s: tensor '%s' has ggml type %u, which is not a known type", path, t->name, t->type);
    t->nbytes = ggml_type_bytes(t->type, n);
    if (!t->nbytes)
        return cpet_fail(err, "%s: tensor '%s' has type %s, which is not supported (f32, f16, q8_0, q4_0)", path, t->name, tn);
    if (t->ne[0] % ggml_block(t->type) != 0)
        return cpet_fail(err, "%s: tensor '%s' of type %s has rows of %lld values, not a multiple of 32", path, t->name, tn,
                         (long long)t->ne[0]);
    return 0;
}

void gguf_close(gguf_file *g)
{
    for (int i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].arr_str);
    }
    for (int i = 0; g->tensors && i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap(g->map, g->size);
    memset(g, 0, sizeof *g);
}

int gguf_open(gguf_file *g, const char *path, cpet_err *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return cpet_fail(err, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cpet_fail(err, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return cpet_fail(err, "%s: truncated: %lld bytes, shorter than a GGUF header", path, (long long)st.st_size);
    }
    g->size = (size_t)st.st_size;
    void *map = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return cpet_fail(err, "%s: cannot map the file", path);
    g->map = map;
    cursor c = {g->map, 0, g->size};
    uint32_t magic = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    take(&c, &magic, 4);
    take(&c, &g->version, 4);
    take(&c, &n_tensors, 8);
    take(&c, &n_kv, 8);
    int rc = 0;
    if (magic != GGUF_MAGIC) rc = cpet_fail(err, "%s: not a GGUF file (bad magic)", path);
    else if (g->version != 2 && g->version != 3)
        rc = cpet_fail(err, "%s: GGUF version %u is not supported (2 or 3)", path, g->version);
    else if (n_kv > g->size / 12 || n_tensors > g->size / 24)
        rc = cpet_fail(err, "%s: truncated or corrupt: header counts %llu tensors and %llu metadata entries", path,
                       (unsigned long long)n_tensors, (unsigned long long)n_kv);
    if (rc == 0) {
        g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
        g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
        if (!g->kv || !g->tensors) rc = cpet_fail(err, "%s: out of memory", path);
    }
    for (uint64_t i = 0; rc == 0 && i < n_kv; i++) {
        g->n_kv++;
        rc = parse_kv(&c, &g->kv[i], path, err);
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = rc == 0 ? gguf_find_kv(g, "general.alignment") : NULL;
    if (al) {
        if (al->type != GGUF_VT_U32 || al->i == 0 || (al->i & (al->i - 1)) != 0)
            rc = cpet_fail(err, "%s: general.alignment must be a u32 power of two", path);
        else g->alignment = (uint32_t)al->i;
    }
    for (uint64_t i = 0; rc == 0 && i < n_tensors; i++) {
        g->n_tensors++;
        rc = parse_tensor(&c, &g->tensors[i], path, err);
        for (uint64_t j = 0; rc == 0 && j < i; j++)
            if (!strcmp(g->tensors[j].name, g->tensors[i].name))
                rc = cpet_fail(err, "%s: tensor '%s' appears twice", path, g->tensors[i].name);
    }
    if (rc == 0) {
        size_t data_start = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
        for (int i = 0; rc == 0 && i < g->n_tensors; i++) {
            gguf_tensor *t = &g->tensors[i];
            if (t->offset % g->alignment != 0)
                rc = cpet_fail(err, "%s: tensor '%s' is at offset %llu, not a multiple of the alignment %u", path, t->name,
                               (unsigned long long)t->offset, g->alignment);
            else if (data_start > g->size || t->offset > g->size - data_start || t->nbytes > g->size - data_start - t->offset)
                rc = cpet_fail(err, "%s: truncated: tensor '%s' (%zu bytes at %llu) runs past the end of the file (%zu bytes)",
                               path, t->name, t->nbytes, (unsigned long long)(data_start + t->offset), g->size);
            else t->data = g->map + data_start + t->offset;
        }
    }
    if (rc != 0) gguf_close(g);
    return rc;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key)
{
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

int gguf_is_file(const char *path)
{
    size_t n = strlen(path);
    int suffix = n >= 5 && !strcmp(path + n - 5, ".gguf");
    struct stat st;
    if (stat(path, &st) != 0) return suffix; /* a missing x.gguf: the GGUF loader says so */
    if (!S_ISREG(st.st_mode)) return 0;
    if (suffix) return 1;
    FILE *fp = fopen(path, "rb");
    uint32_t magic = 0;
    int ok = fp && fread(&magic, 4, 1, fp) == 1 && magic == GGUF_MAGIC;
    if (fp) fclose(fp);
    return ok;
}

/* ---- writer ---- */

typedef struct {
    char *name;
    int n_dims;
    int64_t ne[4];
    uint32_t type;
    const void *data;
    size_t nbytes;
    int owned;
} wtensor;

struct gguf_writer {
    uint8_t *kv;
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    wtensor *t;
    int n_t, cap_t;
    int oom;
};

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        if (w->t[i].owned) free((void *)w->t[i].data);
    }
    free(w->t);
    free(w->kv);
    free(w);
}

static void put(gguf_writer *w, const void *p, size_t n)
{
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) cap *= 2;
        uint8_t *b = realloc(w->kv, cap);
        if (!b) {
            w->oom = 1;
            return;
        }
        w->kv = b;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_str(gguf_writer *w, const char *s, size_t len)
{
    uint64_t n = len;
    put(w, &n, 8);
    put(w, s, len);
}

static void put_key(gguf_writer *w, const char *key, uint32_t type)
{
    put_str(w, key, strlen(key));
    put(w, &type, 4);
    w->n_kv++;
}

void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v)
{
    put_key(w, key, GGUF_VT_U32);
    put(w, &v, 4);
}

void gguf_set_f32(gguf_writer *w, const char *key, float v)
{
    put_key(w, key, GGUF_VT_F32);
    put(w, &v, 4);
}

void gguf_set_str(gguf_writer *w, const char *key, const char *v)
{
    put_key(w, key, GGUF_VT_STRING);
    put_str(w, v, strlen(v));
}

void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, const size_t *lens, size_t n)
{
    put_key(w, key, GGUF_VT_ARRAY);
    uint32_t et = GGUF_VT_STRING;
    uint64_t cnt = n;
    put(w, &et, 4);
    put(w, &cnt, 8);
    for (size_t i = 0; i < n; i++) put_str(w, v[i], lens ? lens[i] : strlen(v[i]));
}

void gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
    put_key(w, key, GGUF_VT_ARRAY);
    uint32_t et = GGUF_VT_I32;
    uint64_t cnt = n;
    put(w, &et, 4);
    put(w, &cnt, 8);
    put(w, v, n * 4);
}

int gguf_add_tensor(gguf_writer *w, const char *name, int n_dims, const int64_t *ne, uint32_t type, const void *data,
                    int take_ownership, cpet_err *err)
{
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= ne[d];
    size_t nbytes = ggml_type_bytes(type, n);
    if (n_dims < 1 || n_dims > 4 || !nbytes || ne[0] % ggml_block(type) != 0) {
        if (take_ownership) free((void *)data);
        return cpet_fail(err, "tensor '%s': cannot write %d-D type %u with %lld values per row", name, n_dims, type, (long long)ne[0]);
    }
    if (w->n_t == w->cap_t) {
        int cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) {
            if (take_ownership) free((void *)data);
            return cpet_fail(err, "out of memory");
        }
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    t->type = type;
    t->data = data;
    t->nbytes = nbytes;
    t->owned = take_ownership;
    return 0;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

int gguf_write(gguf_writer *w, const char *path, cpet_err *err)
{
    if (w->oom) return cpet_fail(err, "%s: out of memory building the metadata", path);
    const size_t A = GGUF_DEFAULT_ALIGNMENT;
    static const uint8_t zeros[64] = {0};
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    FILE *fp = af.fp;
    uint32_t magic = GGUF_MAGIC, version = 3;
    uint64_t nt = (uint64_t)w->n_t;
    size_t pos = 0;
    int ok = 1;
#define W(p, n) (ok = ok && fwrite((p), 1, (n), fp) == (n), pos += (n))
    W(&magic, 4);
    W(&version, 4);
    W(&nt, 8);
    W(&w->n_kv, 8);
    W(w->kv, w->kv_len);
    uint64_t offset = 0;
    for (int i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims;
        W(&len, 8);
        W(t->name, len);
        W(&nd, 4);
        for (int d = 0; d < t->n_dims; d++) {
            uint64_t v = (uint64_t)t->ne[d];
            W(&v, 8);
        }
        W(&t->type, 4);
        W(&offset, 8);
        offset = align_up(offset + t->nbytes, A);
    }
    W(zeros, align_up(pos, A) - pos);
    for (int i = 0; i < w->n_t; i++) {
        W(w->t[i].data, w->t[i].nbytes);
        W(zeros, align_up(w->t[i].nbytes, A) - w->t[i].nbytes); /* the last one too: ggml reads the padded blob */
    }
#undef W
    if (!ok) {
        atomic_abort(&af);
        return cpet_fail(err, "%s: write failed (disk full?)", path);
    }
    return atomic_commit(&af, err);
}

/* ---- model <-> llama GGUF ---- */

void gguf_permute_rows(const void *src, void *dst, int n_heads, int head_dim, size_t row_bytes, int inverse)
{
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < half; i++)
            for (int t = 0; t < 2; t++) {
                size_t il = (size_t)h * head_dim + 2 * i + t, hf = (size_t)h * head_dim + (size_t)t * half + i;
                size_t d = inverse ? hf : il, s = inverse ? il : hf;
                memcpy((char *)dst + d * row_bytes, (const char *)src + s * row_bytes, row_bytes);
            }
}

static const char *const gguf_linear_name[LIN_PER_LAYER] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                           "ffn_gate", "ffn_up", "ffn_down"};

static qformat packed_format_of(uint32_t type) { return type == GGML_T_Q8_0 ? QF_Q8_0 : type == GGML_T_Q4_0 ? QF_Q4_0 : QF_COUNT; }

/* rows x cols f32 -> a new buffer of the type (NULL with err on failure) */
static void *encode_f32(const float *w, int rows, int cols, uint32_t type, cpet_err *err)
{
    size_t n = (size_t)rows * cols;
    if (type == GGML_T_F32) {
        float *out = malloc(n * 4);
        if (out) memcpy(out, w, n * 4);
        else cpet_fail(err, "out of memory");
        return out;
    }
    if (type == GGML_T_F16) {
        uint16_t *out = malloc(n * 2);
        if (!out) {
            cpet_fail(err, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < n; i++) out[i] = cpet_f32_to_f16(w[i]);
        return out;
    }
    qtensor q;
    if (quantize_rtn(&q, packed_format_of(type), w, rows, cols, 0, err) != 0) return NULL;
    void *out = malloc(q.data_bytes);
    if (out) memcpy(out, q.data, q.data_bytes);
    else cpet_fail(err, "out of memory");
    qtensor_free(&q);
    return out;
}

/* The f32 values of a linear: its weight, or (a model loaded packed keeps no f32 copy) its packed base
 * dequantized into *owned (caller frees). NULL when out of memory. */
const float *gguf_linear_values(const linear *l, float **owned)
{
    *owned = NULL;
    if (l->w) return l->w;
    if (!l->qw) return NULL;
    *owned = malloc((size_t)l->out * l->in * sizeof(float));
    if (*owned) qtensor_dequantize(l->qw, *owned);
    return *owned;
}

/* One matrix: the f32 weights (or the packed blocks when they are already in the target type), q/k rows
 * permuted to the interleaved RoPE order. */
static int add_matrix(gguf_writer *w, const char *name, const float *wf, const qtensor *packed, int rows, int cols,
                      uint32_t type, int perm_heads, int head_dim, cpet_err *err)
{
    int64_t ne[2] = {cols, rows};
    void *data;
    if (packed) {
        data = malloc(packed->data_bytes);
        if (!data) return cpet_fail(err, "out of memory");
        if (perm_heads) gguf_permute_rows(packed->data, data, perm_heads, head_dim, packed->data_bytes / (size_t)rows, 0);
        else memcpy(data, packed->data, packed->data_bytes);
    } else {
        float *tmp = NULL;
        if (perm_heads) {
            tmp = malloc((size_t)rows * cols * sizeof(float));
            if (!tmp) return cpet_fail(err, "out of memory");
            gguf_permute_rows(wf, tmp, perm_heads, head_dim, (size_t)cols * sizeof(float), 0);
        }
        data = encode_f32(tmp ? tmp : wf, rows, cols, type, err);
        free(tmp);
        if (!data) return cpet_prefix(err, "%s", name);
    }
    return gguf_add_tensor(w, name, 2, ne, type, data, 1, err);
}

static int add_vector(gguf_writer *w, const char *name, const float *v, int n, cpet_err *err)
{
    int64_t ne[1] = {n};
    return gguf_add_tensor(w, name, 1, ne, GGML_T_F32, v, 0, err);
}

static uint32_t file_type_of(uint32_t type)
{
    switch (type) {
    case GGML_T_F16: return 1;
    case GGML_T_Q4_0: return 2;
    case GGML_T_Q8_0: return 7;
    default: return 0;
    }
}

static int add_tokenizer(gguf_writer *w, const tokenizer *tok, const model_config *c, const char *src, cpet_err *err)
{
    if (tok->style == TOKENIZER_SENTENCEPIECE) /* llama.cpp's "llama" tokenizer model takes scores, not merges */
        return cpet_fail(err, "%s: a SentencePiece-style tokenizer goes into GGUF as llama.cpp's 'llama' model (token scores), which cpet "
                              "does not write; only byte-level BPE ('gpt2') is exported",
                         src);
    int V = c->vocab_size;
    if (tok->vocab_size > V)
        return cpet_fail(err, "%s: the tokenizer has %d tokens, more than the model's vocabulary of %d", src, tok->vocab_size, V);
    const char **toks = calloc((size_t)V, sizeof *toks);
    size_t *lens = calloc((size_t)V, sizeof *lens);
    int32_t *types = calloc((size_t)V, sizeof *types);
    char (*pad)[24] = calloc((size_t)V, sizeof *pad);
    const char **merges = calloc((size_t)tok->n_merges + 1, sizeof *merges);
    char **owned = calloc((size_t)tok->n_merges + 1, sizeof *owned);
    int rc = 0;
    if (!toks || !lens || !types || !pad || !merges || !owned) rc = cpet_fail(err, "out of memory");
    for (int id = 0; rc == 0 && id < V; id++) {
        if (id < tok->vocab_size && tok->token[id]) {
            toks[id] = tok->token[id];
            lens[id] = tok->token_len[id];
            types[id] = 1; /* normal */
        } else {
            snprintf(pad[id], sizeof pad[id], "[PAD%d]", id);
            toks[id] = pad[id];
            lens[id] = strlen(pad[id]);
            types[id] = 5; /* unused */
        }
    }
    for (int k = 0; rc == 0 && k < tok->n_added; k++) {
        int id = tok->added[k].id;
        if (id >= 0 && id < V) types[id] = tok->added[k].special ? 3 : 4; /* control : user defined */
    }
    for (int k = 0; rc == 0 && k < tok->n_merges; k++) {
        const char *a = tok->token[tok->merge_left[k]], *b = tok->token[tok->merge_right[k]];
        size_t la = tok->token_len[tok->merge_left[k]], lb = tok->token_len[tok->merge_right[k]];
        owned[k] = malloc(la + lb + 2);
        if (!owned[k]) {
            rc = cpet_fail(err, "out of memory");
            break;
        }
        memcpy(owned[k], a, la);
        owned[k][la] = ' ';
        memcpy(owned[k] + la + 1, b, lb);
        owned[k][la + lb + 1] = '\0';
        merges[k] = owned[k];
    }
    if (rc == 0) {
        gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
        if (tok->n_regex == 1 && tok->regex_src[0] && !strcmp(tok->regex_src[0], GPT2_SPLIT_REGEX))
            gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2");
        else /* other pre-tokenizer regexes (LLaMA-3 style): kept under cpet's own keys for gguf_load_tokenizer */
            gguf_set_arr_str(w, "cpet.tokenizer.regex", (const char *const *)tok->regex_src, NULL, (size_t)tok->n_regex);
        if (tok->ignore_merges) gguf_set_u32(w, "cpet.tokenizer.ignore_merges", 1);
        gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, (size_t)V);
        gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)V);
        gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, (size_t)tok->n_merges);
    }
    for (int k = 0; owned && k < tok->n_merges; k++) free(owned[k]);
    free(owned);
    free(merges);
    free(pad);
    free(types);
    free(lens);
    free(toks);
    return rc;
}

int gguf_export_model(const model *m, const tokenizer *tok, const gguf_export_options *o, const char *src,
                      const char *path, cpet_err *err)
{
    const model_config *c = &m->cfg;
    uint32_t type = o->type;
    if (model_is_decode_only(m)) return cpet_fail(err, "%s: the model holds only its decode packs; load it again to export", src);
    if (type != GGML_T_F32 && type != GGML_T_F16 && type != GGML_T_Q8_0 && type != GGML_T_Q4_0)
        return cpet_fail(err, "%s: GGUF type %u is not one cpet writes (f32, f16, q8_0, q4_0)", path, type);
    if (m->moe) return cpet_fail(err, "%s: the llama architecture cannot hold a MoEfication (routed) FFN", src);
    if (c->hidden_act != ACT_SILU)
        return cpet_fail(err, "%s: the llama architecture cannot hold hidden_act %s (its FFN is silu only)", src,
                         activation_name(c->hidden_act));
    int blk = ggml_block(type);
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            const linear *lin = &m->layers[l].lin[k];
            if (lin->qw && lin->qw->format != packed_format_of(type) && !o->requantize)
                return cpet_fail(err, "%s: the layer linears are packed as %s; writing them as %s means dequantizing%s them: pass --requantize",
                                 src, qformat_name(lin->qw->format), ggml_type_name(type),
                                 type == GGML_T_F32 ? "" : " and requantizing");
            if (lin->in % blk != 0)
                return cpet_fail(err, "%s: %s needs rows whose length is a multiple of 32; model.layers.%d.%s has %d", src,
                                 ggml_type_name(type), l, linear_module_suffix[k], lin->in);
        }
    uint32_t emb_type = o->quantize_embeddings ? type : GGML_T_F32;
    /* packed embeddings (cpet compress --embeddings) in q8_0/q4_0 go out as they are, like the head below */
    const qtensor *emb_q = m->embed_q;
    if (emb_q && packed_format_of(GGML_T_Q8_0) == emb_q->format) emb_type = GGML_T_Q8_0;
    else if (emb_q && packed_format_of(GGML_T_Q4_0) == emb_q->format) emb_type = GGML_T_Q4_0;
    else if (emb_q && !o->requantize)
        return cpet_fail(err, "%s: the embeddings are packed as %s; writing them as %s means dequantizing%s them: pass --requantize",
                         src, qformat_name(emb_q->format), ggml_type_name(emb_type), emb_type == GGML_T_F32 ? "" : " and requantizing");
    /* a packed LM head (cpet compress --lm-head): its q8_0/q4_0 blocks go out as they are (exact); another
     * packed format needs --requantize and then takes the embeddings' type */
    const qtensor *head_q = c->tie_word_embeddings ? NULL : m->lm_head.qw;
    uint32_t head_type = emb_type;
    if (head_q && packed_format_of(GGML_T_Q8_0) == head_q->format) head_type = GGML_T_Q8_0;
    else if (head_q && packed_format_of(GGML_T_Q4_0) == head_q->format) head_type = GGML_T_Q4_0;
    else if (head_q && !o->requantize)
        return cpet_fail(err, "%s: the LM head is packed as %s; writing it as %s means dequantizing%s it: pass --requantize", src,
                         qformat_name(head_q->format), ggml_type_name(emb_type), emb_type == GGML_T_F32 ? "" : " and requantizing");
    if (c->hidden_size % ggml_block(emb_type) != 0)
        return cpet_fail(err, "%s: %s embeddings need a hidden size that is a multiple of 32 (it is %d)", src,
                         ggml_type_name(emb_type), c->hidden_size);
    gguf_writer *w = gguf_writer_new();
    if (!w) return cpet_fail(err, "out of memory");
    const char *base = strrchr(src, '/');
    base = base && base[1] ? base + 1 : src;
    gguf_set_str(w, "general.architecture", "llama");
    gguf_set_str(w, "general.name", base);
    gguf_set_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    gguf_set_u32(w, "general.file_type", file_type_of(type));
    gguf_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    gguf_set_u32(w, "llama.context_length", (uint32_t)c->max_position_embeddings);
    gguf_set_u32(w, "llama.embedding_length", (uint32_t)c->hidden_size);
    gguf_set_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)c->intermediate_size);
    gguf_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    gguf_set_f32(w, "llama.rope.freq_base", c->rope_theta);
    gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim);
    if (c->head_dim * c->n_heads != c->hidden_size) {
        gguf_set_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim);
        gguf_set_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim);
    }
    int rc = tok ? add_tokenizer(w, tok, c, src, err) : 0;
    /* the special ids also without a tokenizer: a runtime given one elsewhere needs them */
    if (c->bos_token_id >= 0) gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_token_id);
    if (c->eos_token_id >= 0) gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_token_id);
    char name[128];
    if (rc == 0) {
        const qtensor *same = emb_q && emb_q->format == packed_format_of(emb_type) ? emb_q : NULL;
        float *owned = NULL;
        const float *wf = same ? NULL : model_embed_values(m, &owned);
        if (!same && !wf) rc = cpet_fail(err, "out of memory");
        else rc = add_matrix(w, "token_embd.weight", wf, same, c->vocab_size, c->hidden_size, emb_type, 0, 0, err);
        free(owned);
    }
    for (int l = 0; l < c->n_layers && rc == 0; l++) {
        const layer_weights *lw = &m->layers[l];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        rc = add_vector(w, name, lw->attn_norm, c->hidden_size, err);
        for (int k = 0; k < LIN_PER_LAYER && rc == 0; k++) {
            if (k == LIN_GATE) {
                snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
                if ((rc = add_vector(w, name, lw->ffn_norm, c->hidden_size, err)) != 0) break;
            }
            const linear *lin = &lw->lin[k];
            const qtensor *same = lin->qw && lin->qw->format == packed_format_of(type) ? lin->qw : NULL;
            int heads = k == LIN_Q ? c->n_heads : k == LIN_K ? c->n_kv_heads : 0;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, gguf_linear_name[k]);
            float *owned = NULL;
            const float *wf = same ? NULL : gguf_linear_values(lin, &owned);
            if (!same && !wf) rc = cpet_fail(err, "out of memory");
            else rc = add_matrix(w, name, wf, same, lin->out, lin->in, type, heads, c->head_dim, err);
            free(owned);
        }
    }
    if (rc == 0) rc = add_vector(w, "output_norm.weight", m->final_norm, c->hidden_size, err);
    if (rc == 0 && !c->tie_word_embeddings) {
        const qtensor *same = head_q && head_q->format == packed_format_of(head_type) ? head_q : NULL;
        float *owned = NULL;
        const float *wf = same ? NULL : gguf_linear_values(&m->lm_head, &owned);
        if (!same && !wf) rc = cpet_fail(err, "out of memory");
        else rc = add_matrix(w, "output.weight", wf, same, c->vocab_size, c->hidden_size, head_type, 0, 0, err);
        free(owned);
    }
    if (rc == 0) rc = gguf_write(w, path, err);
    gguf_writer_free(w);
    return rc;
}

/* ---- load ---- */

static int kv_int(const gguf_file *g, const char *key, int required, int64_t dflt, int64_t *out, cpet_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) {
        if (required) return cpet_fail(err, "%s: metadata '%s' is missing", g->path, key);
        *out = dflt;
        return 0;
    }
    if (kv->type == GGUF_VT_STRING || kv->type == GGUF_VT_ARRAY || kv->type == GGUF_VT_F32 || kv->type == GGUF_VT_F64 ||
        kv->i <= 0 || kv->i > (1 << 30))
        return cpet_fail(err, "%s: metadata '%s' must be a positive integer", g->path, key);
    *out = kv->i;
    return 0;
}

static int kv_float(const gguf_file *g, const char *key, double dflt, double *out, cpet_err *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) {
        *out = dflt;
        return 0;
    }
    if ((kv->type != GGUF_VT_F32 && kv->type != GGUF_VT_F64) || !isfinite(kv->f))
        return cpet_fail(err, "%s: metadata '%s' must be a finite float", g->path, key);
    *out = kv->f;
    return 0;
}

static int64_t kv_id(const gguf_file *g, const char *key)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type == GGUF_VT_STRING || kv->type == GGUF_VT_ARRAY || kv->i < 0 || kv->i > (1 << 30)) return -1;
    return kv->i;
}

static int config_from_gguf(const gguf_file *g, model_config *c, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    const gguf_kv *arch = gguf_find_kv(g, "general.architecture");
    if (!arch || arch->type != GGUF_VT_STRING) return cpet_fail(err, "%s: metadata 'general.architecture' is missing", g->path);
    if (arch->s.len != 5 || memcmp(arch->s.ptr, "llama", 5) != 0)
        return cpet_fail(err, "%s: architecture '%.*s' is not supported (cpet loads llama GGUF files)", g->path,
                         (int)(arch->s.len > 64 ? 64 : arch->s.len), arch->s.ptr);
    int64_t D = 0, L = 0, F = 0, H = 1, KV = 0, ctx = 0, hd = 0, rot = 0, bos, eos;
    double eps = 0, theta = 0;
    if (kv_int(g, "llama.embedding_length", 1, 0, &D, err) || kv_int(g, "llama.block_count", 1, 0, &L, err) ||
        kv_int(g, "llama.feed_forward_length", 1, 0, &F, err) || kv_int(g, "llama.attention.head_count", 1, 0, &H, err) ||
        kv_int(g, "llama.attention.head_count_kv", 0, H, &KV, err) || kv_int(g, "llama.context_length", 0, 2048, &ctx, err) ||
        kv_int(g, "llama.attention.key_length", 0, D / H, &hd, err) || kv_int(g, "llama.rope.dimension_count", 0, hd, &rot, err) ||
        kv_float(g, "llama.attention.layer_norm_rms_epsilon", 1e-5, &eps, err) ||
        kv_float(g, "llama.rope.freq_base", 10000.0, &theta, err))
        return -1;
    if (rot != hd)
        return cpet_fail(err, "%s: llama.rope.dimension_count %lld differs from the head size %lld (partial RoPE is not supported)",
                         g->path, (long long)rot, (long long)hd);
    const gguf_kv *vl = gguf_find_kv(g, "llama.attention.value_length");
    if (vl && vl->i != hd) return cpet_fail(err, "%s: value_length %lld differs from key_length %lld", g->path, (long long)vl->i, (long long)hd);
    const gguf_kv *scal = gguf_find_kv(g, "llama.rope.scaling.type");
    if (scal && scal->type == GGUF_VT_STRING && !(scal->s.len == 4 && !memcmp(scal->s.ptr, "none", 4)))
        return cpet_fail(err, "%s: RoPE scaling '%.*s' is not supported", g->path, (int)(scal->s.len > 32 ? 32 : scal->s.len), scal->s.ptr);
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2) return cpet_fail(err, "%s: tensor 'token_embd.weight' is missing or not 2-D", g->path);
    bos = kv_id(g, "tokenizer.ggml.bos_token_id");
    eos = kv_id(g, "tokenizer.ggml.eos_token_id");
    /* the metadata must agree with the tensors before anything is allocated from it */
    if (emb->ne[0] != D)
        return cpet_fail(err, "%s: token_embd.weight has rows of %lld, llama.embedding_length says %lld", g->path,
                         (long long)emb->ne[0], (long long)D);
    if ((int64_t)g->n_tensors < 9 * L + 2)
        return cpet_fail(err, "%s: llama.block_count says %lld layers but the file has only %d tensors", g->path, (long long)L, g->n_tensors);
    if (ctx > (1 << 20)) return cpet_fail(err, "%s: llama.context_length %lld is beyond what cpet runs (1M)", g->path, (long long)ctx);
    const struct {
        const char *name;
        int64_t ne0, ne1;
    } probe[] = {{"blk.0.attn_q.weight", D, H * hd}, {"blk.0.attn_k.weight", D, KV * hd}, {"blk.0.ffn_up.weight", D, F}};
    for (int i = 0; i < 3; i++) {
        const gguf_tensor *t = gguf_find_tensor(g, probe[i].name);
        if (!t) return cpet_fail(err, "%s: tensor '%s' is missing", g->path, probe[i].name);
        if (t->n_dims != 2 || t->ne[0] != probe[i].ne0 || t->ne[1] != probe[i].ne1)
            return cpet_fail(err, "%s: tensor '%s' has shape ne = [%lld, %lld], the metadata implies [%lld, %lld]", g->path,
                             probe[i].name, (long long)t->ne[0], (long long)t->ne[1], (long long)probe[i].ne0, (long long)probe[i].ne1);
    }
    c->vocab_size = (int)emb->ne[1];
    c->hidden_size = (int)D;
    c->intermediate_size = (int)F;
    c->n_layers = (int)L;
    c->n_heads = (int)H;
    c->n_kv_heads = (int)KV;
    c->head_dim = (int)hd;
    c->max_position_embeddings = (int)ctx;
    c->rms_norm_eps = (float)eps;
    c->rope_theta = (float)theta;
    c->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->hidden_act = ACT_SILU;
    c->bos_token_id = (int)bos;
    c->eos_token_id = (int)eos;
    return config_validate(c, g->path, err);
}

/* decodes n values of a tensor (any supported type) to f32 */
static void decode_f32(const gguf_tensor *t, float *out, int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    if (t->type == GGML_T_F32) memcpy(out, t->data, n * 4);
    else if (t->type == GGML_T_F16)
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            out[i] = cpet_f16_to_f32(h);
        }
    else {
        qtensor q;
        memset(&q, 0, sizeof q);
        q.format = packed_format_of(t->type);
        q.rows = rows;
        q.cols = cols;
        q.group = 32;
        q.data = (uint8_t *)t->data;
        q.data_bytes = t->nbytes;
        qtensor_dequantize(&q, out);
    }
}

static int load_tensor(model *m, const gguf_file *g, const gguf_tensor *t, unsigned char *filled, cpet_err *err)
{
    const model_config *c = &m->cfg;
    float *dst = NULL;
    int rows = 1, cols = 0, layer = -1, which = -1, slot = -1, vec = 0, found = 0;
    char rest[64];
    int l;
    if (!strcmp(t->name, "token_embd.weight")) dst = m->embed, rows = c->vocab_size, cols = c->hidden_size, slot = 0, found = 1;
    else if (!strcmp(t->name, "output_norm.weight")) dst = m->final_norm, cols = c->hidden_size, vec = 1, slot = 1, found = 1;
    else if (!strcmp(t->name, "output.weight") && !c->tie_word_embeddings) /* a Q8_0/Q4_0 head runs packed */
        dst = m->lm_head.w, rows = c->vocab_size, cols = c->hidden_size, slot = 2, found = 1, layer = c->n_layers, which = 0;
    else if (sscanf(t->name, "blk.%d.%63s", &l, rest) == 2 && l >= 0 && l < c->n_layers) {
        layer_weights *lw = &m->layers[l];
        if (!strcmp(rest, "attn_norm.weight")) dst = lw->attn_norm, cols = c->hidden_size, vec = 1, slot = 3 + l * 9, found = 1;
        else if (!strcmp(rest, "ffn_norm.weight")) dst = lw->ffn_norm, cols = c->hidden_size, vec = 1, slot = 4 + l * 9, found = 1;
        for (int k = 0; k < LIN_PER_LAYER && !found; k++) {
            char want[64];
            snprintf(want, sizeof want, "%s.weight", gguf_linear_name[k]);
            if (!strcmp(rest, want)) {
                /* w is NULL for a linear created packed-only (its Q8_0/Q4_0 blocks are the only copy) */
                dst = lw->lin[k].w, rows = lw->lin[k].out, cols = lw->lin[k].in, layer = l, which = k;
                slot = 5 + k + l * 9;
                found = 1;
            }
        }
    }
    if (!found) return cpet_fail(err, "%s: tensor '%s' is not part of a llama model cpet runs", g->path, t->name);
    if (filled[slot]) return cpet_fail(err, "%s: tensor '%s' appears twice", g->path, t->name);
    filled[slot] = 1;
    int want_dims = vec ? 1 : 2;
    if (t->n_dims != want_dims || t->ne[0] != cols || (!vec && t->ne[1] != rows))
        return cpet_fail(err, "%s: tensor '%s' has shape [%lld, %lld], expected ne = [%d, %d]", g->path, t->name,
                         (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1), cols, rows);
    const int in_layer = layer >= 0 && layer < c->n_layers; /* layer == n_layers: the LM head */
    int heads = !in_layer ? 0 : which == LIN_Q ? c->n_heads : which == LIN_K ? c->n_kv_heads : 0;
    const int embed_packed = slot == 0 && packed_format_of(t->type) != QF_COUNT; /* quantized token_embd stays packed */
    if ((layer >= 0 || embed_packed) && packed_format_of(t->type) != QF_COUNT) {
        qtensor q;
        if (qtensor_alloc(&q, packed_format_of(t->type), rows, cols, 0, err) != 0) return cpet_prefix(err, "%s: %s", g->path, t->name);
        if (q.data_bytes != t->nbytes) {
            qtensor_free(&q);
            return cpet_fail(err, "%s: tensor '%s' has %zu bytes, expected %zu", g->path, t->name, t->nbytes, q.data_bytes);
        }
        if (heads) gguf_permute_rows(t->data, q.data, heads, c->head_dim, t->nbytes / (size_t)rows, 1);
        else memcpy(q.data, t->data, t->nbytes);
        return embed_packed ? model_set_packed_embeddings(m, &q) : model_set_packed(m, layer, which, &q);
    }
    if (!dst) return cpet_fail(err, "%s: tensor '%s' has no storage", g->path, t->name);
    if (!heads) {
        decode_f32(t, dst, rows, cols);
        return 0;
    }
    float *tmp = malloc((size_t)rows * cols * sizeof(float));
    if (!tmp) return cpet_fail(err, "%s: out of memory", g->path);
    decode_f32(t, tmp, rows, cols);
    gguf_permute_rows(tmp, dst, heads, c->head_dim, (size_t)cols * sizeof(float), 1);
    free(tmp);
    return 0;
}

int gguf_load_model(model *m, const char *path, cpet_err *err)
{
    gguf_file g;
    memset(m, 0, sizeof *m);
    if (gguf_open(&g, path, err) != 0) return -1;
    model_config cfg;
    int rc = config_from_gguf(&g, &cfg, err);
    /* Q8_0 / Q4_0 layer linears run packed and keep no f32 copy */
    /* (one entry past the layers: the LM head) */
    unsigned char *packed_only = rc == 0 ? calloc(model_packed_mask_len(&cfg), 1) : NULL;
    if (rc == 0 && !packed_only) rc = cpet_fail(err, "%s: out of memory", path);
    for (int l = 0; rc == 0 && l < cfg.n_layers; l++)
        for (int k = 0; k < LIN_PER_LAYER; k++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, gguf_linear_name[k]);
            const gguf_tensor *t = gguf_find_tensor(&g, name);
            packed_only[l * LIN_PER_LAYER + k] = t && packed_format_of(t->type) != QF_COUNT;
        }
    const gguf_tensor *head = rc == 0 && !cfg.tie_word_embeddings ? gguf_find_tensor(&g, "output.weight") : NULL;
    if (head && packed_format_of(head->type) != QF_COUNT) packed_only[(size_t)cfg.n_layers * LIN_PER_LAYER] = 1;
    const gguf_tensor *embd = rc == 0 ? gguf_find_tensor(&g, "token_embd.weight") : NULL;
    if (embd && packed_format_of(embd->type) != QF_COUNT) packed_only[model_packed_mask_embed(&cfg)] = 1;
    if (rc == 0 && model_create_packed(m, &cfg, packed_only, err) != 0) {
        model_free(m);
        rc = -1;
    }
    free(packed_only);
    if (rc != 0) {
        gguf_close(&g);
        return -1;
    }
    size_t n_slots = 3 + (size_t)9 * cfg.n_layers;
    unsigned char *filled = calloc(n_slots, 1);
    if (!filled) rc = cpet_fail(err, "%s: out of memory", path);
    for (int i = 0; rc == 0 && i < g.n_tensors; i++) rc = load_tensor(m, &g, &g.tensors[i], filled, err);
    for (size_t s = 0; rc == 0 && s < n_slots; s++) {
        if (filled[s] || (s == 2 && cfg.tie_word_embeddings)) continue;
        char name[96];
        if (s < 3) snprintf(name, sizeof name, "%s", s == 0 ? "token_embd.weight" : s == 1 ? "output_norm.weight" : "output.weight");
        else {
            int l = (int)(s - 3) / 9, r = (int)(s - 3) % 9;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, r == 0 ? "attn_norm" : r == 1 ? "ffn_norm" : gguf_linear_name[r - 2]);
        }
        rc = cpet_fail(err, "%s: tensor '%s' is missing (the metadata has %d layers)", path, name, cfg.n_layers);
    }
    free(filled);
    gguf_close(&g);
    if (rc != 0) model_free(m);
    return rc;
}

/* ---- tokenizer ---- */

static json_t *gstr(const gguf_str *s) { return json_stringn(s->ptr, s->len); }

int gguf_load_tokenizer(tokenizer *t, const char *path, cpet_err *err)
{
    gguf_file g;
    if (gguf_open(&g, path, err) != 0) return -1;
    const gguf_kv *model = gguf_find_kv(&g, "tokenizer.ggml.model"), *tokens = gguf_find_kv(&g, "tokenizer.ggml.tokens"),
                  *types = gguf_find_kv(&g, "tokenizer.ggml.token_type"), *merges = gguf_find_kv(&g, "tokenizer.ggml.merges"),
                  *pre = gguf_find_kv(&g, "tokenizer.ggml.pre"), *regex = gguf_find_kv(&g, "cpet.tokenizer.regex"),
                  *ign = gguf_find_kv(&g, "cpet.tokenizer.ignore_merges");
    int rc = 0;
    if (!model || model->type != GGUF_VT_STRING) rc = cpet_fail(err, "%s: has no tokenizer (tokenizer.ggml.model)", path);
    else if (model->s.len != 4 || memcmp(model->s.ptr, "gpt2", 4) != 0)
        rc = cpet_fail(err, "%s: tokenizer model '%.*s' is not supported (gpt2 byte-level BPE only)", path,
                       (int)(model->s.len > 32 ? 32 : model->s.len), model->s.ptr);
    else if (!tokens || tokens->type != GGUF_VT_ARRAY || tokens->arr_type != GGUF_VT_STRING)
        rc = cpet_fail(err, "%s: tokenizer.ggml.tokens is missing or not a string array", path);
    else if (types && (types->type != GGUF_VT_ARRAY || types->arr_type != GGUF_VT_I32 || types->arr_n != tokens->arr_n))
        rc = cpet_fail(err, "%s: tokenizer.ggml.token_type must be an i32 array as long as the tokens", path);
    else if (merges && (merges->type != GGUF_VT_ARRAY || merges->arr_type != GGUF_VT_STRING))
        rc = cpet_fail(err, "%s: tokenizer.ggml.merges must be a string array", path);
    else if (regex && (regex->type != GGUF_VT_ARRAY || regex->arr_type != GGUF_VT_STRING || regex->arr_n > TOKENIZER_MAX_REGEX))
        rc = cpet_fail(err, "%s: cpet.tokenizer.regex must be an array of at most %d strings", path, TOKENIZER_MAX_REGEX);
    else if (!regex && pre && pre->type == GGUF_VT_STRING && !(pre->s.len == 5 && !memcmp(pre->s.ptr, "gpt-2", 5)) &&
             !(pre->s.len == 7 && !memcmp(pre->s.ptr, "default", 7)))
        rc = cpet_fail(err, "%s: pre-tokenizer '%.*s' is not supported (gpt-2)", path, (int)(pre->s.len > 32 ? 32 : pre->s.len),
                       pre->s.ptr);
    if (rc != 0) {
        gguf_close(&g);
        return -1;
    }
    /* the tokenizer.json tokenizer_load reads */
    json_t *vocab = json_object(), *added = json_array(), *jm = json_array(), *preobj;
    for (uint64_t id = 0; id < tokens->arr_n && rc == 0; id++) {
        int32_t type = 1;
        if (types) memcpy(&type, types->arr_data + 4 * id, 4);
        if (type == 5) continue; /* unused (padding) */
        json_t *key = gstr(&tokens->arr_str[id]);
        if (!key) rc = cpet_fail(err, "%s: token %llu is not valid UTF-8", path, (unsigned long long)id);
        else json_object_setn_new(vocab, tokens->arr_str[id].ptr, tokens->arr_str[id].len, json_integer((json_int_t)id));
        if (rc == 0 && (type == 3 || type == 4))
            json_array_append_new(added, json_pack("{s:I, s:O, s:b}", "id", (json_int_t)id, "content", key, "special", type == 3));
        json_decref(key);
    }
    for (uint64_t i = 0; merges && i < merges->arr_n && rc == 0; i++) {
        json_t *m = gstr(&merges->arr_str[i]);
        if (!m) rc = cpet_fail(err, "%s: merge %llu is not valid UTF-8", path, (unsigned long long)i);
        else json_array_append_new(jm, m);
    }
    if (regex) {
        json_t *list = json_array();
        for (uint64_t i = 0; i < regex->arr_n; i++)
            json_array_append_new(list, json_pack("{s:s, s:{s:o}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                                                  gstr(&regex->arr_str[i]), "behavior", "Isolated", "invert", 0));
        json_array_append_new(list, json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0));
        preobj = json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", list);
    } else preobj = json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 1);
    json_t *j = json_pack("{s:o, s:o, s:{s:s, s:b, s:b, s:o, s:o}}", "added_tokens", added, "pre_tokenizer", preobj, "model",
                          "type", "BPE", "byte_fallback", 0, "ignore_merges", ign && ign->i != 0, "vocab", vocab, "merges", jm);
    gguf_close(&g);
    if (rc != 0 || !j) {
        json_decref(j);
        return rc != 0 ? -1 : cpet_fail(err, "%s: cannot build the tokenizer", path);
    }
    const char *tmpdir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/cpet_gguf_tokenizer_XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0 || json_dumpfd(j, fd, JSON_COMPACT) != 0) rc = cpet_fail(err, "%s: cannot write a temporary tokenizer file", path);
    if (fd >= 0) close(fd);
    json_decref(j);
    if (rc == 0 && tokenizer_load(t, tmp, err) != 0) {
        char msg[sizeof err->msg];
        const char *inner = strstr(err->msg, ": ");
        snprintf(msg, sizeof msg, "%s", inner ? inner + 2 : err->msg);
        rc = cpet_fail(err, "%s: the tokenizer metadata is not usable: %.700s", path, msg);
    }
    if (fd >= 0) unlink(tmp);
    return rc;
}

int model_load_any(model *m, const char *path, cpet_err *err)
{
    return gguf_is_file(path) ? gguf_load_model(m, path, err) : model_load(m, path, err);
}

int model_load_for_inference(model *m, const char *path, cpet_err *err)
{
    return gguf_is_file(path) ? gguf_load_model(m, path, err) : model_load_mapped(m, path, err);
}

int tokenizer_load_for(tokenizer *t, const char *model_path, const char *tokenizer_path, cpet_err *err)
{
    if (tokenizer_path) return tokenizer_load(t, tokenizer_path, err);
    if (gguf_is_file(model_path)) return gguf_load_tokenizer(t, model_path, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", model_path);
    return tokenizer_load(t, path, err);
}
