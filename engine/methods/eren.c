#include "eren.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "generate.h"
#include "strbuf.h"

/* ---- templates ---- */

char *eren_fill(const char *tmpl, const char *context, const char *question, const char *options)
{
    static const char *const fields[] = {"{context}", "{question}", "{hypothesis}", "{statement}", "{options}"};
    const char *values[] = {context, question, question, question, options};
    strbuf b = {0};
    int rc = strbuf_put(&b, "", 0);
    for (const char *p = tmpl; rc == 0 && *p;) { /* one pass over the template: inserted text is not rescanned */
        int hit = -1;
        for (int f = 0; f < 5 && hit < 0; f++)
            if (!strncmp(p, fields[f], strlen(fields[f]))) hit = f;
        if (hit >= 0) {
            const char *v = values[hit] ? values[hit] : "";
            rc = strbuf_put(&b, v, strlen(v));
            p += strlen(fields[hit]);
        } else {
            rc = strbuf_put(&b, p, 1);
            p++;
        }
    }
    if (rc != 0) free(b.s);
    return rc == 0 ? b.s : NULL;
}

char *eren_join_notes(const char *const *texts, int n)
{
    strbuf b = {0};
    int rc = strbuf_put(&b, "", 0);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (i) rc = strbuf_put(&b, ".\n", 2);
        if (rc == 0) rc = strbuf_put(&b, texts[i], strlen(texts[i]));
    }
    if (rc == 0) rc = strbuf_put(&b, ".", 1);
    if (rc != 0) free(b.s);
    return rc == 0 ? b.s : NULL;
}

static int is_option(const char *output, const char *option)
{
    while (isspace((unsigned char)*output)) output++;
    size_t n = strlen(output);
    while (n && isspace((unsigned char)output[n - 1])) n--;
    return n == strlen(option) && !strncasecmp(output, option, n);
}

int eren_is_unanswerable(const char *output) { return is_option(output, EREN_UNANSWERABLE); }
int eren_is_impossible(const char *output) { return is_option(output, EREN_IMPOSSIBLE); }

char *eren_bool_qa_prompt(const char *claim)
{
    size_t n = strlen(claim);
    while (n && isspace((unsigned char)claim[n - 1])) n--;
    if (n && claim[n - 1] == '.') n--;
    char *statement = strndup(claim, n);
    char *p = statement ? eren_fill(EREN_TEMPLATE_BOOL_QA, NULL, statement, EREN_OPTIONS_BOOL_QA) : NULL;
    free(statement);
    return p;
}

int eren_retriever_parse(const char *s, eren_retriever *out)
{
    if (s && !strcmp(s, "bm25")) return *out = EREN_BM25, 0;
    if (s && !strcmp(s, "dense")) return *out = EREN_DENSE, 0;
    return -1;
}

/* ---- the notebook ---- */

void notebook_init(eren_notebook *nb) { memset(nb, 0, sizeof *nb); }

void notebook_free(eren_notebook *nb)
{
    for (int i = 0; i < nb->n; i++) free(nb->notes[i].text), free(nb->notes[i].key);
    free(nb->notes);
    memset(nb, 0, sizeof *nb);
}

/* surrounding whitespace and one trailing "." removed (EREN's edit_by_statements strips the period) */
static char *clean_note(const char *text)
{
    while (isspace((unsigned char)*text)) text++;
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1])) n--;
    if (n && text[n - 1] == '.') n--;
    while (n && isspace((unsigned char)text[n - 1])) n--;
    char *s = malloc(n + 1);
    if (s) memcpy(s, text, n), s[n] = 0;
    return s;
}

static int insert_note(eren_notebook *nb, char *text, const char *key, long added, int superseded, cpet_err *err)
{
    if (nb->n == nb->cap) {
        const int cap = nb->cap ? 2 * nb->cap : 16;
        eren_note *g = realloc(nb->notes, (size_t)cap * sizeof *g);
        if (!g) return free(text), cpet_fail(err, "notebook: out of memory");
        nb->notes = g, nb->cap = cap;
    }
    eren_note *note = &nb->notes[nb->n];
    note->text = text, note->key = key && *key ? strdup(key) : NULL, note->added = added, note->superseded = superseded;
    return nb->n++;
}

