/* LoRA: save/load round trip, PEFT file layout, and a training smoke test. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "lora.h"
#include "model.h"
#include "optim.h"
#include "recovery.h"
#include "tensor.h"
#include "train.h"

Test(lora, save_then_load_gives_identical_outputs)
{
    cpet_err err;
    model m, m2;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&m2, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj", "v_proj", "down_proj"};
    lora_adapter ad, back;
    cr_assert_eq(lora_create(&ad, &m, 3, 5.0f, 1, targets, 3, 42, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.1f, &r);
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(lora_save(&ad, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(lora_load(&back, &m2, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_mods, 6);
    cr_assert_eq(back.use_rslora, 1);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(model_forward(&m2, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(model_logits(&m), model_logits(&m2), 16 * 320 * sizeof(float)), 0,
                 "logits differ after a save/load round trip");
    /* and the adapter really changes the output */
    lora_detach(&back);
    cr_assert_eq(model_forward(&m2, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_neq(memcmp(model_logits(&m), model_logits(&m2), 16 * 320 * sizeof(float)), 0);
    lora_free(&back);
    lora_free(&ad);
    model_free(&m2);
    model_free(&m);
}

Test(lora, saved_files_follow_peft_layout)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *targets[] = {"o_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 2, 4.0f, 0, targets, 1, 1, &err), 0, "%s", err.msg);
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(lora_save(&ad, dir, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "peft_type")), "LORA");
    cr_assert_eq(json_integer_value(json_object_get(j, "r")), 2);
    cr_assert_float_eq(json_number_value(json_object_get(j, "lora_alpha")), 4.0, 1e-9);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "target_modules"), 0)), "o_proj");
    json_decref(j);
    st_file f;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, 4);
    const st_tensor *a = st_find(&f, "base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight");
    const st_tensor *b = st_find(&f, "base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight");
    cr_assert(a && b, "PEFT tensor names");
    cr_assert(a->shape[0] == 2 && a->shape[1] == 64 && b->shape[0] == 64 && b->shape[1] == 2);
    size_t n;
    float *bv = tensor_f32(&f, b->name, &n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(bv[i], 0.0f, "B starts at zero");
    float *av = tensor_f32(&f, a->name, &n);
    double bound = 1.0 / 8.0; /* 1/sqrt(in = 64) */
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(fabs(av[i]), bound);
        nonzero += av[i] != 0.0f;
    }
    cr_assert_gt(nonzero, (int)n / 2);
    cr_assert_str_eq(st_meta(&f, "format"), "pt");
    free(av);
    free(bv);
    st_close(&f);
    lora_free(&ad);
    model_free(&m);
}

/* 50 AdamW steps of LoRA (r=4 on all 7 projections and lm_head) on one fixed batch must cut the loss by
 * at least 4x (measured: 5.76 -> 1.12), with the base weights untouched. lm_head is targeted because the
 * fixture's frozen random head (std 0.02) bounds the logit scale: without it the loss plateaus at 4.5. */
Test(lora, training_smoke_50_steps_cut_the_loss_4x)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    float *base_before = malloc(m.n_params * sizeof(float));
    memcpy(base_before, m.params, m.n_params * sizeof(float));
    st_file exp;
    cr_assert_eq(st_open(&exp, FIXTURE_DIR "/expected.safetensors", &err), 0, "%s", err.msg);
    int B, T;
    int *ids = fixture_ids(&exp, &B, &T);
    const char *targets[] = {"all-linear", "lm_head"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 4, 8.0f, 0, targets, 2, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(ad.n_mods, 15);
    adamw opt;
    adamw_config oc = adamw_defaults();
    cr_assert_eq(lora_set_trainable(&ad, 1, &err), 0, "%s", err.msg);
    adamw_init(&opt, oc, &err);
    cr_assert_eq(adamw_add(&opt, ad.tensors, ad.n_tensors, &err), 0, "%s", err.msg);
    lr_schedule s = {SCHED_COSINE, 1e-2f, 0.0f, 5, 50};
    step_result first = {0}, last = {0};
    for (int step = 0; step < 50; step++) {
        step_result res;
        cr_assert_eq(train_step(&m, &opt, ids, NULL, B, T, lr_at(&s, step), 1.0, &res, &err), 0, "%s", err.msg);
        if (step == 0) first = res;
        last = res;
    }
    cr_assert_eq(model_forward(&m, ids, NULL, B, T, &err), 0, "%s", err.msg);
    cr_expect_lt(m.loss, 0.25f * first.loss, "loss %.4f -> %.4f (last step %.4f): not cut 4x", (double)first.loss,
                 (double)m.loss, (double)last.loss);
    cr_assert_eq(memcmp(base_before, m.params, m.n_params * sizeof(float)), 0, "base weights changed");
    adamw_free(&opt);
    lora_free(&ad);
    free(base_before);
    free(ids);
    st_close(&exp);
    model_free(&m);
}

