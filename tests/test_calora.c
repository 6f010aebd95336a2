/* CA-LoRA over the engine API: inheritance on the uncompressed model reproduces the adapter exactly, the
 * compressed base and the teacher stay unchanged by training while the distillation term falls, the random
 * init is PEFT's, and bad input is explained. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calora.h"
#include "compress.h"
#include "helpers.h"
#include "tensor.h"

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull; /* FNV-1a */
    return h;
}

static uint64_t hash_model(const model *m)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].p) h = hash_bytes(m->tensors[i].p, m->tensors[i].n * sizeof(float), h);
    for (int i = 0; m->quant && i < model_packed_slots(m); i++)
        if (m->quant[i].format != QF_COUNT) h = hash_bytes(m->quant[i].data, m->quant[i].data_bytes, h);
    return h;
}

/* an "existing LoRA" trained elsewhere: random A and B on q/v of the fixture model, saved in PEFT format */
static void existing_adapter(char *dir, size_t n)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *targets[] = {"q_proj", "v_proj"};
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, &m, 4, 8.0f, 0, targets, 2, 5, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 6);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.2f, &r);
    make_temp_dir(dir, n);
    cr_assert_eq(lora_save(&ad, dir, &err), 0, "%s", err.msg);
    lora_free(&ad);
    model_free(&m);
}

