/* SIMPLE (simple.h): the masks' gradients and the latent weights' through them against finite
 * differences, the extracted smaller model against the masked full one (and after a save and load), a LoRA
 * adapter of the unpruned model projected onto it, and a sparsity that would empty a layer. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "helpers.h"
#include "lora.h"
#include "model.h"
#include "simple.h"
#include "tensor.h"

/* 8 query heads in 4 KV groups of head_dim 8, hidden 48, FFN 40, untied or tied */
static model_config simple_config(int tied)
{
    model_config c = small_config(8, 4, ACT_SILU, tied, 10000.0f);
    c.hidden_size = 48, c.intermediate_size = 40, c.head_dim = 8;
    return c;
}

static void random_masks(simple_masks *z, uint64_t seed)
{
    cpet_rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < z->L * z->KV; i++) z->kv[i] = 0.2f + 1.2f * rng_uniform(&r);
    for (int i = 0; i < z->L * z->F; i++) z->ffn[i] = 0.2f + 1.2f * rng_uniform(&r);
    for (int i = 0; i < z->D; i++) z->hidden[i] = 0.2f + 1.2f * rng_uniform(&r);
}

typedef struct {
    model *m;
    simple_masks *z, *dz;
    int ids[12], targets[12];
} mask_ctx;

static double masked_loss(void *p)
{
    mask_ctx *c = p;
    cpet_err err;
    model_zero_grad(c->m);
    return simple_loss_and_grads(c->m, c->z, c->dz, c->ids, c->targets, 2, 6, NULL, 0, &err);
}

static void check_gradients(int tied)
{
    cpet_err err;
    model m;
    model_config cfg = simple_config(tied);
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.3f, 3);
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0, "%s", err.msg);
    simple_masks z, dz;
    cr_assert_eq(simple_masks_init(&z, &m, 1.0f, &err), 0, "%s", err.msg);
    cr_assert_eq(simple_masks_init(&dz, &m, 0.0f, &err), 0, "%s", err.msg);
    random_masks(&z, 4);
    mask_ctx c = {.m = &m, .z = &z, .dz = &dz};
    for (int i = 0; i < 12; i++) c.ids[i] = (i * 5 + 1) % cfg.vocab_size, c.targets[i] = (i * 3 + 2) % cfg.vocab_size;
    cr_assert(isfinite(masked_loss(&c)));
    /* copies: the checker reruns the loss, which overwrites dz and the model's gradients */
    const size_t nkv = (size_t)z.L * z.KV, nffn = (size_t)z.L * z.F, ne = (size_t)cfg.vocab_size * cfg.hidden_size;
    linear *o = &m.layers[1].lin[LIN_O], *dn = &m.layers[0].lin[LIN_DOWN];
    const size_t no = (size_t)o->in * o->out, nd = (size_t)dn->in * dn->out;
    float *gkv = malloc(nkv * 4), *gffn = malloc(nffn * 4), *gh = malloc((size_t)z.D * 4), *ge = malloc(ne * 4), *go = malloc(no * 4),
          *gd = malloc(nd * 4);
    memcpy(gkv, dz.kv, nkv * 4), memcpy(gffn, dz.ffn, nffn * 4), memcpy(gh, dz.hidden, (size_t)z.D * 4);
    memcpy(ge, m.d_embed, ne * 4), memcpy(go, o->dw, no * 4), memcpy(gd, dn->dw, nd * 4);
    const struct {
        const char *what;
        float *x, *g;
        size_t n;
    } ps[] = {{"kv masks", z.kv, gkv, nkv}, {"ffn masks", z.ffn, gffn, nffn}, {"hidden mask", z.hidden, gh, (size_t)z.D},
              {"embedding", m.embed, ge, ne}, {"o_proj", o->w, go, no}, {"down_proj", dn->w, gd, nd}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        const double e = fd_check(masked_loss, &c, ps[i].x, ps[i].g, ps[i].n, 3e-3f, 4, 20 + i);
        cr_expect_lt(e, 2e-3, "%s (tied %d): error %g", ps[i].what, tied, e);
    }
    free(gkv), free(gffn), free(gh), free(ge), free(go), free(gd);
    simple_masks_free(&z), simple_masks_free(&dz);
    model_free(&m);
}