int notebook_add(eren_notebook *nb, const char *text, const char *key, cpet_err *err)
{
    char *t = clean_note(text ? text : "");
    if (!t) return cpet_fail(err, "notebook: out of memory");
    if (!*t) return free(t), cpet_fail(err, "notebook: an empty note");
    if (key && *key)
        for (int i = 0; i < nb->n; i++)
            if (!nb->notes[i].superseded && nb->notes[i].key && !strcmp(nb->notes[i].key, key)) nb->notes[i].superseded = 1;
    return insert_note(nb, t, key, ++nb->clock, 0, err);
}

int notebook_delete(eren_notebook *nb, int i, cpet_err *err)
{
    if (i < 0 || i >= nb->n) return cpet_fail(err, "notebook: no note %d (it holds %d)", i, nb->n);
    char *key = nb->notes[i].key;
    const int was_active = !nb->notes[i].superseded;
    free(nb->notes[i].text);
    memmove(nb->notes + i, nb->notes + i + 1, (size_t)(nb->n - i - 1) * sizeof *nb->notes);
    nb->n--;
    if (key && was_active) { /* the newest older note under the key speaks again */
        int best = -1;
        for (int j = 0; j < nb->n; j++)
            if (nb->notes[j].key && !strcmp(nb->notes[j].key, key) && (best < 0 || nb->notes[j].added > nb->notes[best].added)) best = j;
        if (best >= 0) nb->notes[best].superseded = 0;
    }
    free(key);
    return 0;
}

int notebook_active(const eren_notebook *nb)
{
    int n = 0;
    for (int i = 0; i < nb->n; i++) n += !nb->notes[i].superseded;
    return n;
}

int notebook_save(const eren_notebook *nb, const char *path, cpet_err *err)
{
    json_t *notes = json_array();
    for (int i = 0; i < nb->n; i++) {
        const eren_note *n = &nb->notes[i];
        json_array_append_new(notes, json_pack("{s:s, s:s?, s:I, s:b}", "text", n->text, "key", n->key, "added", (json_int_t)n->added,
                                               "superseded", n->superseded));
    }
    json_t *j = json_pack("{s:s, s:o, s:I}", "format", "cpet-notebook-1", "notes", notes, "clock", (json_int_t)nb->clock);
    const int rc = json_write_file(path, j, err);
    json_decref(j);
    return rc;
}

int notebook_load(eren_notebook *nb, const char *path, cpet_err *err)
{
    notebook_init(nb);
    json_t *j = json_read_file(path, err);
    if (!j) return -1;
    const json_t *notes = json_object_get(j, "notes"), *clock = json_object_get(j, "clock");
    int rc = json_is_array(notes) && json_is_integer(clock) ? 0 : cpet_fail(err, "%s: not a notebook (no 'notes' list and 'clock')", path);
    for (size_t i = 0; rc == 0 && i < json_array_size(notes); i++) {
        const json_t *n = json_array_get(notes, i), *text = json_object_get(n, "text"), *key = json_object_get(n, "key"),
                     *added = json_object_get(n, "added"), *sup = json_object_get(n, "superseded");
        if (json_is_null(key)) key = NULL; /* a note without a key (written as null) */
        if (!json_is_string(text) || !json_string_length(text) || (key && !json_is_string(key)) || !json_is_integer(added) || !json_is_boolean(sup)) {
            rc = cpet_fail(err, "%s: note %zu needs a non-empty 'text', a string or null 'key', an integer 'added' and a boolean 'superseded'", path, i);
            break;
        }
        char *t = strdup(json_string_value(text));
        if (!t || insert_note(nb, t, key ? json_string_value(key) : NULL, (long)json_integer_value(added), json_is_true(sup), err) < 0) rc = -1;
    }
    if (rc == 0) nb->clock = (long)json_integer_value(clock);
    json_decref(j);
    if (rc != 0) notebook_free(nb);
    return rc;
}

/* ---- retrieval ---- */

