/* safetensors writer/reader round trip, half-precision conversions, config.json variants. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "model.h"
#include "safetensors.h"
#include "tensor.h"

Test(half, f16_and_bf16_known_values)
{
    cr_assert_eq(cpet_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(cpet_f32_to_f16(-2.0f), 0xc000);
    cr_assert_eq(cpet_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(cpet_f32_to_f16(1e6f), 0x7c00);              /* overflow -> inf */
    cr_assert_eq(cpet_f32_to_f16(ldexpf(1.0f, -24)), 0x0001); /* smallest subnormal */
    cr_assert_float_eq(cpet_f16_to_f32(0x0001), ldexpf(1.0f, -24), 0);
    cr_assert_float_eq(cpet_f16_to_f32(0x3555), 0.333251953125f, 0);
    cr_assert_eq(cpet_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_float_eq(cpet_bf16_to_f32(0xc0a0), -5.0f, 0);
    /* every finite f16 survives f16 -> f32 -> f16 */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        cr_assert_eq(cpet_f32_to_f16(cpet_f16_to_f32((uint16_t)h)), h, "f16 0x%04x", h);
    }
    /* round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    cr_assert_eq(cpet_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    cr_assert_eq(cpet_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
}

Test(safetensors, write_then_read_round_trip)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {cpet_f32_to_f16(0.5f), cpet_f32_to_f16(-3.25f), cpet_f32_to_f16(100.0f)};
    uint16_t bf[2] = {cpet_f32_to_bf16(1.5f), cpet_f32_to_bf16(-0.75f)};
    int32_t ids[3] = {7, -1, 300};
    st_entry e[4] = {
        {.name = "a", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "half", .dtype = ST_F16, .ndim = 1, .shape = {3}, .data = h},
        {.name = "brain", .dtype = ST_BF16, .ndim = 1, .shape = {2}, .data = bf},
        {.name = "ids", .dtype = ST_I32, .ndim = 1, .shape = {3}, .data = ids},
    };
    const char *meta[] = {"format", "pt"};
    cpet_err err;
    cr_assert_eq(st_write(path, e, 4, meta, 1, &err), 0, "%s", err.msg);
    size_t len;
    char *raw = read_all(path, &len);
    uint64_t hl;
    memcpy(&hl, raw, 8);
    cr_assert_eq(hl % 8, 0, "header padded to 8 bytes");
    cr_assert_eq(len, 8 + hl + 24 + 6 + 4 + 12);
    free(raw);
    st_file f;
    cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, 4);
    cr_assert_str_eq(st_meta(&f, "format"), "pt");
    float out[6];
    cr_assert_eq(st_to_f32(&f, st_find(&f, "a"), out, &err), 0);
    cr_assert_arr_eq(out, a, sizeof a);
    cr_assert_eq(st_to_f32(&f, st_find(&f, "half"), out, &err), 0);
    cr_assert(out[0] == 0.5f && out[1] == -3.25f && out[2] == 100.0f);
    cr_assert_eq(st_to_f32(&f, st_find(&f, "brain"), out, &err), 0);
    cr_assert(out[0] == 1.5f && out[1] == -0.75f);
    cr_assert_neq(st_to_f32(&f, st_find(&f, "ids"), out, &err), 0, "int tensors are not weights");
    cr_assert(strstr(err.msg, "I32") != NULL);
    st_close(&f);
}

/* A checkpoint stored in bf16 (how most HF models ship) loads and converts to f32. */
/* m's tensors as BF16 in a new model directory dir (the fixture's config); returns the BF16 values */
static uint16_t **write_bf16_copy(const model *m, char *dir, size_t n_dir)
{
    cpet_err err;
    st_entry *e = calloc((size_t)m->n_tensors, sizeof *e);
    uint16_t **bufs = calloc((size_t)m->n_tensors, sizeof *bufs);
    for (int i = 0; i < m->n_tensors; i++) {
        bufs[i] = malloc(m->tensors[i].n * 2);
        for (size_t j = 0; j < m->tensors[i].n; j++) bufs[i][j] = cpet_f32_to_bf16(m->tensors[i].p[j]);
        e[i] = (st_entry){.name = m->tensors[i].name, .dtype = ST_BF16, .ndim = m->tensors[i].ndim,
                          .shape = {m->tensors[i].shape[0], m->tensors[i].shape[1]}, .data = bufs[i]};
    }
    char path[512];
    make_temp_dir(dir, n_dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(st_write(path, e, m->n_tensors, NULL, 0, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "cp " FIXTURE_DIR "/config.json %s/", dir);
    cr_assert_eq(system(path), 0);
    free(e);
    return bufs;
}

Test(safetensors, bf16_checkpoint_loads)
{
    cpet_err err;
    model m, m16;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    char dir[256];
    uint16_t **bufs = write_bf16_copy(&m, dir, sizeof dir);
    cr_assert_eq(model_load(&m16, dir, &err), 0, "%s", err.msg);
    for (int i = 0; i < m.n_tensors; i++)
        for (size_t j = 0; j < m.tensors[i].n; j++)
            cr_assert_eq(m16.tensors[i].p[j], cpet_bf16_to_f32(bufs[i][j]));
    double rel = vec_max_rel_diff(m16.params, m.params, m.n_params);
    cr_assert_lt(rel, 1e-2, "bf16 keeps 8 bits of mantissa");
    for (int i = 0; i < m.n_tensors; i++) free(bufs[i]);
    free(bufs);
    model_free(&m16);
    model_free(&m);
}

Test(safetensors, model_save_load_round_trip)
{
    cpet_err err;
    model m, back;
    model_config c = small_config(4, 2, ACT_RELU, 1, 250000.0f);
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.02f, 3);
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(model_save(&m, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&back, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.cfg.tie_word_embeddings, 1);
    cr_assert_eq(back.cfg.hidden_act, ACT_RELU);
    cr_assert_float_eq(back.cfg.rope_theta, 250000.0f, 0);
    cr_assert_eq(back.n_params, m.n_params);
    cr_assert_eq(memcmp(back.params, m.params, m.n_params * sizeof(float)), 0);
    cr_assert_null(model_find_tensor(&back, "lm_head.weight"), "tied models have no lm_head tensor");
    model_free(&back);
    model_free(&m);
}

Test(config, rope_theta_at_top_level_or_in_rope_parameters)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    cpet_err err;
    model_config c;
    write_text(path, "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
                     "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_theta\":500000.0,"
                     "\"hidden_act\":\"gelu\",\"tie_word_embeddings\":true}");
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
    cr_assert_float_eq(c.rope_theta, 500000.0f, 0);
    cr_assert_eq(c.n_kv_heads, 2, "num_key_value_heads defaults to the head count");
    cr_assert_eq(c.head_dim, 4, "head_dim defaults to hidden/heads");
    cr_assert_eq(c.hidden_act, ACT_GELU);
    cr_assert_eq(c.tie_word_embeddings, 1);
    cr_assert_float_eq(c.rms_norm_eps, 1e-6f, 0);
    cr_assert_eq(config_load(&c, FIXTURE_DIR "/config.json", &err), 0, "%s", err.msg);
    cr_assert_float_eq(c.rope_theta, 10000.0f, 0);
    cr_assert_eq(c.head_dim, 16);
    cr_assert_eq(c.n_kv_heads, 2);
    cr_assert_float_eq(c.rms_norm_eps, 1e-5f, 0);
    write_text(path, "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
                     "\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                     "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":1000000.0}}");
    cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
    cr_assert_float_eq(c.rope_theta, 1000000.0f, 0);
    /* rope scaling cpet does not implement (LLaMA-3.1's): one line naming the file and the type */
    write_text(path, "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
                     "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_theta\":500000.0,"
                     "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"original_max_position_embeddings\":8192}}");
    cr_assert_neq(config_load(&c, path, &err), 0);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "rope_type 'llama3' is not supported"), "%s", err.msg);
}