Test(calora, inheritance_on_the_uncompressed_model_reproduces_the_adapter)
{
    char dir[256];
    existing_adapter(dir, sizeof dir);
    cpet_err err;
    model plain, student;
    lora_adapter ad;
    cr_assert_eq(model_load(&plain, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(&student, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(lora_load(&ad, &plain, dir, &err), 0, "%s", err.msg);
    calora c;
    calora_options o = {.init = CALORA_INIT_INHERIT, .recovery = 1, .recovery_rank = 4, .recovery_alpha = 8.0f, .seed = 1};
    cr_assert_eq(calora_setup(&c, &student, NULL, dir, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(c.recovery.n_mods, 7 * student.cfg.n_layers, "the reference's placement: every projection, on q and v beside the LoRA");
    int ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 29 + 7) % 320;
    cr_assert_eq(model_forward(&plain, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    float *want = malloc(12 * 320 * sizeof(float));
    memcpy(want, model_logits(&plain), 12 * 320 * sizeof(float));
    cr_assert_eq(model_forward(&student, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(want, model_logits(&student), 12 * 320 * sizeof(float)), 0,
                 "inherited adapter + recovery modules at init = the original adapter, bit for bit");
    calora_free(&c);
    /* random init (rd): the adapter's shapes, A fresh, B = 0: the plain model's output */
    o.init = CALORA_INIT_RANDOM;
    o.recovery = 0;
    cr_assert_eq(calora_setup(&c, &student, NULL, dir, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(c.lora.n_mods, ad.n_mods);
    cr_assert_neq(memcmp(c.lora.mods[0].A->p, ad.mods[0].A->p, ad.mods[0].A->n * sizeof(float)), 0, "A is fresh");
    for (size_t i = 0; i < c.lora.mods[0].B->n; i++) cr_assert_eq(c.lora.mods[0].B->p[i], 0.0f);
    calora_free(&c);
    free(want);
    lora_free(&ad);
    model_free(&plain);
    model_free(&student);
}

Test(calora, training_moves_only_the_adapter_and_recovery_modules, .timeout = 120)
{
    char dir[256], out[300];
    existing_adapter(dir, sizeof dir);
    cpet_err err;
    model teacher, student;
    cr_assert_eq(model_load_mapped(&teacher, FIXTURE_DIR, &err), 0, "%s", err.msg); /* read in place, never copied */
    cr_assert_eq(model_load(&student, FIXTURE_DIR, &err), 0, "%s", err.msg);
    compress_options co = {.group = 32};
    cr_assert_eq(compress_model(&student, "w8a8", &co, NULL, &err) /* the reference's int8 (its FFN of 172 takes no 4-bit group) */, 0, "%s", err.msg);
    const uint64_t student_base = hash_model(&student), teacher_base = hash_model(&teacher);
    calora c;
    /* rd init: the student starts without the adapter the teacher has, so the distillation term has work */
    calora_options o = {.init = CALORA_INIT_RANDOM, .recovery = 1, .recovery_rank = 4, .recovery_alpha = 8.0f,
                        .distill = 10.0f, .seed = 2};
    cr_assert_eq(calora_setup(&c, &student, &teacher, dir, &o, &err), 0, "%s", err.msg);
    adamw opt;
    cr_assert_eq(adamw_init(&opt, adamw_defaults(), &err), 0);
    cr_assert_eq(calora_add_trainable(&c, &opt, &err), 0, "%s", err.msg);
    cr_assert_eq(opt.n_tensors, c.lora.n_tensors + c.recovery.n_tensors, "only LoRA and recovery parameters train");
    int ids[2 * 9];
    for (int i = 0; i < 18; i++) ids[i] = (i * 37 + 11) % 320;
    double first = 0, last = 0;
    for (int s = 0; s < 8; s++) {
        step_result r;
        cr_assert_eq(train_step_hooked(&student, &opt, ids, NULL, 2, 9, 5e-3f, 1.0, calora_step_hook, &c, &r, &err), 0, "%s",
                     err.msg);
        cr_assert(r.extra_loss > 0, "step %d: the distillation term is on", s);
        if (s == 0) first = r.extra_loss;
        last = r.extra_loss;
    }
    cr_assert_lt(last, first, "the student moves toward the teacher's hidden states: %g -> %g", first, last);
    cr_assert_eq(hash_model(&student), student_base, "the compressed base is unchanged by training");
    cr_assert_eq(hash_model(&teacher), teacher_base, "the teacher is unchanged");
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(calora_save(&c, out, &err), 0, "%s", err.msg);
    adamw_free(&opt);
    calora_free(&c);
    /* bad input: a negative weight, a teacher of another shape, an adapter whose targets the model lacks */
    o.distill = -0.5f;
    cr_assert_neq(calora_setup(&c, &student, &teacher, dir, &o, &err), 0);
    cr_assert(strstr(err.msg, "must be >= 0"), "%s", err.msg);
    model other;
    model_config small = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    cr_assert_eq(model_create(&other, &small, &err), 0);
    o.distill = 1.0f;
    cr_assert_neq(calora_setup(&c, &student, &other, dir, &o, &err), 0);
    cr_assert(strstr(err.msg, "teacher's vocab_size is 37, the student's 320"), "names the field: %s", err.msg);
    cr_assert_neq(calora_setup(&c, &other, NULL, dir, &(calora_options){.init = CALORA_INIT_INHERIT}, &err), 0);
    /* the adapter's file, tensor and both shapes: trained on the 64-wide student, loaded onto a 24-wide model */
    cr_assert(strstr(err.msg, "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'") &&
                  strstr(err.msg, "has shape [4, 64] but the config expects [4, 24]"),
              "an adapter that does not fit the model: %s", err.msg);
    model_free(&other);
    model_free(&teacher);
    model_free(&student);
}

Test(calora, recovery_alone_is_the_rc_row_and_rd_refreshes_a_moslora_mixer, .timeout = 120)
{
    char dir[256];
    existing_adapter(dir, sizeof dir);
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    int ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 31 + 5) % 320;
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    float *plain = malloc(12 * 320 * sizeof(float));
    memcpy(plain, model_logits(&m), 12 * 320 * sizeof(float));
    /* rc: no LoRA at all, recovery modules on q, k, v, o and the FFN (the reference's --pet False) */
    calora c;
    calora_options o = {.init = CALORA_INIT_NONE, .recovery = 1, .recovery_rank = 4, .recovery_alpha = 8.0f, .seed = 3};
    cr_assert_eq(calora_setup(&c, &m, NULL, dir, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(c.has_lora, 0, "no adapter on the student");
    cr_assert_eq(c.recovery.n_mods, 7 * m.cfg.n_layers, "q, k, v, o, gate, up, down in every layer");
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(plain, model_logits(&m), 12 * 320 * sizeof(float)), 0, "recovery alone at init = the plain model");
    adamw opt;
    cr_assert_eq(adamw_init(&opt, adamw_defaults(), &err), 0);
    cr_assert_eq(calora_add_trainable(&c, &opt, &err), 0, "%s", err.msg);
    cr_assert_eq(opt.n_tensors, c.recovery.n_tensors, "only the recovery modules train");
    adamw_free(&opt);
    calora_free(&c);
    o.recovery = 0;
    cr_assert_neq(calora_setup(&c, &m, NULL, dir, &o, &err), 0);
    cr_assert(strstr(err.msg, "nothing to train"), "%s", err.msg);
    /* rd on a MoSLoRA adapter: A and the mixer fresh (kaiming-uniform bounds), B = 0 */
    const char *targets[] = {"q_proj", "v_proj"};
    lora_adapter mos;
    cr_assert_eq(lora_create_mixed(&mos, &m, 4, 8.0f, 0, LORA_MIXER_TRAINED, targets, 2, 9, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < mos.n_mods; i++) fill_normal(mos.mods[i].B->p, mos.mods[i].B->n, 0.2f, &r);
    char mdir[300];
    snprintf(mdir, sizeof mdir, "%s/moslora", dir);
    cr_assert_eq(lora_save(&mos, mdir, &err), 0, "%s", err.msg);
    lora_free(&mos);
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0, "%s", err.msg); /* detached: the plain model again */
    cr_assert_eq(memcmp(plain, model_logits(&m), 12 * 320 * sizeof(float)), 0);
    lora_adapter kept;
    model twin;
    cr_assert_eq(model_load(&twin, FIXTURE_DIR, &err), 0, "%s", err.msg);
    cr_assert_eq(lora_load(&kept, &twin, mdir, &err), 0, "%s", err.msg);
    o = (calora_options){.init = CALORA_INIT_RANDOM, .seed = 4};
    cr_assert_eq(calora_setup(&c, &m, NULL, mdir, &o, &err), 0, "%s", err.msg);
    const lora_module *fresh = &c.lora.mods[0], *old = &kept.mods[0];
    cr_assert(fresh->M != NULL, "the mixer is kept as a mixer");
    cr_assert_neq(memcmp(fresh->M->p, old->M->p, old->M->n * sizeof(float)), 0, "the mixer is re-initialised");
    for (size_t i = 0; i < fresh->M->n; i++) cr_assert_leq(fabsf(fresh->M->p[i]), 1.0f / sqrtf(4.0f), "U(+-1/sqrt(r))");
    cr_assert_eq(model_forward(&m, ids, NULL, 1, 12, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(plain, model_logits(&m), 12 * 320 * sizeof(float)), 0, "B = 0: rd starts at the plain model");
    calora_free(&c);
    lora_free(&kept);
    model_free(&twin);
    free(plain);
    model_free(&m);
}

/* full: a random model of cfg; DIR: an adapter on targets (4 modules' kinds) with random A and B; pruned:
 * the full model saved and pruned by method at 50% (random calibration ids), not yet saved again */
static void prune_beside_an_adapter(const model_config *cfg, model *full, model *pruned, const char *const *targets,
                                    unsigned long long seed, const char *method, char *dir, size_t n_dir, char *pdir, size_t n_pdir)
{
    cpet_err err;
    cr_assert_eq(model_create(full, cfg, &err), 0);
    model_init_random(full, 0.2f, seed);
    make_temp_dir(dir, n_dir);
    lora_adapter ad;
    cr_assert_eq(lora_create(&ad, full, 3, 6.0f, 0, targets, 4, seed + 1, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, seed + 2);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.2f, &r);
    cr_assert_eq(lora_save(&ad, dir, &err), 0, "%s", err.msg);
    lora_free(&ad);
    snprintf(pdir, n_pdir, "%s/pruned", dir);
    cr_assert_eq(model_save(full, pdir, &err), 0, "%s", err.msg);
    cr_assert_eq(model_load(pruned, pdir, &err), 0, "%s", err.msg);
    int calib_ids[64];
    for (int i = 0; i < 64; i++) calib_ids[i] = (int)(rng_next(&r) % (uint64_t)cfg->vocab_size);
    calib_data cal = {calib_ids, 4, 16};
    compress_options co = {.sparsity = 0.5};
    cr_assert_eq(compress_model(pruned, method, &co, &cal, &err), 0, "%s: %s", method, err.msg);
}

/* the oracle's logits and the pruned model's on the same ids, within float rounding */
static void expect_same_logits(model *oracle, model *pruned)
{
    cpet_err err;
    int ids[10];
    const int V = oracle->cfg.vocab_size;
    for (int i = 0; i < 10; i++) ids[i] = (i * 13 + 1) % V;
    const size_t n = (size_t)10 * V;
    cr_assert_eq(model_forward(oracle, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
    float *want = malloc(n * sizeof(float));
    memcpy(want, model_logits(oracle), n * sizeof(float));
    cr_assert_eq(model_forward(pruned, ids, NULL, 1, 10, &err), 0, "%s", err.msg);
    cr_assert_lt(vec_max_rel_diff(model_logits(pruned), want, n), 1e-5, "projected = masked full adapter");
    free(want);
}

/* CA-LoRA after structured FFN pruning: the adapter of the unpruned model projects onto the kept neurons
 * (rows of B for gate/up, columns of A for down). Oracle: the unpruned model with the pruned neurons masked
 * (their gate/up rows and the adapter's B rows zero, so they output exactly 0) gives the same logits. The
 * kept-index map survives save and load. */
Test(calora, adapter_projection_after_struct_ffn_equals_the_masked_full_adapter, .timeout = 120)
{
    cpet_err err;
    model full, pruned, oracle;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f); /* hidden 24, FFN 40 */
    const char *targets[] = {"q_proj", "gate_proj", "up_proj", "down_proj"};
    char dir[256], pdir[300];
    prune_beside_an_adapter(&cfg, &full, &pruned, targets, 32, "struct-ffn", dir, sizeof dir, pdir, sizeof pdir);
    const int F = pruned.cfg.intermediate_size;
    cr_assert_eq(F, 20);
    cr_assert(pruned.ffn_kept && pruned.ffn_kept_from == 40, "the kept neurons are recorded");
    cr_assert_eq(model_save(&pruned, pdir, &err), 0, "%s", err.msg);
    model_free(&pruned);
    cr_assert_eq(model_load(&pruned, pdir, &err), 0, "%s", err.msg);
    cr_assert(pruned.ffn_kept && pruned.ffn_kept_from == 40, "and survive save and load");
    lora_adapter projected, masked;
    cr_assert_eq(lora_load(&projected, &pruned, dir, &err), 0, "%s", err.msg);
    /* the oracle: the full model, pruned neurons masked */
    cr_assert_eq(model_create(&oracle, &cfg, &err), 0);
    memcpy(oracle.params, full.params, full.n_params * sizeof(float));
    cr_assert_eq(lora_load(&masked, &oracle, dir, &err), 0, "%s", err.msg);
    for (int l = 0; l < cfg.n_layers; l++)
        for (int j = 0; j < cfg.intermediate_size; j++) {
            int kept = 0;
            for (int a = 0; a < F && !kept; a++) kept = pruned.ffn_kept[l * F + a] == j;
            if (kept) continue;
            for (int k = LIN_GATE; k <= LIN_UP; k++)
                memset(oracle.layers[l].lin[k].w + (size_t)j * cfg.hidden_size, 0, cfg.hidden_size * sizeof(float));
            for (int i = 0; i < masked.n_mods; i++) {
                char want[2][64];
                snprintf(want[0], sizeof want[0], "model.layers.%d.mlp.gate_proj", l);
                snprintf(want[1], sizeof want[1], "model.layers.%d.mlp.up_proj", l);
                if (!strcmp(masked.mods[i].module, want[0]) || !strcmp(masked.mods[i].module, want[1]))
                    memset(masked.mods[i].B->p + (size_t)j * masked.mods[i].r, 0, masked.mods[i].r * sizeof(float));
            }
        }
    expect_same_logits(&oracle, &pruned);
    lora_free(&masked);
    lora_free(&projected);
    model_free(&oracle);
    model_free(&pruned);
    model_free(&full);
}

/* the same after struct-heads: q/k/v adapters keep the rows of the kept KV groups' heads, o's the columns;
 * oracle: the full model with the pruned query heads' o_proj columns (and o's A columns) zero */
Test(calora, adapter_projection_after_struct_heads_equals_the_masked_full_adapter, .timeout = 120)
{
    cpet_err err;
    model full, pruned, oracle;
    model_config cfg = small_config(4, 2, ACT_SILU, 0, 10000.0f); /* 4 query heads in 2 KV groups, head_dim 8 */
    const char *targets[] = {"q_proj", "k_proj", "v_proj", "o_proj"};
    char dir[256], pdir[300];
    prune_beside_an_adapter(&cfg, &full, &pruned, targets, 42, "struct-heads", dir, sizeof dir, pdir, sizeof pdir);
    lora_adapter projected, masked;
    cr_assert(pruned.cfg.n_kv_heads == 1 && pruned.kv_kept && pruned.kv_kept_from == 2);
    cr_assert_eq(model_save(&pruned, pdir, &err), 0, "%s", err.msg);
    model_free(&pruned);
    cr_assert_eq(model_load(&pruned, pdir, &err), 0, "%s", err.msg);
    cr_assert(pruned.kv_kept && pruned.kv_kept_from == 2, "the kept groups survive save and load");
    cr_assert_eq(lora_load(&projected, &pruned, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(model_create(&oracle, &cfg, &err), 0);
    memcpy(oracle.params, full.params, full.n_params * sizeof(float));
    cr_assert_eq(lora_load(&masked, &oracle, dir, &err), 0, "%s", err.msg);
    const int hd = cfg.head_dim, QD = cfg.n_heads * hd, group = 2;
    for (int l = 0; l < cfg.n_layers; l++) {
        const int kept_group = pruned.kv_kept[l];
        for (int h = 0; h < cfg.n_heads; h++) {
            if (h / group == kept_group) continue;
            for (int d = 0; d < cfg.hidden_size; d++)
                memset(oracle.layers[l].lin[LIN_O].w + (size_t)d * QD + h * hd, 0, hd * sizeof(float));
            char want[64];
            snprintf(want, sizeof want, "model.layers.%d.self_attn.o_proj", l);
            for (int i = 0; i < masked.n_mods; i++)
                if (!strcmp(masked.mods[i].module, want))
                    for (int k = 0; k < masked.mods[i].r; k++) memset(masked.mods[i].A->p + (size_t)k * QD + h * hd, 0, hd * sizeof(float));
        }
    }
    expect_same_logits(&oracle, &pruned);
    lora_free(&masked);
    lora_free(&projected);
    model_free(&oracle);
    model_free(&pruned);
    model_free(&full);
}
