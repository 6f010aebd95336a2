#include "editing.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tensor.h"

/* Two paraphrases per relation, beside the world's own question (world_relations[r].question). */
static const struct {
    const char *relation, *q[2];
} paraphrases[] = {
    {"capital", {"Which city is the capital of {s}?", "What is the capital city of {s}?"}},
    {"language", {"What language do people speak in {s}?", "What is the official language of {s}?"}},
    {"flag_colour", {"Which colour is the flag of {s}?", "What colour does the flag of {s} have?"}},
    {"located_in", {"Which country is {s} in?", "In what country does {s} lie?"}},
    {"founded_year", {"In which year was {s} founded?", "When was the city of {s} built?"}},
    {"born_in", {"In which city was {s} born?", "What is the birthplace of {s}?"}},
    {"occupation", {"What is the profession of {s}?", "What does {s} work as?"}},
    {"employer", {"Which company does {s} work for?", "Who is the employer of {s}?"}},
    {"founded_by", {"Who started {s}?", "Who is the founder of {s}?"}},
    {"headquarters", {"Where does {s} have its main office?", "In which city is {s} headquartered?"}},
    {"industry", {"What business is {s} in?", "In which industry does {s} work?"}},
    {"flows_through", {"Which country does the {s} run through?", "Through which country does the river {s} flow?"}},
};
#define N_PARAPHRASED ((int)(sizeof paraphrases / sizeof *paraphrases))


const char *edit_question_template(int relation, int k)
{
    if (relation < 0 || relation >= world_n_relations || k < 0 || k >= EDIT_QUESTIONS) return NULL;
    if (k == 0) return world_relations[relation].question;
    for (int i = 0; i < N_PARAPHRASED; i++)
        if (!strcmp(paraphrases[i].relation, world_relations[relation].name)) return paraphrases[i].q[k - 1];
    return NULL;
}

/* ---- building ---- */

typedef struct {
    edit_question *q;
    int n;
} question_list;

int edit_question_push(edit_question **q, int *n, const char *question, const char *answer, const char *kind)
{
    edit_question *g = realloc(*q, (size_t)(*n + 1) * sizeof *g);
    if (!g) return -1;
    *q = g;
    edit_question *e = &g[*n];
    e->question = strdup(question ? question : ""), e->answer = strdup(answer ? answer : ""), e->kind = strdup(kind ? kind : "");
    e->with = NULL;
    if (!e->question || !e->answer || !e->kind) {
        free(e->question), free(e->answer), free(e->kind);
        return -1;
    }
    (*n)++;
    return 0;
}

static int add_question(question_list *l, const char *question, const char *answer, const char *kind)
{
    return edit_question_push(&l->q, &l->n, question, answer, kind);
}



/* up to k distinct subjects of e's type other than e, in a seeded order; same_value: only those whose
 * relation r has e's value (neighbours) */
static int other_subjects(const world *w, int e, int r, int k, cpet_rng *rng, int same_value, int *out)
{
    int n = 0, *pool = malloc((size_t)w->n_entities * sizeof(int));
    if (!pool) return -1;
    for (int i = 0; i < w->n_entities; i++) {
        if (i == e || w->entities[i].type != w->entities[e].type) continue;
        if (same_value && w->entities[i].value[r] != w->entities[e].value[r]) continue;
        pool[n++] = i;
    }
    int got = 0;
    for (int i = 0; i < n && got < k; i++) { /* a partial Fisher-Yates shuffle */
        const int j = i + rng_below(rng, n - i), x = pool[i];
        pool[i] = pool[j], pool[j] = x;
        out[got++] = pool[i];
    }
    free(pool);
    return got;
}

static char *dup(const char *s) { return strdup(s ? s : ""); }
static void free_questions(edit_question *q, int n);

/* Case id of fact (e, r): id_of[e * relations + r]; its new object new_values[id] (drawn before any case, so
 * a case can name another's). */
