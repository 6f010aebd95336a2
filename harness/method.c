#include "method.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "finetune.h"
#include "optim.h"

static const char *type_name(param_type t)
{
    return t == PARAM_INT ? "an integer" : t == PARAM_NUMBER ? "a number" : t == PARAM_STRING ? "a string"
           : t == PARAM_BOOL ? "true or false" : "a list of strings";
}

static int type_ok(param_type t, const json_t *v)
{
    switch (t) {
    case PARAM_INT: return json_is_integer(v);
    case PARAM_NUMBER: return json_is_number(v);
    case PARAM_STRING: return json_is_string(v);
    case PARAM_BOOL: return json_is_boolean(v);
    case PARAM_STRING_LIST:
        if (!json_is_array(v)) return 0;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i))) return 0;
        return 1;
    }
    return 0;
}

int method_param_check(const method_param *p, const json_t *v, const char *where, cpet_err *err)
{
    if (!type_ok(p->type, v)) return cpet_fail(err, "%s: expected %s", where, type_name(p->type));
    if ((p->type == PARAM_INT || p->type == PARAM_NUMBER) && p->min < p->max) {
        const double x = json_number_value(v);
        if (isinf(p->max) && x < p->min) return cpet_fail(err, "%s: %g must be >= %g", where, x, p->min);
        if (x < p->min || x > p->max) return cpet_fail(err, "%s: %g is outside [%g, %g]", where, x, p->min, p->max);
    }
    if (p->type == PARAM_STRING && p->choices && opt_choice_index(p->choices, json_string_value(v)) < 0) {
        char list[256];
        opt_choices_text(p->choices, list, sizeof list);
        return cpet_fail(err, "%s '%s': %s", where, json_string_value(v), list);
    }
    return 0;
}

int method_parse_args(const method *m, const opt_command *cmd, const opt *own, int argc, char **argv, json_t **params, cpet_err *err)
{
    int n_own = 0;
    while (own[n_own].type != OPT_T_END) n_own++;
    const int n = m->n_params;
    /* one slot per parameter, holding its default until argv says otherwise */
    typedef struct {
        long i;
        double x;
        int b;
        const char *s;
        char flag[64], list[512];
    } slot;
    slot *v = calloc((size_t)n + 1, sizeof *v);
    opt *opts = calloc((size_t)(n_own + n + 1), sizeof *opts);
    json_t **defaults = calloc((size_t)n + 1, sizeof *defaults);
    *params = NULL;
    if (!v || !opts || !defaults) {
        free(v), free(opts), free(defaults);
        return cpet_fail(err, "%s: out of memory", cmd->name), OPT_ERROR;
    }
    memcpy(opts, own, (size_t)n_own * sizeof *opts);
    for (int k = 0; k < n; k++) {
        const method_param *p = &m->params[k];
        slot *s = &v[k];
        opt *o = &opts[n_own + k];
        snprintf(s->flag, sizeof s->flag, "--%s", p->key);
        for (char *c = s->flag + 2; *c; c++)
            if (*c == '_') *c = '-';
        json_t *d = defaults[k] = json_loads(p->default_json, JSON_DECODE_ANY, NULL);
        *o = (opt){.name = s->flag, .help = p->doc, .lo = p->min, .hi = p->max};
        switch (p->type) {
        case PARAM_INT:
            s->i = (long)json_integer_value(d);
            o->type = OPT_T_INT, o->dst = &s->i;
            if (!(p->min < p->max)) o->lo = -2147483647.0, o->hi = 2147483647.0;
            break;
        case PARAM_NUMBER:
            s->x = json_number_value(d);
            o->type = OPT_T_NUMBER, o->dst = &s->x;
            if (!(p->min < p->max)) o->lo = 1, o->hi = 0; /* unbounded */
            break;
        case PARAM_BOOL: s->b = json_is_true(d), o->type = OPT_T_BOOL, o->dst = &s->b; break;
        case PARAM_STRING:
            s->s = json_string_value(d);
            if (s->s && !s->s[0]) s->s = NULL; /* "" prints as no default */
            o->type = OPT_T_STRING, o->dst = &s->s, o->metavar = p->choices ? p->choices : "S";
            break;
        case PARAM_STRING_LIST: {
            size_t used = 0;
            for (size_t i = 0; i < json_array_size(d) && used < sizeof s->list; i++)
                used += (size_t)snprintf(s->list + used, sizeof s->list - used, "%s%s", i ? "," : "", json_string_value(json_array_get(d, i)));
            s->s = s->list[0] ? s->list : NULL;
            o->type = OPT_T_STRING, o->dst = &s->s, o->metavar = "A,B,...";
            break;
        }
        }
    }
    opts[n_own + n] = (opt){.type = OPT_T_END};
    int rc = opt_parse(cmd, opts, argc, argv, err);
    json_t *out = rc == OPT_OK ? json_object() : NULL;
    for (int k = 0; out && k < n; k++) {
        const method_param *p = &m->params[k];
        const slot *s = &v[k];
        json_t *j = NULL;
        switch (p->type) {
        case PARAM_INT: j = json_integer(s->i); break;
        case PARAM_NUMBER: j = json_real(s->x); break;
        case PARAM_BOOL: j = json_boolean(s->b); break;
        case PARAM_STRING: j = json_string(s->s ? s->s : ""); break;
        case PARAM_STRING_LIST:
            j = json_array();
            for (const char *c = s->s; c && *c;) {
                const size_t len = strcspn(c, ",");
                if (len) json_array_append_new(j, json_stringn(c, len));
                c += len + (c[len] == ',');
            }
            break;
        }
        char where[128];
        snprintf(where, sizeof where, "%s: %s", cmd->name, s->flag);
        if (method_param_check(p, j, where, err) != 0) {
            json_decref(j);
            json_decref(out), out = NULL;
            rc = OPT_ERROR;
            break;
        }
        json_object_set_new(out, p->key, j);
    }
    for (int k = 0; k < n; k++) json_decref(defaults[k]);
    free(defaults), free(opts), free(v);
    *params = out;
    return rc;
}