/* A hand-written adapter_config.json: modules_to_save (PEFT replaces those modules with trained copies)
 * is refused with the file and the modules named; null or [] (PEFT's default) loads. */
Test(lora, modules_to_save_is_refused_not_ignored)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    char dir[256], cmd[1024], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "cp %s/adapter/adapter_model.safetensors %s/", FIXTURE_DIR, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    const char *head = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"bias\": \"none\",\n"
                       " \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"],\n";
    const char *variants[] = {"\"modules_to_save\": [\"lm_head\", \"embed_tokens\"]}", "\"modules_to_save\": \"lm_head\"}",
                              "\"modules_to_save\": null}", "\"modules_to_save\": []}"};
    for (int k = 0; k < 4; k++) {
        char text[1024];
        snprintf(text, sizeof text, "%s %s\n", head, variants[k]);
        write_text(path, text);
        lora_adapter a;
        int rc = lora_load(&a, &m, dir, &err);
        if (k < 2) {
            cr_assert_neq(rc, 0, "variant %d loaded", k);
            cr_assert(strstr(err.msg, path) == err.msg, "names the file first: %s", err.msg);
            cr_assert(strstr(err.msg, k == 0 ? "modules_to_save [lm_head, embed_tokens] is not supported" : "modules_to_save [lm_head]"),
                      "%s", err.msg);
            cr_assert_null(strchr(err.msg, '\n'), "one line");
        } else {
            cr_assert_eq(rc, 0, "%s", err.msg);
            cr_assert_eq(a.n_mods, 14);
            lora_free(&a);
        }
    }
    model_free(&m);
}

/* MoSLoRA: the mixer survives save/load (MoSLoRA#3 lost it as an "unexpected key"), merging B M A equals
 * the unmerged branch, a frozen mixer stays at its init while A and B train, and a lora_AB tensor without
 * use_moslora in the config is an error, not a silently plain LoRA */