static int build_case(const world *w, int e, int r, int id, const int *id_of, const int *new_values, cpet_rng *rng, edit_case *c)
{
    const entity *ent = &w->entities[e];
    const relation_def *d = &world_relations[r];
    char buf[1100], q[512], vb[16], tb[16], ob[16];
    const int v_true = ent->value[r], v_new = new_values[id];
    const char *true_s = world_value_text(w, r, v_true, tb, sizeof tb), *new_s = world_value_text(w, r, v_new, vb, sizeof vb);
    world_fill(d->templates[0], ent->name, new_s, buf, sizeof buf);
    snprintf(q, sizeof q, "edit/%05d", id);
    c->id = dup(q), c->split = dup(split_names[ent->split]), c->subject = dup(ent->name), c->relation = dup(d->name);
    c->statement = dup(buf), c->target_new = dup(new_s), c->target_true = dup(true_s);
    question_list in = {0}, oos = {0}, port = {0};
    int rc = 0;
    for (int k = 0; rc == 0 && k < EDIT_QUESTIONS; k++) {
        world_fill(edit_question_template(r, k), ent->name, "", q, sizeof q);
        rc = add_question(&in, q, new_s, k == 0 ? "question" : "paraphrase");
    }
    /* same subject, every other relation */
    for (int r2 = 0; rc == 0 && r2 < world_n_relations; r2++) {
        if (r2 == r || ent->value[r2] < 0) continue;
        world_fill(world_relations[r2].question, ent->name, "", q, sizeof q);
        rc = add_question(&oos, q, world_value_text(w, r2, ent->value[r2], ob, sizeof ob), "same_subject");
    }
    /* the same question about others: two plain, one with this edit's statement prepended */
    int others[3], n_others = rc == 0 ? other_subjects(w, e, r, 3, rng, 0, others) : 0;
    for (int i = 0; rc == 0 && i < n_others; i++) {
        const entity *o = &w->entities[others[i]];
        world_fill(d->question, o->name, "", q, sizeof q);
        const char *ans = world_value_text(w, r, o->value[r], ob, sizeof ob);
        if (i < 2) {
            rc = add_question(&oos, q, ans, "same_relation");
        } else {
            snprintf(buf, sizeof buf, "%.500s. %s", c->statement, q);
            rc = add_question(&oos, buf, ans, "note_prefixed");
        }
    }
    /* neighbours: subjects that share the true object */
    int neigh[2], n_neigh = rc == 0 ? other_subjects(w, e, r, 2, rng, 1, neigh) : 0;
    for (int i = 0; rc == 0 && i < n_neigh; i++) {
        world_fill(d->question, w->entities[neigh[i]].name, "", q, sizeof q);
        rc = add_question(&oos, q, true_s, "neighbour");
    }
    /* the chains from this relation: each asked as two_hop (one edit) or multi_edit (with the edit of the new
     * object's fact), alternating over cases */
    int chain_of[8], multi[8], n_chains = 0;
    for (int i = 0; i < world_n_chains && n_chains < 8; i++) {
        const int r2 = world_relation_index(world_chains[i].second);
        if (strcmp(world_chains[i].first, d->name) != 0 || r2 < 0 || d->kind != VAL_ENTITY || w->entities[v_new].value[r2] < 0) continue;
        multi[n_chains] = (id + n_chains) % 2 == 1;
        chain_of[n_chains++] = i;
    }
    /* lexical overlap: a fact of the new object, when it is an entity (not one a multi-edit question edits) */
    if (rc == 0 && d->kind == VAL_ENTITY) {
        int rels[16], n_rels = 0;
        for (int r2 = 0; r2 < world_n_relations; r2++) {
            int edited = 0;
            for (int k = 0; k < n_chains; k++) edited |= multi[k] && world_relation_index(world_chains[chain_of[k]].second) == r2;
            if (w->entities[v_new].value[r2] >= 0 && !edited) rels[n_rels++] = r2;
        }
        if (n_rels) {
            const int r2 = rels[rng_below(rng, n_rels)];
            world_fill(world_relations[r2].question, w->entities[v_new].name, "", q, sizeof q);
            rc = add_question(&oos, q, world_value_text(w, r2, w->entities[v_new].value[r2], ob, sizeof ob), "lexical_overlap");
        }
    }
    for (int k = 0; rc == 0 && k < n_chains; k++) {
        const world_chain *ch = &world_chains[chain_of[k]];
        const int r2 = world_relation_index(ch->second);
        world_fill(ch->question, ent->name, "", q, sizeof q);
        if (!multi[k]) {
            rc = add_question(&port, q, world_value_text(w, r2, w->entities[v_new].value[r2], ob, sizeof ob), "two_hop");
            continue;
        }
        /* the second hop's own edit: the case of fact (v_new, r2), whose new object it knows by its id */
        const int other = id_of[(size_t)v_new * world_n_relations + r2];
        char with[32];
        snprintf(with, sizeof with, "edit/%05d", other);
        rc = add_question(&port, q, new_values[other] >= 0 ? world_value_text(w, r2, new_values[other], ob, sizeof ob) : "", "multi_edit");
        if (rc == 0 && !(port.q[port.n - 1].with = strdup(with))) rc = -1;
    }
    c->in_scope = in.q, c->n_in_scope = in.n;
    c->out_of_scope = oos.q, c->n_out_of_scope = oos.n;
    c->portability = port.q, c->n_portability = port.n;
    return rc == 0 && c->id && c->split && c->subject && c->relation && c->statement && c->target_new && c->target_true ? 0 : -1;
}