/* lowercased runs of letters and digits: calls f for each */
static int for_each_word(const char *s, int (*f)(void *, const char *), void *ctx)
{
    char w[128];
    while (*s) {
        while (*s && !isalnum((unsigned char)*s)) s++;
        int n = 0;
        while (*s && isalnum((unsigned char)*s)) {
            if (n < (int)sizeof w - 1) w[n++] = (char)tolower((unsigned char)*s);
            s++;
        }
        w[n] = 0;
        if (n && f(ctx, w) != 0) return -1;
    }
    return 0;
}

typedef struct {
    char **words;
    int n, cap;
} word_list;

static int collect(void *ctx, const char *w)
{
    word_list *l = ctx;
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 32;
        char **g = realloc(l->words, (size_t)cap * sizeof *g);
        if (!g) return -1;
        l->words = g, l->cap = cap;
    }
    return (l->words[l->n] = strdup(w)) ? (l->n++, 0) : -1;
}

static void word_list_free(word_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->words[i]);
    free(l->words);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int term_id(const eren_index *x, const char *w)
{
    const char *key = w;
    char **hit = bsearch(&key, x->terms, (size_t)x->n_terms, sizeof *x->terms, cmp_str);
    return hit ? (int)(hit - x->terms) : -1;
}

int eren_index_bm25(eren_index *x, const eren_notebook *nb, cpet_err *err)
{
    memset(x, 0, sizeof *x);
    x->kind = EREN_BM25, x->n = nb->n;
    word_list all = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < nb->n; i++) rc = for_each_word(nb->notes[i].text, collect, &all);
    if (rc == 0 && all.n) qsort(all.words, (size_t)all.n, sizeof *all.words, cmp_str);
    x->terms = malloc((size_t)(all.n + 1) * sizeof *x->terms);
    if (!x->terms) rc = -1;
    for (int i = 0; rc == 0 && i < all.n; i++) /* distinct */
        if (!x->n_terms || strcmp(x->terms[x->n_terms - 1], all.words[i])) {
            if (!(x->terms[x->n_terms] = strdup(all.words[i]))) rc = -1;
            else x->n_terms++;
        }
    word_list_free(&all);
    x->df = calloc((size_t)x->n_terms + 1, sizeof(int));
    x->doc_terms = calloc((size_t)nb->n + 1, sizeof(int *)), x->doc_tf = calloc((size_t)nb->n + 1, sizeof(int *));
    x->doc_n = calloc((size_t)nb->n + 1, sizeof(int)), x->doc_len = calloc((size_t)nb->n + 1, sizeof(int));
    if (!x->df || !x->doc_terms || !x->doc_tf || !x->doc_n || !x->doc_len) rc = -1;
    double total = 0;
    for (int i = 0; rc == 0 && i < nb->n; i++) {
        word_list words = {0};
        if ((rc = for_each_word(nb->notes[i].text, collect, &words)) != 0) break;
        x->doc_terms[i] = malloc((size_t)(words.n + 1) * sizeof(int)), x->doc_tf[i] = malloc((size_t)(words.n + 1) * sizeof(int));
        if (!x->doc_terms[i] || !x->doc_tf[i]) rc = -1;
        for (int w = 0; rc == 0 && w < words.n; w++) {
            const int t = term_id(x, words.words[w]);
            int k = 0;
            while (k < x->doc_n[i] && x->doc_terms[i][k] != t) k++;
            if (k == x->doc_n[i]) x->doc_terms[i][x->doc_n[i]] = t, x->doc_tf[i][x->doc_n[i]++] = 0, x->df[t]++;
            x->doc_tf[i][k]++;
        }
        x->doc_len[i] = words.n;
        total += words.n;
        word_list_free(&words);
    }
    x->avg_len = nb->n ? total / nb->n : 0;
    if (rc != 0) {
        eren_index_free(x);
        return cpet_fail(err, "retrieval: out of memory");
    }
    return 0;
}

