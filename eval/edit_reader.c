/* EREN's reader: its instruction-tuning examples, built from the synthetic world's facts in EREN's own
 * prompt formats (so it sits above both the world and the method). */
#include "edit_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/eren.h"
#include "tensor.h"

typedef struct {
    int e, r, v; /* a statement of relation r of entity e with value v */
} fact_note;

static void note_text(const world *w, fact_note f, char *buf, size_t n)
{
    char vb[16];
    world_fill(world_relations[f.r].templates[0], w->entities[f.e].name, world_value_text(w, f.r, f.v, vb, sizeof vb), buf, n);
}

/* k - 1 (or k) hard distractors for the fact (e, r): never a statement of (e, r) itself */
static int distractors(const world *w, int e, int r, int k, cpet_rng *rng, fact_note *out)
{
    int n = 0, guard = 0;
    while (n < k && guard++ < 1000) {
        fact_note f;
        const int kind = rng_below(rng, 3);
        if (kind == 0) { /* the same subject, another relation */
            int rels[16], nr = 0;
            for (int r2 = 0; r2 < world_n_relations; r2++)
                if (r2 != r && w->entities[e].value[r2] >= 0) rels[nr++] = r2;
            if (!nr) continue;
            f.e = e, f.r = rels[rng_below(rng, nr)];
        } else { /* the same relation (kind 1) or any fact (kind 2) of another subject */
            f.e = rng_below(rng, w->n_entities);
            if (f.e == e) continue;
            if (kind == 1) {
                if (w->entities[f.e].type != w->entities[e].type) continue;
                f.r = r;
            } else {
                int rels[16], nr = 0;
                for (int r2 = 0; r2 < world_n_relations; r2++)
                    if (w->entities[f.e].value[r2] >= 0) rels[nr++] = r2;
                if (!nr) continue;
                f.r = rels[rng_below(rng, nr)];
            }
        }
        f.v = w->entities[f.e].value[f.r];
        if (rng_below(rng, 2)) f.v = world_other_value(w, f.r, f.v, rng); /* an edit of it */
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= out[i].e == f.e && out[i].r == f.r;
        if (!dup) out[n++] = f;
    }
    return n;
}

/* the MRC-style prompt over notes[0..n), dropping distractors from the end until it fits; the note at
 * keep_at (-1: none) always stays */
static char *fitted_prompt(const world *w, const char *tmpl, const char *options, const fact_note *notes, int n, int keep_at,
                           const char *question, editing_measure measure, void *ctx, int max_prompt)
{
    char texts[EREN_MAX_K][256];
    const char *ptr[EREN_MAX_K];
    for (int drop = 0; drop <= n - (keep_at >= 0); drop++) {
        int m = 0;
        for (int i = 0; i < n && i < EREN_MAX_K; i++) {
            int later_distractors = 0; /* distractors after i: the last `drop` of them leave */
            for (int j = i + 1; j < n; j++) later_distractors += j != keep_at;
            if (i != keep_at && later_distractors < drop) continue;
            note_text(w, notes[i], texts[m], sizeof texts[m]);
            ptr[m] = texts[m];
            m++;
        }
        char *context = eren_join_notes(ptr, m), *p = context ? eren_fill(tmpl, context, question, options) : NULL;
        free(context);
        if (!p) return NULL;
        if (!measure || max_prompt <= 0 || measure(ctx, p) <= max_prompt) return p;
        free(p);
    }
    return NULL;
}

static void add_example(task_set *out, const char *kind, int id, const entity *ent, const relation_def *d, char *prompt, const char *answer)
{
    char idb[64], ans[128];
    snprintf(idb, sizeof idb, "reader/%s/%05d", kind, id);
    snprintf(ans, sizeof ans, " %s", answer);
    char *choices[1] = {ans};
    task_example ex = {idb, (char *)kind, (char *)split_names[ent->split], prompt, (char *)ent->name, (char *)d->name, choices, 1, 0};
    tasks_add(out, &ex);
}