/* a claim: relation r of entity e with value v in template t, with a final period */
void editing_claim_text(const world *w, int e, int r, int v, int t, char *buf, size_t n)
{
    char vb[16];
    const relation_def *d = &world_relations[r];
    world_fill(d->templates[t % d->n_templates], w->entities[e].name, world_value_text(w, r, v, vb, sizeof vb), buf, n - 1);
    strcat(buf, ".");
}

/* the fact-checking form of the edit of (e, r) to v_new (editing_build_claims); c holds the question
 * form's fields, whose questions it replaces */
static int build_claims(const world *w, int e, int r, int v_new, cpet_rng *rng, edit_case *c)
{
    const entity *ent = &w->entities[e];
    const relation_def *d = &world_relations[r];
    const int v_true = ent->value[r];
    char buf[600];
    question_list in = {0}, oos = {0};
    int rc = 0;
    editing_claim_text(w, e, r, v_new, 0, buf, sizeof buf);
    rc = add_question(&in, buf, "yes", "question");
    /* paraphrases: another corpus template and both held-out ones */
    const int paraphrase_templates[1 + WORLD_HELDOUT_TEMPLATES] = {1, world_heldout_template(r, 0), world_heldout_template(r, 1)};
    for (int k = 0; rc == 0 && k < 1 + WORLD_HELDOUT_TEMPLATES; k++) {
        editing_claim_text(w, e, r, v_new, paraphrase_templates[k], buf, sizeof buf);
        rc = add_question(&in, buf, "yes", "paraphrase");
    }
    editing_claim_text(w, e, r, v_true, 0, buf, sizeof buf);
    if (rc == 0) rc = add_question(&in, buf, "no", "old_fact");
    int v_other = world_other_value(w, r, v_true, rng);
    while (v_other == v_new) v_other = world_other_value(w, r, v_true, rng);
    editing_claim_text(w, e, r, v_other, 1, buf, sizeof buf);
    if (rc == 0) rc = add_question(&in, buf, "no", "other_value");
    /* same subject: two other relations, the first stated truly, the second falsely */
    int rels[16], nr = 0;
    for (int r2 = 0; r2 < world_n_relations; r2++)
        if (r2 != r && ent->value[r2] >= 0) rels[nr++] = r2;
    rng_shuffle(rng, rels, nr);
    for (int i = 0; rc == 0 && i < 2 && i < nr; i++) {
        const int v = i == 0 ? ent->value[rels[i]] : world_other_value(w, rels[i], ent->value[rels[i]], rng);
        editing_claim_text(w, e, rels[i], v, rng_below(rng, world_relations[rels[i]].n_templates), buf, sizeof buf);
        rc = add_question(&oos, buf, i == 0 ? "yes" : "no", "same_subject");
    }
    /* the same relation of other subjects: one true, one false */
    int others[2], n_others = rc == 0 ? other_subjects(w, e, r, 2, rng, 0, others) : 0;
    for (int i = 0; rc == 0 && i < n_others; i++) {
        const int o = others[i], v = i == 0 ? w->entities[o].value[r] : world_other_value(w, r, w->entities[o].value[r], rng);
        editing_claim_text(w, o, r, v, rng_below(rng, d->n_templates), buf, sizeof buf);
        rc = add_question(&oos, buf, i == 0 ? "yes" : "no", "same_relation");
    }
    /* a neighbour stated with the true object it shares */
    int neigh[1], n_neigh = rc == 0 ? other_subjects(w, e, r, 1, rng, 1, neigh) : 0;
    for (int i = 0; rc == 0 && i < n_neigh; i++) {
        editing_claim_text(w, neigh[i], r, v_true, rng_below(rng, d->n_templates), buf, sizeof buf);
        rc = add_question(&oos, buf, "yes", "neighbour");
    }
    /* lexical overlap: a true fact of the new object */
    if (rc == 0 && d->kind == VAL_ENTITY) {
        int r2s[16], n2 = 0;
        for (int r2 = 0; r2 < world_n_relations; r2++)
            if (w->entities[v_new].value[r2] >= 0) r2s[n2++] = r2;
        if (n2) {
            const int r2 = r2s[rng_below(rng, n2)];
            editing_claim_text(w, v_new, r2, w->entities[v_new].value[r2], rng_below(rng, world_relations[r2].n_templates), buf, sizeof buf);
            rc = add_question(&oos, buf, "yes", "lexical_overlap");
        }
    }
    if (rc != 0) {
        free_questions(in.q, in.n), free_questions(oos.q, oos.n);
        return -1;
    }
    free_questions(c->in_scope, c->n_in_scope), free_questions(c->out_of_scope, c->n_out_of_scope), free_questions(c->portability, c->n_portability);
    c->in_scope = in.q, c->n_in_scope = in.n;
    c->out_of_scope = oos.q, c->n_out_of_scope = oos.n;
    c->portability = NULL, c->n_portability = 0;
    return 0;
}

