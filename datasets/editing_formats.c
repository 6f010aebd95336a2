/* Readers for the editing files users hold, into edit_set (datasets/editing.h): EREN's CounterFact-Hard,
 * FEVER and HotpotQA files (thunlp/EREN data/), ROME's CounterFact and MEND's zsRE. Each mapping is documented
 * in datasets/README.md; what a format lacks stays empty. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "editing.h"
#include "fileio.h"
#include "strbuf.h"

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }


/* "{}" in a ROME prompt filled with the subject */
static char *fill_subject(const char *prompt, const char *subject)
{
    const char *at = strstr(prompt, "{}");
    if (!at) return strdup(prompt);
    const size_t a = (size_t)(at - prompt), ns = strlen(subject), rest = strlen(at + 2);
    char *s = malloc(a + ns + rest + 1);
    if (!s) return NULL;
    memcpy(s, prompt, a), memcpy(s + a, subject, ns), memcpy(s + a + ns, at + 2, rest + 1);
    return s;
}

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* EREN's CounterFact-Hard: edit_scope [[q, new]] (0 to 3 of them: an edit may have none), edit_scope_true_ans, unrelated{neighbor_subj,
 * same_subj} with unrelated_true_ans. Where an answer list's length differs from its questions' (same_subj
 * in 947 of the 1,024 records) the answers cannot be paired by index: the questions are kept with no
 * answer (BP compares outputs with the unedited model's, which needs none) and counted. */
static int read_cfh(const json_t *r, edit_case *c, int *unaligned)
{
    const json_t *scope = json_object_get(r, "edit_scope"), *truth = json_object_get(r, "edit_scope_true_ans");
    c->statement = dup_or_empty(str(r, "edit_statement"));
    c->subject = dup_or_empty(str(r, "subject_name"));
    c->relation = strdup("");
    c->target_new = dup_or_empty(json_string_value(json_array_get(json_array_get(scope, 0), 1)));
    c->target_true = dup_or_empty(json_string_value(json_array_get(truth, 0)));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(scope); i++)
        rc = edit_question_push(&c->in_scope, &c->n_in_scope, json_string_value(json_array_get(json_array_get(scope, i), 0)),
                  json_string_value(json_array_get(json_array_get(scope, i), 1)), i == 0 ? "question" : "paraphrase");
    static const char *const groups[2][2] = {{"neighbor_subj", "neighbour"}, {"same_subj", "same_subject"}};
    for (int g = 0; rc == 0 && g < 2; g++) {
        const json_t *qs = json_object_get(json_object_get(r, "unrelated"), groups[g][0]),
                     *as = json_object_get(json_object_get(r, "unrelated_true_ans"), groups[g][0]);
        const int aligned = json_array_size(qs) == json_array_size(as);
        if (!aligned && json_array_size(qs)) (*unaligned)++;
        for (size_t i = 0; rc == 0 && i < json_array_size(qs); i++)
            rc = edit_question_push(&c->out_of_scope, &c->n_out_of_scope, json_string_value(json_array_get(qs, i)),
                      aligned ? json_string_value(json_array_get(as, i)) : "", groups[g][1]);
    }
    return rc;
}

/* EREN's HotpotQA: edit_statement is a list of paragraphs (joined with a space), edit_scope [[q, a]] */
static int read_hotpot(const json_t *r, edit_case *c)
{
    const json_t *paras = json_object_get(r, "edit_statement"), *scope = json_object_get(r, "edit_scope");
    strbuf s = {0};
    if (strbuf_put(&s, "", 0) != 0) return -1;
    for (size_t i = 0; i < json_array_size(paras); i++)
        if ((i && strbuf_puts(&s, " ") != 0) || strbuf_puts(&s, json_string_value(json_array_get(paras, i)) ?: "") != 0) return free(s.s), -1;
    c->statement = s.s;
    c->subject = strdup(""), c->relation = dup_or_empty(str(r, "type"));
    c->target_new = dup_or_empty(json_string_value(json_array_get(json_array_get(scope, 0), 1)));
    c->target_true = strdup("");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(scope); i++)
        rc = edit_question_push(&c->in_scope, &c->n_in_scope, json_string_value(json_array_get(json_array_get(scope, i), 0)),
                  json_string_value(json_array_get(json_array_get(scope, i), 1)), "question");
    return rc;
}

/* EREN's FEVER (and FEVER-Clean): edit_statement, edit_scope [[claim, "yes" | "no"]] (the label once edited),
 * edit_scope_true_ans (before). A fact-checking set: the claims are the questions. */
