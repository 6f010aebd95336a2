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
    int off; /* p: BOS (when the tokenizer adds one) and the prompt */
    int rc = tokenizer_encode_bos(tok, m->cfg.bos_token_id, prompt, strlen(prompt), &p, &np, &off, err);
    if (rc == 0) rc = tokenizer_encode(tok, spaced, tl + 1, &t, &nt, err);
    free(spaced);
    if (rc != 0) return free(p), -1;
    const int n = np + nt;
    if (nt == 0) rc = cpet_fail(err, "scoring: an empty target after '%.60s'", prompt);
    else if (n > m->rope_len) rc = cpet_fail(err, "scoring: '%.60s' + its target take %d tokens, over the window of %d", prompt, n, m->rope_len);
    int *ids = rc == 0 ? malloc((size_t)n * sizeof(int)) : NULL;
    if (rc == 0 && !ids) rc = cpet_fail(err, "scoring: out of memory");
    if (rc == 0) {
        memcpy(ids, p, (size_t)np * sizeof(int));
        memcpy(ids + np, t, (size_t)nt * sizeof(int));
        rc = model_forward(m, ids, NULL, 1, n, err);
    }
    free(p), free(t);
    if (rc != 0) return free(ids), -1;
    *ids_out = ids, *n_out = n, *start_out = np;
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

static int edit_by_ft(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err);
static int edit_by_rome(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err);

int edit_weights(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err)
{
    if (c->method == EDIT_FT) return edit_by_ft(m, tok, cases, idx, n, c, err);
    if (c->method == EDIT_ROME) return edit_by_rome(m, tok, cases, idx, n, c, err);
    return cpet_fail(err, "editing: %s changes no weights", edit_method_name(c->method));
}

#include <stdio.h>

#include "corpus.h"
#include "facts.h"
#include "finetune.h"
#include "methods/rome.h"
#include "tensor.h"

static const char *const method_names[] = {"eren", "one-step", "unedited", "ft", "rome"};
#define N_EDIT_METHODS 5
const char *const edit_oos_kinds[EDIT_OOS_KINDS] = {"same_subject", "same_relation", "note_prefixed", "neighbour", "lexical_overlap"};

int edit_method_parse(const char *s, edit_method *out)
{
    for (int i = 0; i < N_EDIT_METHODS; i++)
        if (!strcmp(s, method_names[i])) return *out = (edit_method)i, 0;
    return -1;
}

const char *edit_method_name(edit_method m) { return (int)m >= 0 && (int)m < N_EDIT_METHODS ? method_names[m] : "?"; }

/* the statement's text before its new object ("The capital of Talim is"), or NULL when it does not end
 * with it */
static char *statement_prefix(const edit_case *e)
{
    size_t ns = strlen(e->statement);
    const size_t nt = strlen(e->target_new);
    while (ns && (e->statement[ns - 1] == '.' || e->statement[ns - 1] == ' ')) ns--; /* "... is English." */
    if (nt == 0 || nt >= ns || strncmp(e->statement + ns - nt, e->target_new, nt)) return NULL; /* FEVER's have no object */
    size_t n = ns - nt;
    while (n && e->statement[n - 1] == ' ') n--;
    char *p = malloc(n + 1);
    if (p) memcpy(p, e->statement, n), p[n] = 0;
    return p;
}