static int build_set(const world *w, uint64_t seed, int fact_check, edit_set *out, cpet_err *err)
{
    memset(out, 0, sizeof *out);
    int n = 0;
    for (int e = 0; e < w->n_entities; e++)
        for (int r = 0; r < world_n_relations; r++) n += w->entities[e].value[r] >= 0;
    for (int r = 0; r < world_n_relations; r++)
        if (!edit_question_template(r, EDIT_QUESTIONS - 1)) return cpet_fail(err, "editing: relation %s has no paraphrases", world_relations[r].name);
    out->cases = calloc((size_t)n + 1, sizeof *out->cases);
    if (!out->cases) return cpet_fail(err, "editing: out of memory");
    out->fact_check = fact_check;
    cpet_rng rng, claims_rng; /* the claims draw from their own stream: the question form stays as it is */
    rng_seed(&rng, seed * 0x2545f4914f6cdd1dull + 99);
    rng_seed(&claims_rng, seed * 0x2545f4914f6cdd1dull + 101);
    int *id_of = malloc((size_t)w->n_entities * world_n_relations * sizeof(int)), *new_values = malloc(((size_t)n + 1) * sizeof(int));
    if (!id_of || !new_values) {
        free(id_of), free(new_values), free(out->cases);
        out->cases = NULL;
        return cpet_fail(err, "editing: out of memory");
    }
    for (int e = 0, id = 0; e < w->n_entities; e++)
        for (int r = 0; r < world_n_relations; r++) {
            id_of[(size_t)e * world_n_relations + r] = w->entities[e].value[r] >= 0 ? id : -1;
            if (w->entities[e].value[r] >= 0) new_values[id++] = world_other_value(w, r, w->entities[e].value[r], &rng);
        }
    int rc = 0;
    for (int e = 0; rc == 0 && e < w->n_entities; e++)
        for (int r = 0; rc == 0 && r < world_n_relations; r++) {
            if (w->entities[e].value[r] < 0) continue;
            const int id = out->n;
            edit_case *c = &out->cases[out->n++];
            if (build_case(w, e, r, id, id_of, new_values, &rng, c) != 0 ||
                (fact_check && build_claims(w, e, r, new_values[id], &claims_rng, c) != 0))
                rc = -1;
        }
    free(id_of), free(new_values);
    if (rc != 0) {
        edit_set_free(out);
        return cpet_fail(err, "editing: out of memory");
    }
    return 0;
}