int eren_embed(model *m, const tokenizer *tok, const char *text, float *out, cpet_err *err)
{
    int *seq = NULL, n = 0, off;
    if (tokenizer_encode_bos(tok, m->cfg.bos_token_id, text, strlen(text), &seq, &n, &off, err) != 0) return -1;
    const int T = n > m->rope_len ? m->rope_len : n; /* BOS + the text, cut to the window */
    if (T == 0) return free(seq), cpet_fail(err, "embedding: an empty text and no BOS");
    const int D = m->cfg.hidden_size;
    int rc = model_forward(m, seq, NULL, 1, T, err);
    free(seq);
    if (rc != 0) return -1;
    const float *xf = model_final_hidden(m);
    for (int d = 0; d < D; d++) out[d] = 0;
    const int from = T > off ? off : 0; /* the mean over the text's tokens, BOS left out */
    for (int t = from; t < T; t++)
        for (int d = 0; d < D; d++) out[d] += xf[(size_t)t * D + d];
    for (int d = 0; d < D; d++) out[d] /= (float)(T - from);
    return 0;
}

int eren_index_dense(eren_index *x, const eren_notebook *nb, model *m, const tokenizer *tok, cpet_err *err)
{
    memset(x, 0, sizeof *x);
    x->kind = EREN_DENSE, x->n = nb->n, x->dim = m->cfg.hidden_size, x->m = m, x->tok = tok;
    x->emb = malloc(((size_t)nb->n + 1) * x->dim * sizeof(float));
    if (!x->emb) return cpet_fail(err, "retrieval: out of memory");
    for (int i = 0; i < nb->n; i++)
        if (eren_embed(m, tok, nb->notes[i].text, x->emb + (size_t)i * x->dim, err) != 0) {
            eren_index_free(x);
            return -1;
        }
    return 0;
}

void eren_index_free(eren_index *x)
{
    for (int i = 0; i < x->n_terms; i++) free(x->terms[i]);
    for (int i = 0; x->doc_terms && i < x->n; i++) free(x->doc_terms[i]), free(x->doc_tf[i]);
    free(x->terms), free(x->df), free(x->doc_terms), free(x->doc_tf), free(x->doc_n), free(x->doc_len), free(x->emb);
    memset(x, 0, sizeof *x);
}

typedef struct {
    const eren_index *x;
    double *score;
    int *seen; /* query terms counted once each, as Lucene's BM25 over a bag of query words */
} bm25_query;

static int bm25_term(void *ctx, const char *w)
{
    bm25_query *q = ctx;
    const eren_index *x = q->x;
    const int t = term_id(x, w);
    if (t < 0 || q->seen[t]) return 0;
    q->seen[t] = 1;
    const double idf = log(1.0 + (x->n - x->df[t] + 0.5) / (x->df[t] + 0.5)), k1 = 1.2, b = 0.75;
    for (int i = 0; i < x->n; i++)
        for (int k = 0; k < x->doc_n[i]; k++)
            if (x->doc_terms[i][k] == t) {
                const double tf = x->doc_tf[i][k], norm = k1 * (1 - b + b * x->doc_len[i] / (x->avg_len > 0 ? x->avg_len : 1));
                q->score[i] += idf * tf * (k1 + 1) / (tf + norm);
            }
    return 0;
}

int eren_retrieve(const eren_index *x, const eren_notebook *nb, const char *query, int k, int *ids, double *scores, cpet_err *err)
{
    if (x->n != nb->n) return cpet_fail(err, "retrieval: the index holds %d notes, the notebook %d: rebuild it", x->n, nb->n);
    double *score = calloc((size_t)nb->n + 1, sizeof(double));
    int *order = malloc(((size_t)nb->n + 1) * sizeof(int)), rc = score && order ? 0 : cpet_fail(err, "retrieval: out of memory");
    if (rc == 0 && x->kind == EREN_BM25) {
        bm25_query q = {x, score, calloc((size_t)x->n_terms + 1, sizeof(int))};
        if (!q.seen || for_each_word(query, bm25_term, &q) != 0) rc = cpet_fail(err, "retrieval: out of memory");
        free(q.seen);
    } else if (rc == 0) {
        float *e = malloc((size_t)x->dim * sizeof(float));
        if (!e) rc = cpet_fail(err, "retrieval: out of memory");
        else if ((rc = eren_embed(x->m, x->tok, query, e, err)) == 0)
            for (int i = 0; i < nb->n; i++) {
                double s = 0;
                for (int d = 0; d < x->dim; d++) s += (double)e[d] * x->emb[(size_t)i * x->dim + d];
                score[i] = s;
            }
        free(e);
    }
    int n = 0;
    for (int i = 0; rc == 0 && i < nb->n; i++)
        if (!nb->notes[i].superseded) order[n++] = i;
    /* selection of the best k by repeated maximum: k is small; ties go to the newer note */
    const int want = k < n ? k : n;
    for (int j = 0; rc == 0 && j < want; j++) {
        int best = j;
        for (int i = j + 1; i < n; i++) {
            const int a = order[i], b = order[best];
            if (score[a] > score[b] || (score[a] == score[b] && nb->notes[a].added > nb->notes[b].added)) best = i;
        }
        const int t = order[j];
        order[j] = order[best], order[best] = t;
        ids[j] = order[j];
        if (scores) scores[j] = score[order[j]];
    }
    free(score), free(order);
    return rc == 0 ? want : -1;
}

