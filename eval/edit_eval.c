#include "edit_eval.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int edit_answer_matches(const char *a, const char *b)
{
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && (isspace((unsigned char)a[na - 1]) || a[na - 1] == '.')) na--;
    while (nb && (isspace((unsigned char)b[nb - 1]) || b[nb - 1] == '.')) nb--;
    return na == nb && !strncasecmp(a, b, na);
}

double edit_eq(double es, double bp) { return es + bp > 0 ? 2 * es * bp / (es + bp) : 0; }

/* BOS + prompt + " " + target, the position where the target starts and the whole sequence's logits */
static int forward_pair(model *m, const tokenizer *tok, const char *prompt, const char *target, int **ids_out, int *n_out, int *start_out,
                        cpet_err *err)
{
    int *p = NULL, np = 0, *t = NULL, nt = 0;
    size_t tl = strlen(target);
    char *spaced = malloc(tl + 2);
    if (!spaced) return cpet_fail(err, "scoring: out of memory");
    spaced[0] = ' ';
    memcpy(spaced + 1, target, tl + 1);
    int rc = tokenizer_encode(tok, prompt, strlen(prompt), &p, &np, err);
    if (rc == 0) rc = tokenizer_encode(tok, spaced, tl + 1, &t, &nt, err);
    free(spaced);
    if (rc != 0) return free(p), -1;
    const int n = 1 + np + nt;
    if (nt == 0) rc = cpet_fail(err, "scoring: an empty target after '%.60s'", prompt);
    else if (n > m->rope_len) rc = cpet_fail(err, "scoring: '%.60s' + its target take %d tokens, over the window of %d", prompt, n, m->rope_len);
    int *ids = rc == 0 ? malloc((size_t)n * sizeof(int)) : NULL;
    if (rc == 0 && !ids) rc = cpet_fail(err, "scoring: out of memory");
    if (rc == 0) {
        ids[0] = m->cfg.bos_token_id;
        memcpy(ids + 1, p, (size_t)np * sizeof(int));
        memcpy(ids + 1 + np, t, (size_t)nt * sizeof(int));
        rc = model_forward(m, ids, NULL, 1, n, err);
    }
    free(p), free(t);
    if (rc != 0) return free(ids), -1;
    *ids_out = ids, *n_out = n, *start_out = 1 + np;
    return 0;
}

int edit_token_accuracy(model *m, const tokenizer *tok, const char *prompt, const char *target, double *accuracy, cpet_err *err)
{
    int *ids, n, start;
    if (forward_pair(m, tok, prompt, target, &ids, &n, &start, err) != 0) return -1;
    const int V = m->cfg.vocab_size;
    int right = 0;
    for (int i = start; i < n; i++) { /* the token at i is predicted at i - 1 */
        const float *z = m->acts.logits + (size_t)(i - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;
        right += best == ids[i];
    }
    *accuracy = (double)right / (n - start);
    free(ids);
    return 0;
}

int edit_mean_logprob(model *m, const tokenizer *tok, const char *prompt, const char *target, double *mean_lp, cpet_err *err)
{
    int *ids, n, start;
    if (forward_pair(m, tok, prompt, target, &ids, &n, &start, err) != 0) return -1;
    const int V = m->cfg.vocab_size;
    double sum = 0;
    for (int i = start; i < n; i++) {
        const float *z = m->acts.logits + (size_t)(i - 1) * V;
        double mx = z[0], s = 0;
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++) s += exp(z[v] - mx);
        sum += z[ids[i]] - mx - log(s);
    }
    *mean_lp = sum / (n - start);
    free(ids);
    return 0;
}

/* ---- a run ---- */

#include <stdio.h>

#include "facts.h"
#include "tensor.h"

static const char *const method_names[] = {"eren", "one-step", "unedited"};
const char *const edit_oos_kinds[EDIT_OOS_KINDS] = {"same_subject", "same_relation", "note_prefixed", "neighbour", "lexical_overlap"};

int edit_method_parse(const char *s, edit_method *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, method_names[i])) return *out = (edit_method)i, 0;
    return -1;
}

const char *edit_method_name(edit_method m) { return (int)m >= 0 && (int)m < 3 ? method_names[m] : "?"; }

void edit_run_result_free(edit_run_result *r)
{
    for (int i = 0; i < r->n; i++) free(r->items[i].output), free(r->items[i].unedited);
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* the chosen cases: those of the split, in a seeded order, the first n */
static int choose_cases(const edit_set *cases, const edit_run_config *c, int **out, cpet_err *err)
{
    int *idx = malloc(((size_t)cases->n + 1) * sizeof(int)), n = 0;
    if (!idx) return cpet_fail(err, "editing: out of memory");
    for (int i = 0; i < cases->n; i++)
        if (!c->split || !strcmp(cases->cases[i].split, c->split)) idx[n++] = i;
    cpet_rng r;
    rng_seed(&r, c->seed * 1000003 + 11);
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)(rng_next(&r) % (uint64_t)(i + 1)), t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
    if (c->n_edits > 0 && c->n_edits < n) n = c->n_edits;
    if (n == 0) return free(idx), cpet_fail(err, "editing: no edit cases in split '%s'", c->split ? c->split : "(all)");
    *out = idx;
    return n;
}

