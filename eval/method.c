#include "method.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

extern const method method_zero_shot, method_lora, method_calora, method_prosparse, method_conpet, method_eren;

/* Adding a method: one file in eval/methods/ and one line here. */
const method *const method_registry[] = {
    &method_zero_shot,
    &method_lora,
    &method_calora,
    &method_prosparse,
    &method_conpet,
    &method_eren,
};
const int method_registry_size = (int)(sizeof method_registry / sizeof method_registry[0]);

const method *method_find(const char *name)
{
    for (int i = 0; i < method_registry_size; i++)
        if (strcmp(method_registry[i]->name, name) == 0) return method_registry[i];
    return NULL;
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