static int read_fever(const json_t *r, edit_case *c)
{
    const json_t *scope = json_object_get(r, "edit_scope");
    c->statement = dup_or_empty(str(r, "edit_statement"));
    c->subject = strdup(""), c->relation = strdup(""), c->target_new = strdup(""), c->target_true = strdup("");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(scope); i++)
        rc = edit_question_push(&c->in_scope, &c->n_in_scope, json_string_value(json_array_get(json_array_get(scope, i), 0)),
                  json_string_value(json_array_get(json_array_get(scope, i), 1)), i == 0 ? "question" : "paraphrase");
    return rc;
}

/* EREN's test script's split (FEVER, HotpotQA): a second-half record's questions, asked as out-of-scope
 * questions of edit c with the answers they had before any edit (FEVER: edit_scope_true_ans; HotpotQA has
 * none apart from its edit_scope) */
static int add_unrelated(const json_t *r, edit_case *c)
{
    const json_t *scope = json_object_get(r, "edit_scope"), *truth = json_object_get(r, "edit_scope_true_ans");
    const int paired = json_array_size(truth) == json_array_size(scope);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(scope); i++) {
        const char *q = json_string_value(json_array_get(json_array_get(scope, i), 0));
        const char *a = paired ? json_string_value(json_array_get(truth, i)) : json_string_value(json_array_get(json_array_get(scope, i), 1));
        rc = edit_question_push(&c->out_of_scope, &c->n_out_of_scope, q, a, "unrelated");
    }
    return rc;
}

/* ROME's CounterFact: requested_rewrite{prompt "{}", subject, relation_id, target_new{str}, target_true{str}},
 * paraphrase_prompts, neighborhood_prompts (their answer: the true target). The statement is the filled
 * prompt and the new target; the prompts stay cloze prompts (the reader sees them as questions). */
static int read_counterfact(const json_t *r, edit_case *c)
{
    const json_t *rw = json_object_get(r, "requested_rewrite");
    const char *subject = str(rw, "subject") ?: "", *tn = str(json_object_get(rw, "target_new"), "str") ?: "",
               *tt = str(json_object_get(rw, "target_true"), "str") ?: "";
    char *prompt = fill_subject(str(rw, "prompt") ?: "", subject);
    if (!prompt) return -1;
    c->statement = malloc(strlen(prompt) + strlen(tn) + 2);
    if (c->statement) sprintf(c->statement, "%s %s", prompt, tn);
    c->subject = strdup(subject), c->relation = dup_or_empty(str(rw, "relation_id"));
    c->target_new = strdup(tn), c->target_true = strdup(tt);
    int rc = c->statement ? edit_question_push(&c->in_scope, &c->n_in_scope, prompt, tn, "question") : -1;
    free(prompt);
    const json_t *para = json_object_get(r, "paraphrase_prompts"), *neigh = json_object_get(r, "neighborhood_prompts");
    for (size_t i = 0; rc == 0 && i < json_array_size(para); i++) rc = edit_question_push(&c->in_scope, &c->n_in_scope, json_string_value(json_array_get(para, i)), tn, "paraphrase");
    for (size_t i = 0; rc == 0 && i < json_array_size(neigh); i++)
        rc = edit_question_push(&c->out_of_scope, &c->n_out_of_scope, json_string_value(json_array_get(neigh, i)), tt, "neighbour");
    return rc;
}

/* MEND's zsRE: src (the question), alt (the new answer), answers[0] (the old), rephrase, loc ("nq question:
 * ..."), loc_ans; portability {"New Question", "New Answer"} where present. The statement is the question
 * and its new answer ("{src} {alt}"): zsRE has no statements. */
static int read_zsre(const json_t *r, edit_case *c)
{
    const char *src = str(r, "src") ?: "", *alt = str(r, "alt") ?: "", *loc = str(r, "loc") ?: "";
    c->statement = malloc(strlen(src) + strlen(alt) + 2);
    if (!c->statement) return -1;
    sprintf(c->statement, "%s %s", src, alt);
    c->subject = dup_or_empty(str(r, "subject")), c->relation = strdup("");
    c->target_new = strdup(alt), c->target_true = dup_or_empty(json_string_value(json_array_get(json_object_get(r, "answers"), 0)));
    int rc = edit_question_push(&c->in_scope, &c->n_in_scope, src, alt, "question");
    if (rc == 0 && str(r, "rephrase")) rc = edit_question_push(&c->in_scope, &c->n_in_scope, str(r, "rephrase"), alt, "paraphrase");
    if (!strncmp(loc, "nq question: ", 13)) loc += 13;
    if (rc == 0 && *loc) rc = edit_question_push(&c->out_of_scope, &c->n_out_of_scope, loc, str(r, "loc_ans") ?: "", "unrelated");
    const json_t *port = json_object_get(r, "portability");
    if (rc == 0 && str(port, "New Question"))
        rc = edit_question_push(&c->portability, &c->n_portability, str(port, "New Question"), str(port, "New Answer") ?: "", "two_hop");
    return rc;
}