Test(simple, mask_and_weight_gradients_match_finite_differences) { check_gradients(0); }
Test(simple, mask_gradients_with_a_tied_head_match_finite_differences) { check_gradients(1); }

static void logits_of(model *m, const int *ids, int n, float *out)
{
    cpet_err err;
    cr_assert_eq(model_forward(m, ids, NULL, 1, n, &err), 0, "%s", err.msg);
    memcpy(out, model_logits(m), (size_t)n * m->cfg.vocab_size * sizeof(float));
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* the masked model with the thresholds' zeros: z where the extraction kept a unit, 0 elsewhere */
static void hard_masks(const simple_masks *z, const model *pruned, simple_masks *hard)
{
    const int KVk = pruned->cfg.n_kv_heads, Fk = pruned->cfg.intermediate_size, Dk = pruned->cfg.hidden_size;
    memset(hard->kv, 0, (size_t)z->L * z->KV * 4), memset(hard->ffn, 0, (size_t)z->L * z->F * 4), memset(hard->hidden, 0, (size_t)z->D * 4);
    for (int l = 0; l < z->L; l++) {
        for (int a = 0; a < KVk; a++) {
            const int g = pruned->kv_kept[l * KVk + a];
            hard->kv[l * z->KV + g] = z->kv[l * z->KV + g];
        }
        for (int a = 0; a < Fk; a++) {
            const int j = pruned->ffn_kept[l * Fk + a];
            hard->ffn[l * z->F + j] = z->ffn[l * z->F + j];
        }
    }
    for (int a = 0; a < Dk; a++) hard->hidden[pruned->hidden_kept[a]] = z->hidden[pruned->hidden_kept[a]];
}

Test(simple, the_smaller_checkpoint_computes_the_masked_model)
{
    cpet_err err;
    model_config cfg = simple_config(0);
    model full, masked;
    cr_assert_eq(model_create(&full, &cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(model_create(&masked, &cfg, &err), 0, "%s", err.msg);
    model_init_random(&full, 0.3f, 9);
    memcpy(masked.params, full.params, full.n_params * sizeof(float));
    /* an adapter of the unpruned model on the modules that read the residual stream or a head */
    char dir[256], adir[300], mdir[300];
    make_temp_dir(dir, sizeof dir);
    snprintf(adir, sizeof adir, "%s/adapter", dir), snprintf(mdir, sizeof mdir, "%s/pruned", dir);
    const char *targets[] = {"q_proj", "v_proj", "gate_proj", "up_proj"};
    lora_adapter ad, on_pruned;
    cr_assert_eq(lora_create(&ad, &full, 4, 8.0f, 0, targets, 4, 5, &err), 0, "%s", err.msg);
    cpet_rng r;
    rng_seed(&r, 6);
    for (int i = 0; i < ad.n_mods; i++) fill_normal(ad.mods[i].B->p, ad.mods[i].B->n, 0.2f, &r);
    cr_assert_eq(lora_save(&ad, adir, &err), 0, "%s", err.msg);
    lora_free(&ad);
    simple_masks z, hard, kept;
    cr_assert_eq(simple_masks_init(&z, &full, 1.0f, &err), 0, "%s", err.msg);
    cr_assert_eq(simple_masks_init(&hard, &full, 1.0f, &err), 0, "%s", err.msg);
    cr_assert_eq(simple_masks_init(&kept, &full, 1.0f, &err), 0, "%s", err.msg);
    random_masks(&z, 10);
    memcpy(kept.kv, z.kv, (size_t)z.L * z.KV * 4), memcpy(kept.ffn, z.ffn, (size_t)z.L * z.F * 4), memcpy(kept.hidden, z.hidden, (size_t)z.D * 4);
    cr_assert_eq(simple_extract(&full, &kept, 0.25, &err), 0, "%s", err.msg);
    cr_assert_eq(full.cfg.n_kv_heads, 3);
    cr_assert_eq(full.cfg.n_heads, 6);
    cr_assert_eq(full.cfg.intermediate_size, 30);
    cr_assert_eq(full.cfg.hidden_size, 36);
    cr_assert_eq(full.cfg.head_dim, 8);
    hard_masks(&z, &full, &hard);
    simple_fold(&masked, &hard);
    int ids[10];
    for (int i = 0; i < 10; i++) ids[i] = (i * 7 + 3) % cfg.vocab_size;
    const size_t n = 10 * (size_t)cfg.vocab_size;
    float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
    logits_of(&masked, ids, 10, a);
    logits_of(&full, ids, 10, b);
    cr_assert_lt(max_diff(a, b, n), 1e-4, "pruned vs masked: %g", max_diff(a, b, n));
    /* saved and loaded: a plain LLaMA checkpoint, the same logits */
    cr_assert_eq(model_save(&full, mdir, &err), 0, "%s", err.msg);
    model back;
    cr_assert_eq(model_load(&back, mdir, &err), 0, "%s", err.msg);
    logits_of(&back, ids, 10, c);
    cr_assert_lt(max_diff(b, c, n), 1e-6);
    cr_assert(back.hidden_kept && back.hidden_kept_from == 48);
    /* the adapter of the unpruned model, projected, on the pruned model = the adapter on the masked model */
    cr_assert_eq(lora_load(&on_pruned, &back, adir, &err), 0, "%s", err.msg);
    lora_adapter on_masked;
    cr_assert_eq(lora_load(&on_masked, &masked, adir, &err), 0, "%s", err.msg);
    logits_of(&masked, ids, 10, a);
    logits_of(&back, ids, 10, c);
    cr_assert_lt(max_diff(a, c, n), 1e-4, "with the adapter: %g", max_diff(a, c, n));
    lora_free(&on_pruned), lora_free(&on_masked);
    free(a), free(b), free(c);
    simple_masks_free(&z), simple_masks_free(&hard), simple_masks_free(&kept);
    model_free(&back), model_free(&masked), model_free(&full);
}

Test(simple, a_sparsity_that_empties_a_layer_is_refused)
{
    cpet_err err;
    model_config cfg = simple_config(0);
    model m;
    cr_assert_eq(model_create(&m, &cfg, &err), 0, "%s", err.msg);
    simple_masks z;
    cr_assert_eq(simple_masks_init(&z, &m, 1.0f, &err), 0, "%s", err.msg);
    cr_assert_neq(simple_extract(&m, &z, 0.9, &err), 0);
    cr_assert(strstr(err.msg, "every KV head of a layer") && !strchr(err.msg, '\n'), "%s", err.msg);
    cr_assert_eq(m.cfg.hidden_size, 48, "nothing removed");
    simple_masks_free(&z);
    model_free(&m);
}

/* The pruned checkpoints SIMPLE and WID write are plain LLaMA checkpoints: an independent PyTorch LLaMA
 * forward (tests/fixtures/pruned/llama_reference.py, written from transformers' modeling_llama and checked
 * against transformers' own logits) gives the logits cpet gives. */
Test(simple, pruned_checkpoints_mean_to_a_torch_llama_what_they_mean_to_cpet)
{
    static const char *const names[] = {"simple", "wid"};
    for (int k = 0; k < 2; k++) {
        char dir[600], path[700];
        snprintf(dir, sizeof dir, "%s/pruned/%s", CPET_FIXTURES, names[k]);
        snprintf(path, sizeof path, "%s/expected.safetensors", dir);
        cpet_err err;
        model m;
        cr_assert_eq(model_load(&m, dir, &err), 0, "%s", err.msg);
        cr_assert_lt(m.cfg.hidden_size, 64, "%s: smaller than the model it came from", names[k]);
        st_file f;
        cr_assert_eq(st_open(&f, path, &err), 0, "%s", err.msg);
        int B, T;
        int *ids = fixture_ids(&f, &B, &T);
        size_t n;
        float *want = tensor_f32(&f, "logits", &n);
        cr_assert_eq(model_forward(&m, ids, NULL, B, T, &err), 0, "%s", err.msg);
        cr_assert_eq(n, (size_t)B * T * m.cfg.vocab_size);
        double worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)want[i] - model_logits(&m)[i]) / (1 + fabs((double)want[i])));
        cr_assert_lt(worst, 1e-4, "%s: logits differ from the torch reference by %g", names[k], worst);
        free(ids), free(want);
        st_close(&f);
        model_free(&m);
    }
}