/* A sharded checkpoint (model.safetensors.index.json + shards), as large HF models ship. */
Test(safetensors, sharded_checkpoint_loads)
{
    cpet_err err;
    model m, sharded;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    char dir[256], path[512], cmd[700];
    make_temp_dir(dir, sizeof dir);
    json_t *map = json_object();
    st_entry *e = calloc((size_t)m.n_tensors, sizeof *e);
    int half = m.n_tensors / 2;
    for (int s = 0; s < 2; s++) {
        int lo = s ? half : 0, hi = s ? m.n_tensors : half;
        char shard[64];
        snprintf(shard, sizeof shard, "model-%05d-of-00002.safetensors", s + 1);
        for (int i = lo; i < hi; i++) {
            e[i - lo] = st_f32_entry(m.tensors[i].name, m.tensors[i].p, m.tensors[i].ndim, m.tensors[i].shape);
            json_object_set_new(map, m.tensors[i].name, json_string(shard));
        }
        snprintf(path, sizeof path, "%s/%s", dir, shard);
        cr_assert_eq(st_write(path, e, hi - lo, NULL, 0, &err), 0, "%s", err.msg);
    }
    json_t *index = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", (int)(m.n_params * 4), "weight_map", map);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cr_assert_eq(json_dump_file(index, path, 0), 0);
    json_decref(index);
    snprintf(cmd, sizeof cmd, "cp " FIXTURE_DIR "/config.json %s/", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(model_load(&sharded, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(sharded.params, m.params, m.n_params * sizeof(float)), 0);
    free(e);
    model_free(&sharded);
    model_free(&m);
}

/* Inference reads F32 tensors in place from the mapped checkpoint (transformers' own file): the same
 * logits bit for bit, no storage of its own, training refused; BF16 tensors are still converted. */
Test(safetensors, mapped_checkpoint_computes_bitwise_as_the_copy)
{
    cpet_err err;
    model copy, mapped;
    cr_assert_eq(model_load(&copy, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load_mapped(&mapped, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(mapped.n_maps, 1);
    const char *lo = mapped.maps[0].addr, *hi = lo + mapped.maps[0].size;
    for (int i = 0; i < mapped.n_tensors; i++) {
        const param_tensor *t = &mapped.tensors[i];
        cr_assert(t->external && (const char *)t->p >= lo && (const char *)(t->p + t->n) <= hi, "%s is read in place", t->name);
        cr_assert_eq(memcmp(t->p, copy.tensors[i].p, t->n * sizeof(float)), 0, "%s", t->name);
    }
    cr_assert_eq(mapped.layers[0].lin[LIN_Q].w, mapped.tensors[2].p, "the layer structs point into the mapping too");
    int ids[6] = {1, 5, 9, 2, 7, 3};
    const size_t V = (size_t)copy.cfg.vocab_size;
    cr_assert_eq(model_forward(&copy, ids, NULL, 2, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(model_forward(&mapped, ids, NULL, 2, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(model_logits(&copy), model_logits(&mapped), 6 * V * sizeof(float)), 0, "bitwise the same logits");
    cr_assert_neq(model_set_trainable(&mapped, NULL, 1, &err), 0);
    cr_assert(strstr(err.msg, "mapped read-only"), "%s", err.msg);
    model_free(&mapped);

    /* a BF16 checkpoint needs a conversion: its tensors get storage of their own */
    char dir[256];
    uint16_t **bufs = write_bf16_copy(&copy, dir, sizeof dir);
    cr_assert_eq(model_load_mapped(&mapped, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(mapped.n_maps, 0, "nothing read in place, nothing kept mapped");
    for (int i = 0; i < mapped.n_tensors; i++) {
        cr_assert(!mapped.tensors[i].external);
        for (size_t j = 0; j < mapped.tensors[i].n; j++) cr_assert_eq(mapped.tensors[i].p[j], cpet_bf16_to_f32(bufs[i][j]));
        free(bufs[i]);
    }
    free(bufs);
    model_free(&mapped);
    model_free(&copy);
}