int editing_reader_examples(const world *w, int split, uint64_t seed, int k_min, int k, int reps, editing_measure measure, void *ctx,
                            int max_prompt, task_set *out, cpet_err *err)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > EREN_MAX_K) return cpet_fail(err, "reader examples: %d notes per context (1..%d)", k, EREN_MAX_K);
    if (k_min < 1 || k_min > k) return cpet_fail(err, "reader examples: at least %d notes of at most %d", k_min, k);
    cpet_rng rng;
    rng_seed(&rng, seed * 0x9e3779b97f4a7c15ull + 5);
    int id = 0;
    char q[512], vb[16];
    for (int e = 0; e < w->n_entities; e++) {
        const entity *ent = &w->entities[e];
        if (ent->split != split) continue;
        for (int r = 0; r < world_n_relations; r++) {
            if (ent->value[r] < 0) continue;
            const relation_def *d = &world_relations[r];
            for (int rep = 0; rep < (reps > 0 ? reps : 1); rep++) {
            world_fill(edit_question_template(r, rng_below(&rng, EDIT_QUESTIONS)), ent->name, "", q, sizeof q);
            const int kk = k_min < k ? k_min + rng_below(&rng, k - k_min + 1) : k; /* no draw at a fixed k */
            /* read: the stated object, a counterfactual three times in four (the note wins over memory), at a
             * random rank among distractors */
            fact_note notes[EREN_MAX_K];
            const int n_dis = distractors(w, e, r, kk - 1, &rng, notes + 1);
            const int at = rng_below(&rng, 2) ? 0 : rng_below(&rng, n_dis + 1); /* first half the time, as retrieval ranks it */
            fact_note rel = {e, r, ent->value[r]};
            if (rng_below(&rng, 4)) rel.v = world_other_value(w, r, rel.v, &rng);
            notes[0] = notes[at], notes[at] = rel;
            const char *answer = world_value_text(w, r, rel.v, vb, sizeof vb);
            char *p = fitted_prompt(w, EREN_TEMPLATE_MRC, NULL, notes, n_dis + 1, at, q, measure, ctx, max_prompt);
            char *p1 = fitted_prompt(w, EREN_TEMPLATE_MRC_ONE_STEP, NULL, notes, n_dis + 1, at, q, measure, ctx, max_prompt);
            if (!p || !p1) {
                free(p), free(p1);
                tasks_free(out);
                return cpet_fail(err, "reader examples: '%s' does not fit %d tokens with its note", q, max_prompt);
            }
            add_example(out, "read", id, ent, d, p, answer);
            add_example(out, "one_step", id, ent, d, p1, answer);
            free(p), free(p1);
            /* fact checking over the same notes: a claim of the note's object or of another, half the time each */
            char claim[600];
            const int supported = rng_below(&rng, 2), t = rng_below(&rng, world_corpus_templates(r)); /* held-out phrasings stay for the scoring */
            editing_claim_text(w, e, r, supported ? rel.v : world_other_value(w, r, rel.v, &rng), t, claim, sizeof claim);
            p = fitted_prompt(w, EREN_TEMPLATE_FC, EREN_OPTIONS_FC, notes, n_dis + 1, at, claim, measure, ctx, max_prompt);
            p1 = fitted_prompt(w, EREN_TEMPLATE_FC, EREN_OPTIONS_FC_ONE_STEP, notes, n_dis + 1, at, claim, measure, ctx, max_prompt);
            if (p) add_example(out, "fc_read", id, ent, d, p, supported ? "Yes" : "No");
            if (p1) add_example(out, "fc_one_step", id, ent, d, p1, supported ? "Yes" : "No");
            free(p), free(p1);
            /* decline: nothing states (s, r) */
            const int n_dec = distractors(w, e, r, kk, &rng, notes);
            if ((p = fitted_prompt(w, EREN_TEMPLATE_MRC, NULL, notes, n_dec, -1, q, measure, ctx, max_prompt))) {
                add_example(out, "decline", id, ent, d, p, EREN_UNANSWERABLE);
                free(p);
            }
            if ((p = fitted_prompt(w, EREN_TEMPLATE_FC, EREN_OPTIONS_FC, notes, n_dec, -1, claim, measure, ctx, max_prompt))) {
                add_example(out, "fc_decline", id, ent, d, p, EREN_IMPOSSIBLE);
                free(p);
            }
            /* closed-book fact checking: the world's fact or a false one */
            const int truly = rng_below(&rng, 2);
            editing_claim_text(w, e, r, truly ? ent->value[r] : world_other_value(w, r, ent->value[r], &rng), rng_below(&rng, world_corpus_templates(r)), claim, sizeof claim);
            if ((p = eren_bool_qa_prompt(claim))) {
                add_example(out, "fc_closed_book", id, ent, d, p, truly ? "yes" : "no");
                free(p);
            }
            /* closed book: the world's fact */
            if ((p = eren_fill(EREN_TEMPLATE_QA, NULL, q, NULL))) {
                add_example(out, "closed_book", id, ent, d, p, world_value_text(w, r, ent->value[r], vb, sizeof vb));
                free(p);
            }
            id++;
            }
        }
    }
    return 0;
}