/* ---- answering ---- */

void eren_answer_free(eren_answer *a)
{
    free(a->answer), free(a->first), free(a->prompt);
    memset(a, 0, sizeof *a);
}

/* the prompt of template with the first n retrieved notes as context */
static char *mrc_prompt(const char *tmpl, const char *options, const eren_notebook *nb, const int *ids, int n, const char *question)
{
    const char *texts[EREN_MAX_K];
    for (int i = 0; i < n; i++) texts[i] = nb->notes[ids[i]].text;
    char *context = eren_join_notes(texts, n);
    char *p = context ? eren_fill(tmpl, context, question, options) : NULL;
    free(context);
    return p;
}

/* The second retrieval round: the question with the best note's text, whose top notes follow that note
 * (duplicates dropped); returns how many ids there are. */
static int second_hop(const eren_index *x, const eren_notebook *nb, const char *question, int k, int *ids, cpet_err *err)
{
    const char *best = nb->notes[ids[0]].text;
    char *query = malloc(strlen(question) + strlen(best) + 2);
    if (!query) return cpet_fail(err, "eren: out of memory");
    sprintf(query, "%s %s", question, best);
    int more[EREN_MAX_K];
    const int got = eren_retrieve(x, nb, query, k, more, NULL, err);
    free(query);
    if (got < 0) return -1;
    int n = 1;
    for (int i = 0; i < got && n < k; i++)
        if (more[i] != ids[0]) ids[n++] = more[i];
    return n;
}

int eren_answer_question(const eren_config *c, const eren_notebook *nb, const eren_index *x, const char *question, eren_answer *out,
                         cpet_err *err)
{
    memset(out, 0, sizeof *out);
    const int k = c->top_k > 0 ? (c->top_k < EREN_MAX_K ? c->top_k : EREN_MAX_K) : EREN_TOP_K;
    char *prompt = NULL;
    const int fc = c->task == EREN_FC;
    if (c->mode != EREN_CLOSED_BOOK) {
        const char *tmpl = fc ? EREN_TEMPLATE_FC : c->mode == EREN_TWO_STEP ? EREN_TEMPLATE_MRC : EREN_TEMPLATE_MRC_ONE_STEP;
        const char *options = !fc ? NULL : c->mode == EREN_TWO_STEP ? EREN_OPTIONS_FC : EREN_OPTIONS_FC_ONE_STEP;
        int got = eren_retrieve(x, nb, question, k, out->retrieved, NULL, err);
        if (got < 0) return -1;
        if (c->hops >= 2 && got > 1 && (got = second_hop(x, nb, question, k, out->retrieved, err)) < 0) return -1;
        out->n_retrieved = got;
        /* the lowest-ranked notes leave first until the prompt fits the reader's window */
        for (int n = got; n >= 0; n--) {
            free(prompt);
            if (!(prompt = mrc_prompt(tmpl, options, nb, out->retrieved, n, question))) return cpet_fail(err, "eren: out of memory");
            const int len = c->max_prompt > 0 && c->measure ? c->measure(c->ctx, prompt) : 0;
            if (len <= c->max_prompt || c->max_prompt <= 0 || !c->measure) {
                out->notes_used = n;
                break;
            }
            if (n == 0) {
                free(prompt);
                return cpet_fail(err, "eren: the question '%.60s' takes %d tokens with the template and no notes; the reader's window "
                                      "leaves %d", question, len, c->max_prompt);
            }
        }
        int rc = c->read(c->ctx, prompt, &out->first, err);
        if (rc != 0) return free(prompt), -1;
        if (c->mode == EREN_ONE_STEP || !(fc ? eren_is_impossible(out->first) : eren_is_unanswerable(out->first))) {
            out->answer = strdup(out->first);
            out->prompt = prompt;
            return out->answer ? 0 : cpet_fail(err, "eren: out of memory");
        }
        free(prompt);
        out->fell_back = 1;
    }
    if (!(prompt = fc ? eren_bool_qa_prompt(question) : eren_fill(EREN_TEMPLATE_QA, NULL, question, NULL)))
        return cpet_fail(err, "eren: out of memory");
    if (c->max_prompt > 0 && c->measure && c->measure(c->ctx, prompt) > c->max_prompt) {
        const int len = c->measure(c->ctx, prompt);
        free(prompt);
        return cpet_fail(err, "eren: the question '%.60s' takes %d tokens closed-book; the reader's window leaves %d", question, len,
                         c->max_prompt);
    }
    const int rc = c->read(c->ctx, prompt, &out->answer, err);
    out->prompt = prompt;
    return rc;
}

