#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fileio.h"
#include "tokenizer.h"
#include "tensor.h"

void make_temp_dir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/cpet_test_XXXXXX");
    if (!mkdtemp(out)) out[0] = 0;
}

int run_capture(const char *cmd, char *out, size_t n)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int count_lines(const char *s)
{
    int lines = 0;
    for (; *s; s++) lines += *s == '\n';
    return lines;
}

void copy_fixture_model(const char *dst_dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r " FIXTURE_DIR "/config.json " FIXTURE_DIR
                              "/model.safetensors " FIXTURE_DIR "/adapter '%s'/ && chmod -R u+w '%s'",
             dst_dir, dst_dir, dst_dir);
    if (system(cmd) != 0) fprintf(stderr, "copy_fixture_model failed\n");
}

void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, len, fp);
    fclose(fp);
}

void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

char *read_all(const char *path, size_t *len) { return read_whole_file(path, len); }

float *tensor_f32(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return NULL;
    float *out = malloc(t->numel * sizeof(float));
    cpet_err err;
    if (st_to_f32(f, t, out, &err) != 0) {
        free(out);
        return NULL;
    }
    if (n) *n = t->numel;
    return out;
}

int *fixture_ids(const st_file *expected, int *B, int *T)
{
    const st_tensor *t = st_find(expected, "input_ids");
    if (!t || t->dtype != ST_I32 || t->ndim != 2) return NULL;
    *B = (int)t->shape[0];
    *T = (int)t->shape[1];
    int *ids = malloc(t->numel * sizeof(int));
    memcpy(ids, t->data, t->numel * sizeof(int));
    return ids;
}

static double directional(loss_fn f, void *ctx, float *x, const float *x0, const double *u, size_t n, float h)
{
    /* (8 f(x + h/2 u) - 8 f(x - h/2 u) - f(x + h u) + f(x - h u)) / 6h: error O(h^4) */
    const double steps[4] = {0.5, -0.5, 1.0, -1.0}, weights[4] = {8, -8, -1, 1};
    double acc = 0;
    for (int s = 0; s < 4; s++) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + steps[s] * h * u[i]);
        acc += weights[s] * f(ctx);
    }
    memcpy(x, x0, n * sizeof(float));
    return acc / (6.0 * h);
}

double fd_check(loss_fn f, void *ctx, float *x, const float *g, size_t n, float h, int k_random, uint64_t seed)
{
    float *x0 = malloc(n * sizeof(float));
    double *u = malloc(n * sizeof(double));
    memcpy(x0, x, n * sizeof(float));
    double gnorm = vec_norm(g, n), worst = 0;
    if (!(gnorm > 0)) { /* an all-zero (or NaN) gradient checks nothing: a test that expects zero asserts it directly */
        free(x0), free(u);
        return INFINITY;
    }
    cpet_rng rng;
    rng_seed(&rng, seed);
    for (int d = 0; d <= k_random; d++) {
        double un = 0, dot = 0;
        for (size_t i = 0; i < n; i++) {
            u[i] = d == 0 ? g[i] : rng_normal(&rng);
            un += u[i] * u[i];
        }
        un = sqrt(un);
        if (un == 0) continue;
        for (size_t i = 0; i < n; i++) {
            u[i] /= un;
            dot += u[i] * g[i];
        }
        double fd = directional(f, ctx, x, x0, u, n, h);
        /* relative to the larger of |g| and the measured slope: an analytic gradient far too small fails */
        double e = fabs(fd - dot) / fmax(gnorm, fabs(fd));
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
    }
    free(x0);
    free(u);
    return worst;
}

model_config small_config(int n_heads, int n_kv_heads, activation act, int tied, float rope_theta)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 37;
    c.hidden_size = 24;
    c.intermediate_size = 40;
    c.n_layers = 2;
    c.n_heads = n_heads;
    c.n_kv_heads = n_kv_heads;
    c.head_dim = 8;
    c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-5f;
    c.rope_theta = rope_theta;
    c.tie_word_embeddings = tied;
    c.hidden_act = act;
    c.act_threshold = act == ACT_FATRELU ? 0.05f : 0.0f;
    c.bos_token_id = c.eos_token_id = -1;
    return c;
}

void make_tiny_model_dir(const char *dir, int dim, int ffn, int layers)
{
    char path[600];
    cpet_err err;
    const char *docs[] = {"the river runs through the old city", "a city by the river has a bridge"};
    size_t lens[] = {strlen(docs[0]), strlen(docs[1])};
    const char *specials[] = {"<|endoftext|>"};
    tokenizer t;
    if (tokenizer_train(&t, docs, lens, 2, 300, specials, 1, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    c.vocab_size = 300;
    c.hidden_size = dim;
    c.head_dim = dim / 4;
    c.intermediate_size = ffn;
    c.n_layers = layers;
    c.bos_token_id = c.eos_token_id = 0;
    model m;
    if (model_create(&m, &c, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    model_init_random(&m, 0.1f, 3);
    snprintf(path, sizeof path, "%s/model", dir);
    if (model_save(&m, path, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    snprintf(path, sizeof path, "%s/model/tokenizer.json", dir);
    if (tokenizer_save(&t, path, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    tokenizer_free(&t);
    model_free(&m);
}

void load_tiny_model(int dim, int ffn, int layers, model *m, tokenizer *tok)
{
    char dir[256], path[600];
    cpet_err err;
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, dim, ffn, layers);
    snprintf(path, sizeof path, "%s/model", dir);
    if (model_load(m, path, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    snprintf(path, sizeof path, "%s/model/tokenizer.json", dir);
    if (tokenizer_load(tok, path, &err) != 0) fprintf(stderr, "%s\n", err.msg);
}

int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_all(a, &la), *y = read_all(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

int record_statuses(const char *records_path, char out[][600], int max)
{
    FILE *fp = fopen(records_path, "r");
    cr_assert_not_null(fp, "%s", records_path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, fp) > 0 && n < max) {
        json_t *r = json_loads(line, 0, NULL);
        cr_assert_not_null(r, "%s", line);
        const char *st = json_string_value(json_object_get(r, "status")), *e = json_string_value(json_object_get(r, "error"));
        snprintf(out[n++], 600, "%s%s%s", st ? st : "?", e ? ": " : "", e ? e : "");
        json_decref(r);
    }
    free(line);
    fclose(fp);
    return n;
}