/* ft: all weights tuned on the statements (finetune.h); batch or one edit after another */
static int edit_by_ft(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err)
{
    task_set all = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        char *prefix = statement_prefix(e), answer[512];
        if (!prefix) {
            rc = cpet_fail(err, "edit %s: ft needs a statement ending with its new object ('%s' / '%s')", e->id, e->statement, e->target_new);
            break;
        }
        snprintf(answer, sizeof answer, " %s", e->target_new);
        char *choices[1] = {answer};
        task_example ex = {e->id, "edit", e->split, prefix, e->subject, e->relation, choices, 1, 0};
        tasks_add(&all, &ex);
        free(prefix);
    }
    adamw opt = {0};
    adamw_config oc = adamw_defaults();
    oc.lr = c->ft_lr > 0 ? c->ft_lr : 1e-4f, oc.weight_decay = 0;
    if (rc == 0) rc = model_set_trainable(m, NULL, 1, err);
    if (rc == 0) rc = adamw_init(&opt, oc, err);
    if (rc == 0) rc = adamw_add(&opt, m->tensors, m->n_tensors, err);
    long tokens;
    if (rc == 0 && !c->sequential) {
        const int batch = n < 8 ? n : 8, epochs = c->ft_epochs > 0 ? c->ft_epochs : 10;
        finetune_config fc = {.steps = epochs * ((n + batch - 1) / batch), .batch = batch, .lr = oc.lr, .clip = 1.0f, .seed = c->seed,
                              .bos_id = m->cfg.bos_token_id};
        rc = finetune_multiple_choice(m, &opt, tok, &all, &fc, NULL, &tokens, err);
    }
    for (int i = 0; rc == 0 && c->sequential && i < n; i++) { /* each edit on the weights the earlier ones left */
        task_set one = {0};
        tasks_add(&one, &all.items[i]);
        finetune_config fc = {.steps = c->ft_steps > 0 ? c->ft_steps : 10, .batch = 1, .lr = oc.lr, .clip = 1.0f, .seed = c->seed + (uint64_t)i,
                              .bos_id = m->cfg.bos_token_id};
        rc = finetune_multiple_choice(m, &opt, tok, &one, &fc, NULL, &tokens, err);
        tasks_free(&one);
    }
    adamw_free(&opt);
    model_set_trainable(m, NULL, 0, err);
    tasks_free(&all);
    return rc;
}

/* rome: the rank-one updates, one after another (sequential) or all computed first (batch) */
static int edit_by_rome(model *m, const tokenizer *tok, const edit_set *cases, const int *idx, int n, const edit_run_config *c, cpet_err *err)
{
    if (!c->stats_stream || c->stats_tokens <= 0) return cpet_fail(err, "rome: no corpus for the key statistics");
    const int layer = c->rome_layer >= 0 ? c->rome_layer : m->cfg.n_layers / 3;
    rome_stats st;
    if (rome_stats_compute(m, c->stats_stream, c->stats_tokens, layer, m->rope_len < 64 ? m->rope_len : 64, 100000, 0.01, &st, err) != 0)
        return -1;
    rome_config rc_cfg = rome_defaults(layer);
    if (c->rome_steps > 0) rc_cfg.steps = c->rome_steps;
    if (c->rome_clamp > 0) rc_cfg.clamp = c->rome_clamp;
    if (c->rome_prefixes >= 0) rc_cfg.n_prefixes = c->rome_prefixes;
    rc_cfg.seed = c->seed;
    rome_update *ups = calloc((size_t)n + 1, sizeof *ups);
    int rc = ups ? 0 : cpet_fail(err, "rome: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        char *prefix = statement_prefix(e);
        if (!prefix) {
            rc = cpet_fail(err, "edit %s: rome needs a statement ending with its new object", e->id);
            break;
        }
        rome_result res;
        rc = rome_compute(m, tok, &st, &rc_cfg, prefix, e->subject, e->target_new, &ups[i], &res, err);
        if (rc != 0) cpet_prefix(err, "edit %s", e->id);
        free(prefix);
        if (rc == 0 && c->sequential) rome_apply(m, &ups[i]); /* the next edit sees this one */
    }
    for (int i = 0; rc == 0 && !c->sequential && i < n; i++) rome_apply(m, &ups[i]);
    for (int i = 0; ups && i < n; i++) rome_update_free(&ups[i]);
    free(ups);
    rome_stats_free(&st);
    return rc;
}

static json_t *number_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

json_t *edit_run_metrics_json(const edit_run_result *r)
{
    json_t *m = json_object();
    const struct {
        const char *name;
        double value;
    } scalars[] = {{"es", r->es},
                   {"bp", r->bp},
                   {"eq", r->eq},
                   {"es_teacher_forced", r->es_teacher_forced},
                   {"es_rome_prob", r->es_rome_prob},
                   {"rewrite", r->rewrite},
                   {"reliability", r->reliability},
                   {"generalization", r->generalization},
                   {"locality", r->bp},
                   {"portability", r->portability},
                   {"multi_edit", r->multi_edit},
                   {"oos_accuracy", r->oos_accuracy},
                   {"unedited_oos_accuracy", r->unedited_oos_accuracy},
                   {"fallback_rate", r->fallback_rate},
                   {"seconds_per_question", r->seconds_per_question}};
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) json_object_set_new(m, scalars[i].name, number_or_null(scalars[i].value));
    for (int k = 0; k < EDIT_OOS_KINDS; k++) {
        char key[64];
        snprintf(key, sizeof key, "bp_%s", edit_oos_kinds[k]);
        json_object_set_new(m, key, number_or_null(r->bp_kind[k]));
    }
    json_object_set_new(m, "edits", json_integer(r->n_edits));
    json_object_set_new(m, "notebook_size", json_integer(r->notebook_size));
    json_object_set_new(m, "n", json_integer(r->n));
    return m;
}