double method_param_number(const method_cell *c, const char *key) { return json_number_value(json_object_get(c->params, key)); }
int method_param_int(const method_cell *c, const char *key) { return (int)json_integer_value(json_object_get(c->params, key)); }

int method_expand_path(const method_cell *c, const char *key, char *out, size_t size, cpet_err *err)
{
    const char *given = json_string_value(json_object_get(c->params, key));
    if (!given || !given[0]) return cpet_fail(err, "params.%s (a path) is required", key);
    char seed[32];
    snprintf(seed, sizeof seed, "%lld", (long long)c->seed);
    const char *names[] = {"{task}", "{seed}"}, *values[] = {c->task_name ? c->task_name : "", seed};
    size_t o = 0;
    for (const char *p = given; *p;) {
        int hit = -1;
        for (int k = 0; k < 2 && hit < 0; k++)
            if (!strncmp(p, names[k], 6)) hit = k;
        const size_t room = size - o;
        const int w = hit >= 0 ? snprintf(out + o, room, "%s", values[hit]) : snprintf(out + o, room, "%c", *p);
        if (w < 0 || (size_t)w >= room) return cpet_fail(err, "params.%s is too long", key);
        o += (size_t)w, p += hit >= 0 ? 6 : 1;
    }
    out[o] = 0;
    return 0;
}

int method_score_multiple_choice(const method_cell *c, method_result *r, cpet_err *err)
{
    const task_set *s = c->eval;
    int n_choices = 0;
    for (int i = 0; i < s->n; i++) n_choices += s->items[i].n_choices;
    int *pred = malloc(((size_t)s->n + 1) * sizeof(int));
    double *lp = malloc(((size_t)n_choices + 1) * sizeof(double));
    mc_result res;
    int rc = eval_multiple_choice(c->m, c->tok, s, c->m->cfg.bos_token_id, 32, &res, pred, lp, err);
    if (rc == 0) {
        json_object_set_new(r->metrics, "acc", json_real(res.acc));
        json_object_set_new(r->metrics, "acc_norm", json_real(res.acc_norm));
        json_object_set_new(r->metrics, "acc_stderr", json_real(res.acc_stderr));
        json_object_set_new(r->metrics, "chance", json_real(res.chance));
        json_object_set_new(r->metrics, "n", json_integer(res.n));
        r->tokens += res.tokens;
        int k = 0;
        for (int i = 0; i < s->n; i++) {
            const task_example *e = &s->items[i];
            json_t *scores = json_array();
            int best_norm = 0;
            for (int j = 0; j < e->n_choices; j++) {
                json_array_append_new(scores, json_real(lp[k + j]));
                /* acc_norm's choice, recomputed from the scores exactly as evaluate.c does */
                if (lp[k + j] / (double)strlen(e->choices[j]) > lp[k + best_norm] / (double)strlen(e->choices[best_norm]))
                    best_norm = j;
            }
            k += e->n_choices;
            json_array_append_new(r->examples,
                                  json_pack("{s:s, s:i, s:i, s:b, s:i, s:b, s:o}", "id", e->id ? e->id : "", "label", e->label,
                                            "prediction", pred[i], "correct", pred[i] == e->label, "prediction_norm",
                                            best_norm, "correct_norm", best_norm == e->label, "scores", scores));
        }
    }
    free(pred);
    free(lp);
    return rc;
}