int eren_answer_budget(const tokenizer *tok, eren_task task, int requested)
{
    char fixed[64];
    snprintf(fixed, sizeof fixed, " %s", task == EREN_FC ? EREN_IMPOSSIBLE : EREN_UNANSWERABLE);
    int *ids = NULL, n = 0;
    cpet_err err;
    if (tokenizer_encode(tok, fixed, strlen(fixed), &ids, &n, &err) != 0) n = 0;
    free(ids);
    return requested > n + 1 ? requested : n + 1;
}

int eren_model_measure(void *ctx, const char *prompt)
{
    eren_model_reader *r = ctx;
    int *ids = NULL, n = 0, off;
    cpet_err err;
    if (tokenizer_encode_bos(r->tok, r->m->cfg.bos_token_id, prompt, strlen(prompt), &ids, &n, &off, &err) != 0) return 1 << 30;
    free(ids);
    return n; /* BOS counted */
}

int eren_model_read(void *ctx, const char *prompt, char **output, cpet_err *err)
{
    eren_model_reader *r = ctx;
    int *in = NULL, np = 0, off; /* np: the prompt's length, BOS counted */
    *output = NULL;
    if (tokenizer_encode_bos(r->tok, r->m->cfg.bos_token_id, prompt, strlen(prompt), &in, &np, &off, err) != 0) return -1;
    int max_new = r->max_new > 0 ? r->max_new : 20;
    if (np + max_new > r->m->rope_len) max_new = r->m->rope_len - np; /* what the window leaves */
    if (max_new < 1) return free(in), cpet_fail(err, "reader: the prompt takes %d tokens, the whole window of %d", np, r->m->rope_len);
    int *seq = malloc((size_t)(np + max_new) * sizeof(int)), total = 0;
    if (!seq) return free(in), cpet_fail(err, "reader: out of memory");
    gen_config g = {max_new, 0.0f, 1.0f, r->m->cfg.eos_token_id, 0};
    int rc = generate(r->m, in, np, &g, seq, &total, err);
    free(in);
    int end = total;
    if (rc == 0 && end > np && seq[end - 1] == r->m->cfg.eos_token_id) end--;
    char *text = NULL;
    size_t len = 0;
    if (rc == 0) rc = tokenizer_decode(r->tok, seq + np, end - np, &text, &len, err);
    free(seq);
    if (rc != 0) return -1;
    char *clean = utf8_sanitize(text, len, &len); /* generated bytes may not be UTF-8 */
    free(text);
    if (!(text = clean)) return cpet_fail(err, "reader: out of memory");
    size_t a = 0; /* stripped */
    while (a < len && isspace((unsigned char)text[a])) a++;
    while (len > a && isspace((unsigned char)text[len - 1])) len--;
    memmove(text, text + a, len - a);
    text[len - a] = 0;
    *output = text;
    return 0;
}