int editing_build(const world *w, uint64_t seed, edit_set *out, cpet_err *err) { return build_set(w, seed, 0, out, err); }
int editing_build_claims(const world *w, uint64_t seed, edit_set *out, cpet_err *err) { return build_set(w, seed, 1, out, err); }

static void free_questions(edit_question *q, int n)
{
    for (int i = 0; i < n; i++) free(q[i].question), free(q[i].answer), free(q[i].kind), free(q[i].with);
    free(q);
}

void edit_set_free(edit_set *s)
{
    for (int i = 0; i < s->n; i++) {
        edit_case *c = &s->cases[i];
        free(c->id), free(c->split), free(c->subject), free(c->relation), free(c->statement), free(c->target_new), free(c->target_true);
        free_questions(c->in_scope, c->n_in_scope);
        free_questions(c->out_of_scope, c->n_out_of_scope);
        free_questions(c->portability, c->n_portability);
    }
    free(s->cases);
    memset(s, 0, sizeof *s);
}

/* ---- the file ---- */

static json_t *questions_json(const edit_question *q, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "question", q[i].question, "answer", q[i].answer, "kind", q[i].kind);
        if (o && q[i].with) json_object_set_new(o, "with", json_string(q[i].with));
        json_array_append_new(a, o);
    }
    return a;
}

int editing_write(const edit_set *s, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    for (int i = 0; i < s->n; i++) {
        const edit_case *c = &s->cases[i];
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", c->id, "split", c->split, "subject", c->subject,
                              "relation", c->relation, "statement", c->statement, "target_new", c->target_new, "target_true",
                              c->target_true, "in_scope", questions_json(c->in_scope, c->n_in_scope), "out_of_scope",
                              questions_json(c->out_of_scope, c->n_out_of_scope), "portability",
                              questions_json(c->portability, c->n_portability));
        if (j && s->fact_check) json_object_set_new(j, "task", json_string("fact_check"));
        char *line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
        json_decref(j);
        if (!line) {
            atomic_abort(&af);
            return cpet_fail(err, "%s: out of memory", path);
        }
        fprintf(af.fp, "%s\n", line);
        free(line);
    }
    return atomic_commit(&af, err);
}

static char *string_field(const json_t *o, const char *key, int required_nonempty, const char *path, int line, cpet_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return cpet_fail(err, "%s:%d: '%s' is missing or not a string", path, line, key), NULL;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (required_nonempty && n == 0) return cpet_fail(err, "%s:%d: '%s' is empty", path, line, key), NULL;
    return strdup(s);
}

static int read_questions(const json_t *o, const char *key, edit_question **out, int *n_out, const char *path, int line, cpet_err *err)
{
    const json_t *a = json_object_get(o, key);
    *out = NULL, *n_out = 0;
    if (!a) return 0;
    if (!json_is_array(a)) return cpet_fail(err, "%s:%d: '%s' is not a list", path, line, key);
    question_list l = {0};
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *q = json_array_get(a, i), *qs = json_object_get(q, "question"), *ans = json_object_get(q, "answer"),
                     *kind = json_object_get(q, "kind");
        if (!json_is_string(qs) || !json_string_length(qs) || !json_is_string(ans)) {
            free_questions(l.q, l.n);
            return cpet_fail(err, "%s:%d: %s[%zu] needs a non-empty 'question' and an 'answer'", path, line, key, i);
        }
        const json_t *with = json_object_get(q, "with");
        if (with && (!json_is_string(with) || !json_string_length(with))) {
            free_questions(l.q, l.n);
            return cpet_fail(err, "%s:%d: %s[%zu]: 'with' must name an edit id", path, line, key, i);
        }
        if (add_question(&l, json_string_value(qs), json_string_value(ans), json_is_string(kind) ? json_string_value(kind) : "") != 0 ||
            (with && !(l.q[l.n - 1].with = strdup(json_string_value(with))))) {
            free_questions(l.q, l.n);
            return cpet_fail(err, "%s: out of memory", path);
        }
    }
    *out = l.q, *n_out = l.n;
    return 0;
}