int edit_stats_stream(const char *path, const tokenizer *tok, int bos_id, int **stream, long *n_tokens, cpet_err *err)
{
    corpus text;
    *stream = NULL;
    if (!path || !*path) return cpet_fail(err, "rome: no corpus for its key statistics");
    if (corpus_read(&text, path, err) != 0) return -1;
    const int rc = corpus_tokenize(&text, tok, bos_id, stream, n_tokens, err);
    corpus_free(&text);
    return rc;
}

void edit_run_result_free(edit_run_result *r)
{
    for (int i = 0; i < r->n; i++) free(r->items[i].output), free(r->items[i].unedited);
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* an in-scope question under the teacher-forced and ROME protocols, after the prompt its answer came from */
static int other_protocols(model *m, const tokenizer *tok, const char *prompt, edit_item *it, cpet_err *err)
{
    const edit_case *e = it->edit;
    if (!prompt) return 0;
    double lp_new, lp_true;
    if (edit_token_accuracy(m, tok, prompt, it->expected, &it->tf_accuracy, err) != 0) return -1;
    if (!*e->target_true) return 0;
    if (edit_mean_logprob(m, tok, prompt, e->target_new, &lp_new, err) != 0 || edit_mean_logprob(m, tok, prompt, e->target_true, &lp_true, err) != 0)
        return -1;
    it->new_beats_true = lp_new > lp_true;
    return 0;
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
    rng_shuffle(&r, idx, n);
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
    /* the edits that multi-edit questions are asked with join the notebook (or the weight edits) without being
     * asked about: idx[n .. n_all) */
    int n_all = n;
    {
        int *grown = realloc(idx, ((size_t)cases->n + 1) * sizeof *idx);
        if (!grown) return free(idx), cpet_fail(err, "editing: out of memory");
        idx = grown;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < cases->cases[idx[i]].n_portability; k++) {
                const char *with = cases->cases[idx[i]].portability[k].with;
                const int j = with ? edit_set_find(cases, with) : -1;
                int have = j < 0;
                for (int t = 0; t < n_all && !have; t++) have = idx[t] == j;
                if (!have) idx[n_all++] = j;
            }
    }
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
                r->items[r->n++] = (edit_item){.edit = e, .case_id = e->id, .group = names[g], .kind = groups[g][q].kind,
                                               .question = groups[g][q].question, .expected = groups[g][q].answer};
    }
    const eren_task task = cases->fact_check ? EREN_FC : EREN_QA;
    eren_model_reader reader = {m, tok, eren_answer_budget(tok, task, c->max_new > 0 ? c->max_new : 12)};
    eren_notebook nb;
    notebook_init(&nb);
    eren_index x = {0};
    int rc = 0;
    /* the unedited model: closed-book, before any edit */
    eren_config closed = {.mode = EREN_CLOSED_BOOK, .task = task, .top_k = c->top_k, .hops = c->hops, .max_prompt = m->rope_len - reader.max_new,
                          .read = eren_model_read, .measure = eren_model_measure, .ctx = &reader};
    for (int i = 0; rc == 0 && i < r->n; i++) {
        eren_answer a;
        if ((rc = eren_answer_question(&closed, &nb, &x, r->items[i].question, &a, err)) != 0) break;
        r->items[i].unedited = a.answer, a.answer = NULL;
        eren_answer_free(&a);
    }
    /* weight edits: a snapshot first, restored at the end (the caller's model comes back as it was) */
    const int weights = c->method == EDIT_FT || c->method == EDIT_ROME;
    float *snapshot = NULL;
    size_t total_params = 0;
    for (int i = 0; i < m->n_tensors; i++) total_params += m->tensors[i].n;
    if (rc == 0 && weights && !(snapshot = malloc(total_params * sizeof(float)))) rc = cpet_fail(err, "editing: out of memory for a weight snapshot");
    for (size_t i = 0, off = 0; rc == 0 && weights && i < (size_t)m->n_tensors; off += m->tensors[i].n, i++)
        memcpy(snapshot + off, m->tensors[i].p, m->tensors[i].n * sizeof(float));
    if (rc == 0 && weights) rc = edit_weights(m, tok, cases, idx, n_all, c, err);
    /* the edits: notes (keyed by subject and relation, so a later edit of the same fact wins) */
    for (int i = 0; rc == 0 && (c->method == EDIT_EREN || c->method == EDIT_ONE_STEP) && i < n_all; i++) {
        const edit_case *e = &cases->cases[idx[i]];
        char key[512];
        snprintf(key, sizeof key, "%s/%s", e->subject, e->relation ? e->relation : "");
        if (notebook_add(&nb, e->statement, key, err) < 0) rc = -1;
    }
    /* more notes up to the notebook size: other cases' edits, not asked about (the scaling study) */
    if (rc == 0 && (c->method == EDIT_EREN || c->method == EDIT_ONE_STEP) && c->notebook_size > n) {
        int *others = malloc(((size_t)cases->n + 1) * sizeof(int)), n_others = 0;
        char *chosen = calloc((size_t)cases->n + 1, 1);
        if (!others || !chosen) rc = cpet_fail(err, "editing: out of memory");
        for (int j = 0; rc == 0 && j < n_all; j++) chosen[idx[j]] = 1;
        for (int i = 0; rc == 0 && i < cases->n; i++)
            if (!chosen[i]) others[n_others++] = i;
        free(chosen);
        cpet_rng g;
        rng_seed(&g, c->seed * 7 + 3);
        for (int i = 0; rc == 0 && i < n_others && nb.n < c->notebook_size; i++) { /* a partial shuffle: the first ones */
            const int j = i + (int)(rng_next(&g) % (uint64_t)(n_others - i)), t = others[i];
            others[i] = others[j], others[j] = t;
            const edit_case *e = &cases->cases[others[i]];
            char key[512];
            snprintf(key, sizeof key, "%s/%s", e->subject, e->relation ? e->relation : "");
            if (notebook_add(&nb, e->statement, key, err) < 0) rc = -1;
        }
        free(others);
        for (int i = 0; rc == 0 && c->filler && i < c->filler->n && nb.n < c->notebook_size; i++) { /* another world's edits */
            const edit_case *e = &c->filler->cases[i];
            int clash = 0;
            for (int j = 0; j < cases->n && !clash; j++) clash = !strcmp(cases->cases[j].subject, e->subject);
            if (clash) continue;
            char key[512];
            snprintf(key, sizeof key, "filler:%s/%s", e->subject, e->relation ? e->relation : "");
            if (notebook_add(&nb, e->statement, key, err) < 0) rc = -1;
        }
    }
    r->notebook_size = nb.n;
    if (rc == 0 && (c->method == EDIT_EREN || c->method == EDIT_ONE_STEP))
        rc = c->retriever == EREN_DENSE ? eren_index_dense(&x, &nb, m, tok, err) : eren_index_bm25(&x, &nb, err);
    eren_config ask = closed;
    ask.mode = c->method == EDIT_EREN ? EREN_TWO_STEP : c->method == EDIT_ONE_STEP ? EREN_ONE_STEP : EREN_CLOSED_BOOK;
    const double t0 = now_seconds();
    long fell = 0, asked = 0;
    for (int i = 0; rc == 0 && i < r->n; i++) {
        edit_item *it = &r->items[i];
        if (c->method == EDIT_UNEDITED) {
            it->output = strdup(it->unedited);
            char *qa = eren_fill(EREN_TEMPLATE_QA, NULL, it->question, NULL);
            if (!strcmp(it->group, "in_scope") && task == EREN_QA) rc = other_protocols(m, tok, qa, it, err);
            free(qa);
        } else {
            eren_answer a; /* weight edits: the edited model asked closed-book */
            if ((rc = eren_answer_question(weights ? &closed : &ask, &nb, &x, it->question, &a, err)) != 0) break;
            it->output = a.answer, a.answer = NULL;
            it->fell_back = a.fell_back, it->notes_used = a.notes_used;
            if (!strcmp(it->group, "in_scope") && task == EREN_QA) rc = other_protocols(m, tok, a.prompt, it, err);
            eren_answer_free(&a);
        }
        if (!it->output) rc = cpet_fail(err, "editing: out of memory");
        if (strcmp(it->group, "portability")) fell += it->fell_back, asked++;
    }
    r->seconds_per_question = r->n ? (now_seconds() - t0) / r->n : 0;
    int n_rewrite = 0; /* the statements' own prefixes, continued by the (edited) weights */
    for (int i = 0; rc == 0 && i < n; i++) {
        char *prefix = statement_prefix(&cases->cases[idx[i]]), *cont = NULL;
        if (!prefix) continue;
        rc = eren_model_read(&reader, prefix, &cont, err);
        const char *want = cases->cases[idx[i]].target_new;
        const size_t nw = strlen(want);
        if (rc == 0) r->rewrite += !strncmp(cont, want, nw) && (cont[nw] == 0 || !isalnum((unsigned char)cont[nw])), n_rewrite++;
        free(prefix), free(cont);
    }
    r->rewrite = n_rewrite ? r->rewrite / n_rewrite : NAN;
    for (size_t i = 0, off = 0; snapshot && i < (size_t)m->n_tensors; off += m->tensors[i].n, i++)
        memcpy(m->tensors[i].p, snapshot + off, m->tensors[i].n * sizeof(float));
    free(snapshot);
    double es = 0, rel = 0, gen = 0, bp = 0, port = 0, multi = 0, oos_acc = 0, un_acc = 0;
    int n_es = 0, n_rel = 0, n_gen = 0, n_bp = 0, n_port = 0, n_multi = 0;
    for (int i = 0; rc == 0 && i < r->n; i++) {
        edit_item *it = &r->items[i];
        it->correct = edit_answer_matches(it->output, it->expected);
        it->unchanged = edit_answer_matches(it->output, it->unedited);
        if (!strcmp(it->group, "in_scope")) {
            es += it->correct, n_es++;
            r->es_teacher_forced += it->tf_accuracy, r->es_rome_prob += it->new_beats_true;
            if (!strcmp(it->kind, "question")) rel += it->correct, n_rel++;
            else gen += it->correct, n_gen++;
        } else if (!strcmp(it->group, "out_of_scope")) {
            bp += it->unchanged, n_bp++;
            oos_acc += it->correct, un_acc += edit_answer_matches(it->unedited, it->expected);
            for (int k = 0; k < EDIT_OOS_KINDS; k++)
                if (!strcmp(it->kind, edit_oos_kinds[k])) r->bp_kind[k] += it->unchanged, r->n_kind[k]++;
        } else if (!strcmp(it->kind, "multi_edit")) {
            multi += it->correct, n_multi++;
        } else {
            port += it->correct, n_port++;
        }
    }
    r->es = n_es ? es / n_es : NAN, r->bp = n_bp ? bp / n_bp : NAN, r->eq = edit_eq(r->es, r->bp);
    r->es_teacher_forced = n_es ? r->es_teacher_forced / n_es : NAN, r->es_rome_prob = n_es ? r->es_rome_prob / n_es : NAN;
    if (task == EREN_FC) r->es_teacher_forced = r->es_rome_prob = NAN; /* a verdict is a label, not an object: neither protocol applies */
    r->reliability = n_rel ? rel / n_rel : NAN, r->generalization = n_gen ? gen / n_gen : NAN, r->portability = n_port ? port / n_port : NAN;
    r->multi_edit = n_multi ? multi / n_multi : NAN;
    r->oos_accuracy = n_bp ? oos_acc / n_bp : NAN, r->unedited_oos_accuracy = n_bp ? un_acc / n_bp : NAN;
    for (int k = 0; k < EDIT_OOS_KINDS; k++) r->bp_kind[k] = r->n_kind[k] ? r->bp_kind[k] / r->n_kind[k] : NAN;
    r->fallback_rate = asked ? (double)fell / asked : 0;
    eren_index_free(&x);
    notebook_free(&nb);
    free(idx);
    if (rc != 0) edit_run_result_free(r);
    return rc;
}