int method_lora_create(const json_t *params, model *m, uint64_t seed, lora_adapter *ad, cpet_err *err)
{
    json_t *targets = json_object_get(params, "targets");
    const char *names[LORA_MAX_TARGETS];
    int n = 0;
    for (size_t i = 0; i < json_array_size(targets) && n < LORA_MAX_TARGETS; i++) names[n++] = json_string_value(json_array_get(targets, i));
    const char *mixer = json_string_value(json_object_get(params, "mixer")); /* absent (a variant without one): plain LoRA */
    const int mix = !mixer ? LORA_MIXER_NONE : !strcmp(mixer, "trained") ? LORA_MIXER_TRAINED : !strcmp(mixer, "frozen") ? LORA_MIXER_FROZEN : LORA_MIXER_NONE;
    return lora_create_mixed(ad, m, (int)json_integer_value(json_object_get(params, "rank")), (float)json_number_value(json_object_get(params, "alpha")),
                             json_is_true(json_object_get(params, "rslora")), mix, names, n, (unsigned long long)seed, err);
}

int method_train_adapter(const method_cell *c, method_result *r, param_tensor *tensors, int n_tensors, cpet_err *err)
{
    if (c->train->n == 0) return cpet_fail(err, "%s: no training examples", c->task_file);
    adamw_config oc = adamw_defaults();
    oc.lr = (float)method_param_number(c, "lr");
    oc.weight_decay = (float)method_param_number(c, "weight_decay");
    long trainable = 0;
    for (int i = 0; i < n_tensors; i++) trainable += tensors[i].trainable ? (long)tensors[i].n : 0;
    json_object_set_new(r->metrics, "trainable_params", json_integer(trainable));
    adamw opt;
    memset(&opt, 0, sizeof opt);
    json_t *curve = json_array();
    finetune_config fc = {.steps = method_param_int(c, "steps"), .batch = method_param_int(c, "batch"), .lr = oc.lr,
                          .weight_decay = oc.weight_decay, .clip = (float)method_param_number(c, "clip"), .seed = c->seed,
                          .bos_id = c->m->cfg.bos_token_id};
    int rc = adamw_init(&opt, oc, err) || adamw_add(&opt, tensors, n_tensors, err) ||
             finetune_multiple_choice(c->m, &opt, c->tok, c->train, &fc, curve, &r->tokens, err);
    json_object_set_new(r->curves, "train_loss", curve);
    adamw_free(&opt);
    if (rc == 0) rc = method_score_multiple_choice(c, r, err); /* with the adapter attached */
    return rc ? -1 : 0;
}

int method_run_lora(const method_cell *c, method_result *r, void (*prepare)(lora_adapter *ad), cpet_err *err)
{
    lora_adapter ad;
    if (method_lora_create(c->params, c->m, c->seed, &ad, err) != 0) return -1;
    int rc = lora_set_trainable(&ad, 1, err);
    if (rc == 0 && prepare) prepare(&ad); /* the variant's say in what trains */
    if (rc == 0) rc = method_train_adapter(c, r, ad.tensors, ad.n_tensors, err);
    if (rc == 0 && c->out_dir) rc = lora_save(&ad, c->out_dir, err);
    lora_free(&ad); /* detached: the model is the base again */
    return rc ? -1 : 0;
}