static const char *detect_format(const json_t *first)
{
    if (json_object_get(first, "requested_rewrite")) return "counterfact";
    if (json_object_get(first, "src") && json_object_get(first, "alt")) return "zsre";
    if (json_is_array(json_object_get(first, "edit_statement"))) return "eren-hotpot";
    if (json_object_get(first, "unrelated")) return "eren-cfh";
    if (json_object_get(first, "edit_scope")) return "eren-fever";
    return NULL;
}

int editing_read_any(edit_set *s, const char *path, const char *format, int *unaligned, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    *unaligned = 0;
    if (format && !strcmp(format, "cpet")) return editing_read(s, path, err);
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return cpet_fail(err, "%s: cannot read", path);
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    const int is_array = i < len && text[i] == '[';
    free(text);
    if (!is_array) {
        if (format && strcmp(format, "auto")) return cpet_fail(err, "%s: a %s file is one JSON list", path, format);
        return editing_read(s, path, err); /* JSONL: ours */
    }
    json_t *root = json_read_file(path, err);
    if (!root) return -1;
    const char *fmt = format && strcmp(format, "auto") ? format : detect_format(json_array_get(root, 0));
    int rc = 0;
    if (!fmt) rc = cpet_fail(err, "%s: not a format cpet reads (EREN cfh / fever / hotpot, ROME CounterFact, MEND zsRE)", path);
    else if (strcmp(fmt, "eren-cfh") && strcmp(fmt, "eren-hotpot") && strcmp(fmt, "eren-fever") && strcmp(fmt, "counterfact") && strcmp(fmt, "zsre"))
        rc = cpet_fail(err, "%s: unknown format '%s' (cpet, eren-cfh, eren-hotpot, eren-fever, counterfact, zsre or auto)", path, fmt);
    const int halves = rc == 0 && (!strcmp(fmt, "eren-fever") || !strcmp(fmt, "eren-hotpot")); /* edits, then out-of-scope records */
    size_t n = rc == 0 ? json_array_size(root) : 0;
    if (halves && n % 2) rc = cpet_fail(err, "%s: %zu records: EREN's split (the first half edits, the second out of scope) needs an even count", path, n);
    if (halves) n /= 2;
    s->fact_check = rc == 0 && !strcmp(fmt, "eren-fever");
    s->cases = calloc(n + 1, sizeof *s->cases);
    if (rc == 0 && !s->cases) rc = cpet_fail(err, "%s: out of memory", path);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const json_t *r = json_array_get(root, k);
        if (!json_is_object(r)) {
            rc = cpet_fail(err, "%s: entry %zu is not an object", path, k);
            break;
        }
        if (!strcmp(fmt, "zsre") && !*(str(r, "alt") ?: "")) continue; /* EasyEdit skips these too */
        edit_case *c = &s->cases[s->n++];
        char id[64];
        const json_t *jid = json_object_get(r, json_object_get(r, "case_id") ? "case_id" : "id");
        if (json_is_integer(jid)) snprintf(id, sizeof id, "%s/%lld", fmt, (long long)json_integer_value(jid));
        else if (json_is_string(jid)) snprintf(id, sizeof id, "%s/%.40s", fmt, json_string_value(jid));
        else snprintf(id, sizeof id, "%s/%zu", fmt, k);
        c->id = strdup(id), c->split = strdup("test");
        rc = !strcmp(fmt, "eren-cfh") ? read_cfh(r, c, unaligned) : !strcmp(fmt, "eren-hotpot") ? read_hotpot(r, c)
             : !strcmp(fmt, "eren-fever")                       ? read_fever(r, c)
             : !strcmp(fmt, "counterfact")                      ? read_counterfact(r, c)
                                                                : read_zsre(r, c);
        const json_t *later = halves ? json_array_get(root, k + n) : NULL;
        if (rc == 0 && halves && !json_is_object(later)) {
            rc = cpet_fail(err, "%s: entry %zu is not an object", path, k + n);
            break;
        }
        if (rc == 0 && halves) rc = add_unrelated(later, c);
        if (rc != 0) rc = cpet_fail(err, "%s: out of memory", path);
        else if (!c->statement || !*c->statement) rc = cpet_fail(err, "%s: entry %zu (%s): an empty edit statement", path, k, c->id);
    }
    json_decref(root);
    if (rc == 0 && s->n == 0) rc = cpet_fail(err, "%s: no edits", path);
    if (rc != 0) edit_set_free(s);
    return rc;
}