int editing_read(edit_set *s, const char *path, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return cpet_fail(err, "%s: cannot read", path);
    int cap = 0, line = 0, rc = 0;
    for (char *p = text, *nl; rc == 0 && p < text + len; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) nl = text + len;
        *nl = 0;
        line++;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        json_error_t je;
        json_t *o = json_loads(p, 0, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            rc = cpet_fail(err, "%s:%d: not a JSON object (%s)", path, line, o ? "another JSON value" : je.text);
            break;
        }
        if (s->n == cap) {
            cap = cap ? 2 * cap : 64;
            edit_case *grown = realloc(s->cases, (size_t)cap * sizeof *grown);
            if (!grown) {
                json_decref(o);
                rc = cpet_fail(err, "%s: out of memory", path);
                break;
            }
            s->cases = grown;
        }
        edit_case *c = &s->cases[s->n];
        memset(c, 0, sizeof *c);
        s->n++; /* counted now so that a half-read case is freed with the set */
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "line%d", line);
        const json_t *id = json_object_get(o, "id"), *split = json_object_get(o, "split"), *task = json_object_get(o, "task");
        const int fc = json_is_string(task) && !strcmp(json_string_value(task), "fact_check");
        if (task && !fc && !(json_is_string(task) && !strcmp(json_string_value(task), "qa"))) {
            json_decref(o);
            rc = cpet_fail(err, "%s:%d: 'task' is \"qa\" or \"fact_check\"", path, line);
            break;
        }
        if (s->n > 1 && fc != s->fact_check) {
            json_decref(o);
            rc = cpet_fail(err, "%s:%d: a file is all questions or all fact checking (claims); this line differs from line 1", path, line);
            break;
        }
        s->fact_check = fc;
        c->id = strdup(json_is_string(id) ? json_string_value(id) : idbuf);
        c->split = strdup(json_is_string(split) ? json_string_value(split) : "test");
        if (!(c->statement = string_field(o, "statement", 1, path, line, err)) || !(c->target_new = string_field(o, "target_new", 1, path, line, err)) ||
            !(c->subject = string_field(o, "subject", 0, path, line, err)) ||
            read_questions(o, "in_scope", &c->in_scope, &c->n_in_scope, path, line, err) != 0 ||
            read_questions(o, "out_of_scope", &c->out_of_scope, &c->n_out_of_scope, path, line, err) != 0 ||
            read_questions(o, "portability", &c->portability, &c->n_portability, path, line, err) != 0)
            rc = -1;
        const json_t *rel = json_object_get(o, "relation"), *tt = json_object_get(o, "target_true");
        if (rc == 0) {
            c->relation = strdup(json_is_string(rel) ? json_string_value(rel) : "");
            c->target_true = strdup(json_is_string(tt) ? json_string_value(tt) : "");
        }
        json_decref(o);
    }
    free(text);
    if (rc == 0 && s->n == 0) rc = cpet_fail(err, "%s: no edits", path);
    for (int i = 0; rc == 0 && i < s->n; i++) /* a question's "with" names an edit of this file */
        for (int k = 0; rc == 0 && k < s->cases[i].n_portability; k++)
            if (s->cases[i].portability[k].with && edit_set_find(s, s->cases[i].portability[k].with) < 0)
                rc = cpet_fail(err, "%s: edit %s: portability[%d] is asked with edit '%s', which the file lacks", path, s->cases[i].id, k,
                               s->cases[i].portability[k].with);
    if (rc != 0) edit_set_free(s);
    return rc;
}

int edit_set_find(const edit_set *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->cases[i].id, id)) return i;
    return -1;
}