int edit_run(model *m, const tokenizer *tok, const edit_set *cases, const edit_run_config *c, edit_run_result *r, cpet_err *err)
{
    memset(r, 0, sizeof *r);
    int *idx = NULL;
    const int n = choose_cases(cases, c, &idx, err);
    if (n < 0) return -1;
    r->n_edits = n;
    int total = 0;
    for (int i = 0; i < n; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        total += e->n_in_scope + e->n_out_of_scope + e->n_portability;
    }
    r->items = calloc((size_t)total + 1, sizeof *r->items);
    if (!r->items) return free(idx), cpet_fail(err, "editing: out of memory");
    for (int i = 0; i < n; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        const edit_question *groups[3] = {e->in_scope, e->out_of_scope, e->portability};
        const int counts[3] = {e->n_in_scope, e->n_out_of_scope, e->n_portability};
        static const char *const names[3] = {"in_scope", "out_of_scope", "portability"};
        for (int g = 0; g < 3; g++)
            for (int q = 0; q < counts[g]; q++)
                r->items[r->n++] = (edit_item){e->id, names[g], groups[g][q].kind, groups[g][q].question, groups[g][q].answer, NULL, NULL, 0, 0, 0, 0};
    }
    eren_model_reader reader = {m, tok, c->max_new > 0 ? c->max_new : 12};
    eren_notebook nb;
    notebook_init(&nb);
    eren_index x = {0};
    int rc = 0;
    /* the unedited model: closed-book, before any edit */
    eren_config closed = {EREN_CLOSED_BOOK, c->top_k, m->rope_len - reader.max_new, eren_model_read, eren_model_measure, &reader};
    for (int i = 0; rc == 0 && i < r->n; i++) {
        eren_answer a;
        if ((rc = eren_answer_question(&closed, &nb, &x, r->items[i].question, &a, err)) != 0) break;
        r->items[i].unedited = a.answer, a.answer = NULL;
        eren_answer_free(&a);
    }
    /* the edits: notes (keyed by subject and relation, so a later edit of the same fact wins) */
    for (int i = 0; rc == 0 && c->method != EDIT_UNEDITED && i < n; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        char key[512];
        snprintf(key, sizeof key, "%s/%s", e->subject, e->relation ? e->relation : "");
        if (notebook_add(&nb, e->statement, key, err) < 0) rc = -1;
    }
    if (rc == 0 && c->method != EDIT_UNEDITED)
        rc = c->retriever == EREN_DENSE ? eren_index_dense(&x, &nb, m, tok, err) : eren_index_bm25(&x, &nb, err);
    eren_config ask = {c->method == EDIT_EREN ? EREN_TWO_STEP : c->method == EDIT_ONE_STEP ? EREN_ONE_STEP : EREN_CLOSED_BOOK, c->top_k,
                       m->rope_len - reader.max_new, eren_model_read, eren_model_measure, &reader};
    const double t0 = now_seconds();
    long fell = 0, asked = 0;
    for (int i = 0; rc == 0 && i < r->n; i++) {
        edit_item *it = &r->items[i];
        if (c->method == EDIT_UNEDITED) {
            it->output = strdup(it->unedited);
        } else {
            eren_answer a;
            if ((rc = eren_answer_question(&ask, &nb, &x, it->question, &a, err)) != 0) break;
            it->output = a.answer, a.answer = NULL;
            it->fell_back = a.fell_back, it->notes_used = a.notes_used;
            eren_answer_free(&a);
        }
        if (!it->output) rc = cpet_fail(err, "editing: out of memory");
        if (strcmp(it->group, "portability")) fell += it->fell_back, asked++;
    }
    r->seconds_per_question = r->n ? (now_seconds() - t0) / r->n : 0;
    double es = 0, rel = 0, gen = 0, bp = 0, port = 0, oos_acc = 0, un_acc = 0;
    int n_es = 0, n_rel = 0, n_gen = 0, n_bp = 0, n_port = 0;
    for (int i = 0; rc == 0 && i < r->n; i++) {
        edit_item *it = &r->items[i];
        it->correct = edit_answer_matches(it->output, it->expected);
        it->unchanged = edit_answer_matches(it->output, it->unedited);
        if (!strcmp(it->group, "in_scope")) {
            es += it->correct, n_es++;
            if (!strcmp(it->kind, "question")) rel += it->correct, n_rel++;
            else gen += it->correct, n_gen++;
        } else if (!strcmp(it->group, "out_of_scope")) {
            bp += it->unchanged, n_bp++;
            oos_acc += it->correct, un_acc += edit_answer_matches(it->unedited, it->expected);
            for (int k = 0; k < EDIT_OOS_KINDS; k++)
                if (!strcmp(it->kind, edit_oos_kinds[k])) r->bp_kind[k] += it->unchanged, r->n_kind[k]++;
        } else {
            port += it->correct, n_port++;
        }
    }
    r->es = n_es ? es / n_es : NAN, r->bp = n_bp ? bp / n_bp : NAN, r->eq = edit_eq(r->es, r->bp);
    r->reliability = n_rel ? rel / n_rel : NAN, r->generalization = n_gen ? gen / n_gen : NAN, r->portability = n_port ? port / n_port : NAN;
    r->oos_accuracy = n_bp ? oos_acc / n_bp : NAN, r->unedited_oos_accuracy = n_bp ? un_acc / n_bp : NAN;
    for (int k = 0; k < EDIT_OOS_KINDS; k++) r->bp_kind[k] = r->n_kind[k] ? r->bp_kind[k] / r->n_kind[k] : NAN;
    r->fallback_rate = asked ? (double)fell / asked : 0;
    eren_index_free(&x);
    notebook_free(&nb);
    free(idx);
    if (rc != 0) edit_run_result_free(r);
    return rc;
}