Test(lora, moslora_mixer_round_trips_merges_and_freezes)
{
    cpet_err err;
    model m, m2;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&m2, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj", "up_proj"};
    lora_adapter ad, back;
    cr_assert_eq(lora_create_mixed(&ad, &m, 4, 8.0f, 0, LORA_MIXER_TRAINED, targets, 2, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(ad.n_tensors, 3 * ad.n_mods, "A, B and the mixer per module");
    cpet_rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.1f, &r);
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(lora_save(&ad, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(lora_load(&back, &m2, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.mixer, LORA_MIXER_TRAINED);
    cr_assert(back.mods[0].M && !memcmp(back.mods[0].M->p, ad.mods[0].M->p, ad.mods[0].M->n * sizeof(float)), "the mixer is loaded");
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    const size_t n = 16 * 320;
    float *with = malloc(n * sizeof(float));
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    memcpy(with, model_logits(&m), n * sizeof(float));
    cr_assert_eq(model_forward(&m2, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(with, model_logits(&m2), n * sizeof(float)), 0, "saved and loaded: the same logits");
    cr_assert_eq(lora_merge(&back, &err), 0, "%s", err.msg); /* W += s B M A into m2's weights */
    cr_assert_eq(model_forward(&m2, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_lt(vec_max_rel_diff(model_logits(&m2), with, n), 1e-5, "merged = unmerged");
    lora_detach(&ad);
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_gt(vec_max_rel_diff(model_logits(&m), with, n), 1e-4, "the adapter mattered");
    lora_free(&ad);
    lora_free(&back);

    /* frozen mixer: A and B move, M does not; the flag round-trips */
    lora_adapter fz;
    cr_assert_eq(lora_create_mixed(&fz, &m, 4, 8.0f, 0, LORA_MIXER_FROZEN, targets, 2, 3, &err), 0, "%s", err.msg);
    float m0 = fz.mods[0].M->p[5], a0 = fz.mods[0].A->p[5];
    adamw opt;
    cr_assert_eq(lora_set_trainable(&fz, 1, &err) || adamw_init(&opt, adamw_defaults(), &err) ||
                     adamw_add(&opt, fz.tensors, fz.n_tensors, &err), 0, "%s", err.msg);
    cr_assert_eq(opt.n_tensors, 2 * fz.n_mods, "the optimizer holds A and B only");
    for (int s = 0; s < 3; s++) {
        step_result res;
        cr_assert_eq(train_step(&m, &opt, ids, NULL, 2, 8, 1e-2f, 1.0, &res, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(fz.mods[0].M->p[5], m0, "a frozen mixer stays at its init");
    cr_assert_neq(fz.mods[0].A->p[5], a0, "A trains");
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(lora_save(&fz, dir, &err), 0, "%s", err.msg);
    lora_detach(&fz);
    cr_assert_eq(lora_load(&back, &m, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(back.mixer, LORA_MIXER_FROZEN);
    lora_free(&back);
    /* the mixer tensor with a config that does not announce it */
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    json_object_del(cfg, "use_moslora");
    json_dump_file(cfg, path, 0);
    json_decref(cfg);
    cr_assert_neq(lora_load(&back, &m, dir, &err), 0);
    cr_assert(strstr(err.msg, "MoSLoRA mixer") && strstr(err.msg, "use_moslora"), "%s", err.msg);
    adamw_free(&opt);
    lora_free(&fz);
    free(with);
    model_free(&m);
    model_free(&m2);
}

/* CA-LoRA's files: LoRA + recovery modules in one PEFT directory (recovery tensors beside lora_A/B,
 * recovery_config.json beside adapter_config.json); loaded back, the same logits bit for bit; the LoRA
 * alone still loads from it (PEFT ignores the extra tensors) */
Test(lora, recovery_modules_save_and_load_with_the_adapter)
{
    cpet_err err;
    model m, m2, m3;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&m2, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&m3, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *lt[] = {"q_proj", "k_proj"}, *rt[] = {"v_proj", "o_proj", "down_proj"};
    lora_adapter ad, back, plain;
    recovery_set rs, rback;
    cr_assert_eq(lora_create(&ad, &m, 4, 8.0f, 0, lt, 2, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_create(&rs, &m, 3, 6.0f, rt, 3, 2, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.1f, &r);
    for (int i = 0; i < rs.n_mods; i++) fill_normal(rs.mods[i].a2->p, rs.mods[i].a2->n, 0.1f, &r);
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(lora_save_with(&ad, rs.tensors, rs.n_tensors, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_save_config(&rs, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(lora_load(&back, &m2, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(recovery_load(&rback, &m2, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(rback.n_mods, rs.n_mods);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    const size_t n = 16 * 320;
    float *want = malloc(n * sizeof(float));
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    memcpy(want, model_logits(&m), n * sizeof(float));
    cr_assert_eq(model_forward(&m2, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(want, model_logits(&m2), n * sizeof(float)), 0, "LoRA + recovery loaded: the same logits");
    cr_assert_eq(lora_load(&plain, &m3, dir, &err), 0, "the LoRA alone loads: %s", err.msg);
    cr_assert_eq(plain.n_tensors, ad.n_tensors);
    cr_assert_eq(model_forward(&m3, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_neq(memcmp(want, model_logits(&m3), n * sizeof(float)), 0, "without recovery modules the output differs");
    free(want);
    recovery_free(&rback);
    recovery_free(&rs);
    lora_free(&plain);
    lora_free(&back);
    lora_free(&ad);
    model_free(&m);
    model_free(&m2);
    model_free(&m3);
}

/* Merging into a quantized base: each weight lands within half a quantization step of base + s B A (what
 * round-to-nearest promises), in the base's own format, and the merged model's logits stay nearer the
 * unmerged adapter's than the adapter moves them (the drift users see). */
Test(lora, merge_into_a_packed_base_requantizes_within_half_a_step)
{
    cpet_err err;
    model m, ref;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&ref, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const qformat formats[] = {QF_INT8, QF_INT4, QF_Q8_0};
    const int ranks[] = {LIN_Q, LIN_V, LIN_O};
    for (int k = 0; k < 3; k++) { /* three linears of layer 0 packed, three formats */
        const linear *l = &m.layers[0].lin[ranks[k]];
        qtensor q, q2;
        cr_assert_eq(quantize_rtn(&q, formats[k], l->w, l->out, l->in, 32, &err), 0, "%s", err.msg);
        cr_assert_eq(quantize_rtn(&q2, formats[k], l->w, l->out, l->in, 32, &err), 0, "%s", err.msg);
        model_set_packed(&m, 0, ranks[k], &q);
        model_set_packed(&ref, 0, ranks[k], &q2);
    }
    const char *targets[] = {"q_proj", "v_proj", "o_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 4, 8.0f, 0, targets, 3, 2, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.05f, &r);
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    const size_t n = 16 * 320;
    float *unmerged = malloc(n * sizeof(float)), *plain = malloc(n * sizeof(float));
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    memcpy(unmerged, model_logits(&m), n * sizeof(float));
    cr_assert_eq(model_forward(&ref, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    memcpy(plain, model_logits(&ref), n * sizeof(float));
    /* the oracle: base + s B A per weight in double, from the packed base the adapter sat on */
    double *want[3];
    for (int k = 0; k < 3; k++) {
        const lora_module *lm = &ad.mods[k];
        const linear *l = lm->target;
        float *base = malloc((size_t)l->out * l->in * sizeof(float));
        qtensor_dequantize(l->qw, base);
        want[k] = malloc((size_t)l->out * l->in * sizeof(double));
        for (int o = 0; o < l->out; o++)
            for (int i = 0; i < l->in; i++) {
                double d = 0;
                for (int j = 0; j < lm->r; j++) d += (double)lm->B->p[o * lm->r + j] * lm->A->p[j * lm->in + i];
                want[k][(size_t)o * l->in + i] = base[(size_t)o * l->in + i] + lm->scaling * d;
            }
        free(base);
    }
    cr_assert_eq(lora_merge_requantize(&ad, &m, &err), 0, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        const linear *l = ad.mods[k].target;
        cr_assert(l->qw && l->qw->format == formats[k], "still packed in its format");
        float *got = malloc((size_t)l->out * l->in * sizeof(float));
        qtensor_dequantize(l->qw, got);
        /* the step each value was rounded to: INT8 per row (absmax / 127), Q8_0 per block of 32 (absmax / 127),
         * INT4 per group of 32 (range / 15): a re-quantization per row instead of per group breaks the bound */
        const int span = formats[k] == QF_INT8 ? l->in : 32;
        for (int o = 0; o < l->out; o++)
            for (int g0 = 0; g0 < l->in; g0 += span) {
                const double *x = want[k] + (size_t)o * l->in + g0;
                double lo = 1e30, hi = -1e30;
                for (int i = 0; i < span; i++) lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
                const double step = formats[k] == QF_INT4 ? (hi - lo) / 15 : fmax(fabs(lo), fabs(hi)) / 127;
                for (int i = 0; i < span; i++)
                    cr_assert_leq(fabs(got[(size_t)o * l->in + g0 + i] - x[i]), 0.5 * step * 1.13 + 1e-6, /* f16 scales: 127 x 2^-11 of a step more */
                                  "format %d, row %d, col %d", formats[k], o, g0 + i);
            }
        free(got);
        free(want[k]);
    }
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    const double drift = vec_max_rel_diff(model_logits(&m), unmerged, n), effect = vec_max_rel_diff(plain, unmerged, n);
    cr_assert_gt(effect, 1e-3, "the adapter mattered: %g", effect);
    cr_assert_lt(drift, 0.5 * effect, "re-quantized merge drifts less than the adapter moves: %g vs %g", drift, effect);
    free(unmerged);
    free(plain);
    lora_free(&ad);
    model_free(&m);
    model_free(&ref);
}

/* LoRA-FA: A frozen. Its B gradient is plain LoRA's to the last bit (same init, same batch: dB does not
 * involve dA), A gets no gradient at all, and training moves B while A keeps every bit of its init. */
Test(lora, lora_fa_trains_b_alone_with_plain_loras_gradient)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj", "v_proj", "down_proj"};
    lora_adapter plain, fa;
    cr_assert_eq(lora_create(&plain, &m, 4, 8.0f, 0, targets, 3, 7, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < plain.n_mods; i++) fill_normal(plain.mods[i].B->p, plain.mods[i].B->n, 0.1f, &r); /* B != 0: dA != 0 */
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (int)(rng_next(&r) % 320);
    cr_assert_eq(lora_set_trainable(&plain, 1, &err), 0, "%s", err.msg);
    lora_zero_grad(&plain);
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    float *grads = malloc(plain.n_params * sizeof(float));
    memcpy(grads, plain.grads, plain.n_params * sizeof(float));
    lora_detach(&plain);

    cr_assert_eq(lora_create(&fa, &m, 4, 8.0f, 0, targets, 3, 7, &err), 0, "%s", err.msg);
    for (int i = 0; i < fa.n_mods; i++) memcpy(fa.mods[i].B->p, plain.mods[i].B->p, plain.mods[i].B->n * sizeof(float));
    cr_assert_eq(lora_set_trainable(&fa, 1, &err), 0, "%s", err.msg);
    lora_freeze_a(&fa);
    lora_zero_grad(&fa);
    cr_assert_eq(model_forward(&m, ids, NULL, 2, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(model_backward(&m, &err), 0, "%s", err.msg);
    int a_nonzero_plain = 0;
    for (int i = 0; i < fa.n_mods; i++) {
        const size_t oa = (size_t)(fa.mods[i].A->g - fa.grads), ob = (size_t)(fa.mods[i].B->g - fa.grads);
        cr_assert_eq(memcmp(fa.mods[i].B->g, grads + ob, fa.mods[i].B->n * sizeof(float)), 0, "%s: dB is plain LoRA's", fa.mods[i].module);
        for (size_t k = 0; k < fa.mods[i].A->n; k++) {
            cr_assert_eq(fa.mods[i].A->g[k], 0.0f, "%s: no dA", fa.mods[i].module);
            a_nonzero_plain += grads[oa + k] != 0.0f;
        }
    }
    cr_assert_gt(a_nonzero_plain, 0, "plain LoRA's dA is not zero here, so the check above could fail");

    /* training: the optimizer holds B alone; A keeps its init bit for bit, B moves, the loss falls */
    float *a0 = malloc(fa.n_params * sizeof(float)), b_before = fa.mods[0].B->p[3];
    memcpy(a0, fa.params, fa.n_params * sizeof(float));
    adamw opt;
    cr_assert_eq(adamw_init(&opt, adamw_defaults(), &err) || adamw_add(&opt, fa.tensors, fa.n_tensors, &err), 0, "%s", err.msg);
    cr_assert_eq(opt.n_tensors, fa.n_mods, "B of every module, no A");
    double first = 0, last = 0;
    for (int s = 0; s < 20; s++) {
        step_result res;
        cr_assert_eq(train_step(&m, &opt, ids, NULL, 2, 8, 1e-2f, 1.0, &res, &err), 0, "%s", err.msg);
        if (s == 0) first = res.loss;
        last = res.loss;
    }
    for (int i = 0; i < fa.n_mods; i++) {
        const size_t oa = (size_t)(fa.mods[i].A->p - fa.params);
        cr_assert_eq(memcmp(fa.mods[i].A->p, a0 + oa, fa.mods[i].A->n * sizeof(float)), 0, "%s: A stays at its init", fa.mods[i].module);
    }
    cr_assert_neq(fa.mods[0].B->p[3], b_before, "B trains");
    cr_assert_lt(last, first, "the loss falls: %g -> %g", first, last);
    adamw_free(&opt);
    lora_free(&fa);
    lora_free(&plain);
    free(a0);
    free(grads);
    model_free(&m);
}
