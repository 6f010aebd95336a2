/* The engine against Hugging Face transformers/PEFT outputs (tests/fixtures/hf/llama_gqa_silu). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "lora.h"
#include "model.h"
#include "tensor.h"

#define TOL_OUT 1e-4  /* logits and loss */
#define TOL_GRAD 1e-3 /* gradients */

typedef struct {
    st_file expected;
    model m;
    int *ids, B, T;
} fixture;

static void setup(fixture *fx)
{
    cpet_err err;
    cr_assert_eq(st_open(&fx->expected, FIXTURE_DIR "/expected.safetensors", &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&fx->m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    fx->ids = fixture_ids(&fx->expected, &fx->B, &fx->T);
    cr_assert_not_null(fx->ids);
}

static void teardown(fixture *fx)
{
    free(fx->ids);
    model_free(&fx->m);
    st_close(&fx->expected);
}

static void expect_tensor(const st_file *exp, const char *name, const float *got, size_t n, double tol)
{
    size_t ne;
    float *want = tensor_f32(exp, name, &ne);
    cr_assert_not_null(want, "fixture has no tensor %s", name);
    cr_assert_eq(ne, n, "%s: %zu values, fixture has %zu", name, n, ne);
    double rel = vec_max_rel_diff(got, want, n);
    cr_expect_lt(rel, tol, "%s: max relative difference %.3g exceeds %.0e", name, rel, tol);
    free(want);
}

Test(fixture, logits_and_loss_match_hf)
{
    fixture fx;
    setup(&fx);
    cpet_err err;
    cr_assert_eq(model_forward(&fx.m, fx.ids, NULL, fx.B, fx.T, &err), 0, "%s", err.msg);
    expect_tensor(&fx.expected, "logits", model_logits(&fx.m), (size_t)fx.B * fx.T * fx.m.cfg.vocab_size, TOL_OUT);
    expect_tensor(&fx.expected, "loss", &fx.m.loss, 1, TOL_OUT);
    teardown(&fx);
}

Test(fixture, every_base_gradient_matches_hf)
{
    fixture fx;
    setup(&fx);
    cpet_err err;
    cr_assert_eq(model_set_trainable(&fx.m, NULL, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(model_forward(&fx.m, fx.ids, NULL, fx.B, fx.T, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&fx.m, &err), 0, "%s", err.msg);
    int checked = 0;
    for (int i = 0; i < fx.expected.n_tensors; i++) {
        const char *name = fx.expected.tensors[i].name;
        if (strncmp(name, "grad.", 5) != 0) continue;
        param_tensor *t = model_find_tensor(&fx.m, name + 5);
        cr_assert_not_null(t, "model has no tensor for %s", name);
        expect_tensor(&fx.expected, name, t->g, t->n, TOL_GRAD);
        checked++;
    }
    cr_assert_geq(checked, 7, "expected the fixture's 7 gradient tensors, found %d", checked);
    teardown(&fx);
}

Test(fixture, adapter_logits_loss_and_lora_gradients_match_peft)
{
    fixture fx;
    setup(&fx);
    cpet_err err;
    lora_adapter ad;
    cr_assert_eq(lora_load(&ad, &fx.m, FIXTURE_DIR "/adapter", &err), 0, "%s", err.msg);
    cr_assert_eq(ad.n_mods, 14);
    cr_assert_float_eq(ad.mods[0].scaling, 2.0f, 1e-7); /* alpha 8 / r 4 */
    cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(model_forward(&fx.m, fx.ids, NULL, fx.B, fx.T, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&fx.m, &err), 0, "%s", err.msg);
    expect_tensor(&fx.expected, "lora.logits", model_logits(&fx.m), (size_t)fx.B * fx.T * fx.m.cfg.vocab_size, TOL_OUT);
    expect_tensor(&fx.expected, "lora.loss", &fx.m.loss, 1, TOL_OUT);
    cr_assert_null(fx.m.grads, "base weights must stay frozen (no base gradient buffer)");
    int checked = 0;
    for (int i = 0; i < ad.n_tensors; i++) {
        char live[200], name[220];
        lora_live_name(ad.tensors[i].name, live, sizeof live);
        snprintf(name, sizeof name, "lora.grad.%s", live);
        if (!st_find(&fx.expected, name)) continue;
        expect_tensor(&fx.expected, name, ad.tensors[i].g, ad.tensors[i].n, TOL_GRAD);
        checked++;
    }
    cr_assert_eq(checked, 14, "expected 14 layer-0 LoRA gradients in the fixture, matched %d", checked);
    lora_free(&ad);
    teardown(&fx);
}

Test(fixture, merged_adapter_gives_the_adapter_logits)
{
    fixture fx;
    setup(&fx);
    cpet_err err;
    lora_adapter ad;
    cr_assert_eq(lora_load(&ad, &fx.m, FIXTURE_DIR "/adapter", &err), 0, "%s", err.msg);
    cr_assert_eq(model_forward(&fx.m, fx.ids, NULL, fx.B, fx.T, &err), 0, "%s", err.msg);
    size_t n = (size_t)fx.B * fx.T * fx.m.cfg.vocab_size;
    float *with_adapter = malloc(n * sizeof(float));
    memcpy(with_adapter, model_logits(&fx.m), n * sizeof(float));
    cr_assert_eq(lora_merge(&ad, &err), 0, "%s", err.msg);
    cr_assert_eq(ad.attached, 0);
    cr_assert_eq(model_forward(&fx.m, fx.ids, NULL, fx.B, fx.T, &err), 0, "%s", err.msg);
    double rel = vec_max_rel_diff(model_logits(&fx.m), with_adapter, n);
    cr_expect_lt(rel, 1e-5, "merged vs adapter logits differ by %.3g", rel);
    expect_tensor(&fx.expected, "lora.logits", model_logits(&fx.m), n, TOL_OUT);
    free(with_adapter);
    lora_free(&ad);
    teardown(&fx);
}

/* The CLI end to end: cpet forward writes what the fixture holds, under the documented names. */
Test(fixture, cli_forward_writes_matching_tensors)
{
    char dir[256], cmd[2048], out[4096], ids_path[512], res_path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(ids_path, sizeof ids_path, "%s/ids.safetensors", dir);
    snprintf(res_path, sizeof res_path, "%s/out.safetensors", dir);
    fixture fx;
    setup(&fx);
    int64_t shape[2] = {fx.B, fx.T};
    st_entry e = {.name = "input_ids", .dtype = ST_I32, .ndim = 2, .shape = {shape[0], shape[1]}, .data = fx.ids};
    cpet_err err;
    cr_assert_eq(st_write(ids_path, &e, 1, NULL, 0, &err), 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "%s forward %s --adapter %s/adapter --input-ids %s --grads -o %s", CPET_BINARY,
             FIXTURE_DIR, FIXTURE_DIR, ids_path, res_path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    st_file res;
    cr_assert_eq(st_open(&res, res_path, &err), 0, "%s", err.msg);
    size_t n;
    float *logits = tensor_f32(&res, "logits", &n);
    cr_assert_not_null(logits);
    const st_tensor *lt = st_find(&res, "logits");
    cr_assert(lt->ndim == 3 && lt->shape[0] == fx.B && lt->shape[1] == fx.T && lt->shape[2] == fx.m.cfg.vocab_size);
    expect_tensor(&fx.expected, "lora.logits", logits, n, TOL_OUT);
    int matched = 0;
    for (int i = 0; i < res.n_tensors; i++) {
        const char *name = res.tensors[i].name;
        if (strncmp(name, "lora.grad.", 10) != 0 || !st_find(&fx.expected, name)) continue;
        float *g = tensor_f32(&res, name, &n);
        expect_tensor(&fx.expected, name, g, n, TOL_GRAD);
        free(g);
        matched++;
    }
    cr_assert_eq(matched, 14);
    free(logits);
    st_close(&res);
    teardown(&fx);
}
