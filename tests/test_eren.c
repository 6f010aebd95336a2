/* EREN's pieces (engine/methods/eren.h): the templates byte for byte, the notebook (stripping, newest
 * wins, deletion, files), BM25 against scores worked out by hand, the two-step flow's fallback exactly when
 * the reader says "unanswerable", and fitting the reader's window. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "helpers.h"
#include "methods/eren.h"

Test(eren, templates_are_the_references_byte_for_byte)
{
    /* thunlp/EREN src/model/utils.py, as the reference notes quote them */
    char *p = eren_fill(EREN_TEMPLATE_MRC, "A is B.\nC is D.", "What is A?", NULL);
    cr_assert_str_eq(p, "Read this and answer the question. If the question is unanswerable, say \"unanswerable\".\n\nA is B.\nC is D.\n\nWhat is A?");
    free(p);
    p = eren_fill(EREN_TEMPLATE_QA, NULL, "What is A?", NULL);
    cr_assert_str_eq(p, "Please answer this question: What is A?");
    free(p);
    p = eren_fill(EREN_TEMPLATE_MRC_ONE_STEP, "A is B.", "What is A?", NULL);
    cr_assert_str_eq(p, "Read this and answer the question.\n\nA is B.\n\nWhat is A?");
    free(p);
    p = eren_fill(EREN_TEMPLATE_FC, "A is B.", "A is B", EREN_OPTIONS_FC);
    cr_assert_str_eq(p, "A is B.\n\nCan we conclude that \"A is B\"?\n\nOPTIONS:\n- Yes\n- It's impossible to say\n- No");
    free(p);
    cr_assert_str_eq(EREN_OPTIONS_FC_ONE_STEP, "OPTIONS:\n- Yes\n- No");
    /* inserted text is not rescanned for fields */
    p = eren_fill(EREN_TEMPLATE_QA, NULL, "Is {context} a field?", NULL);
    cr_assert_str_eq(p, "Please answer this question: Is {context} a field?");
    free(p);
    const char *notes[] = {"The capital of Talim is Grimhend", "Talim speaks Orran"};
    p = eren_join_notes(notes, 2);
    cr_assert_str_eq(p, "The capital of Talim is Grimhend.\nTalim speaks Orran.");
    free(p);
    p = eren_join_notes(notes, 0);
    cr_assert_str_eq(p, ".", "\".\\n\".join([]) + \".\"");
    free(p);
    cr_assert(eren_is_unanswerable(" Unanswerable\n") && eren_is_unanswerable("unanswerable"));
    cr_assert(!eren_is_unanswerable("unanswerable.") && !eren_is_unanswerable("it is unanswerable") && !eren_is_unanswerable(""));
    /* fact checking: src/test_unedited.py's yes/no question, the claim's period cut */
    p = eren_bool_qa_prompt("Talim has no capital.");
    cr_assert_str_eq(p, "Is it true that Talim has no capital?\n\nOPTIONS:\n- yes\n- no");
    free(p);
    p = eren_bool_qa_prompt("Talim has no capital");
    cr_assert_str_eq(p, "Is it true that Talim has no capital?\n\nOPTIONS:\n- yes\n- no", "only a final period goes");
    free(p);
    cr_assert(eren_is_impossible(" it's impossible to say") && !eren_is_impossible("It's impossible to say."));
}

Test(eren, the_notebook_strips_and_the_newest_note_of_a_key_wins)
{
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    cr_assert_eq(notebook_add(&nb, "  The capital of Talim is Grimhend. ", "Talim/capital", &err), 0);
    cr_assert_str_eq(nb.notes[0].text, "The capital of Talim is Grimhend", "EREN strips the period");
    cr_assert_eq(notebook_add(&nb, "Talim speaks Orran", "Talim/language", &err), 1);
    cr_assert_eq(notebook_add(&nb, "The capital of Talim is Fugrum", "Talim/capital", &err), 2);
    cr_assert(nb.notes[0].superseded && !nb.notes[1].superseded && !nb.notes[2].superseded);
    cr_assert_eq(notebook_active(&nb), 2);
    cr_assert_lt(notebook_add(&nb, " . ", NULL, &err), 0);
    cr_assert(strstr(err.msg, "empty note"), "%s", err.msg);
    /* retrieval never returns the superseded note, even where it scores best */
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0, "%s", err.msg);
    int ids[5];
    const int got = eren_retrieve(&x, &nb, "Is the capital of Talim Grimhend?", 5, ids, NULL, &err);
    cr_assert_eq(got, 2);
    cr_assert_eq(ids[0], 2, "the newer capital note");
    eren_index_free(&x);
    /* a file round trip keeps the order, keys, clock and who is superseded */
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/notebook.json", dir);
    cr_assert_eq(notebook_save(&nb, path, &err), 0, "%s", err.msg);
    eren_notebook back;
    cr_assert_eq(notebook_load(&back, path, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n, 3);
    cr_assert_eq(back.clock, nb.clock);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(back.notes[i].text, nb.notes[i].text);
        cr_assert_eq(back.notes[i].superseded, nb.notes[i].superseded);
        cr_assert_eq(back.notes[i].added, nb.notes[i].added);
    }
    /* deleting the newest note of a key gives the floor back to the one before it */
    cr_assert_eq(notebook_delete(&back, 2, &err), 0);
    cr_assert(!back.notes[0].superseded);
    cr_assert_neq(notebook_delete(&back, 7, &err), 0);
    notebook_free(&back);
    notebook_free(&nb);
    write_text(path, "{\"notes\": [{\"text\": \"\", \"added\": 1, \"superseded\": false}], \"clock\": 1}");
    cr_assert_neq(notebook_load(&back, path, &err), 0);
    cr_assert(strstr(err.msg, "notebook.json") && strstr(err.msg, "note 0"), "%s", err.msg);
}

Test(eren, bm25_ranks_as_worked_out_by_hand)
{
    /* BM25 k1 1.2, b 0.75, idf ln(1 + (N - df + 0.5) / (df + 0.5)), query words counted once; the scores
     * computed separately (Python over the same four notes): 3.83698, 0.42646, 0.64072, 1.04982 */
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    const char *notes[] = {"The capital of Talim is Drisian", "Talim speaks Quessan", "Graelutal has its capital in Grimhend",
                           "The river Vosk crosses Talim"};
    for (int i = 0; i < 4; i++) cr_assert_eq(notebook_add(&nb, notes[i], NULL, &err), i);
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0, "%s", err.msg);
    int ids[4];
    double s[4];
    cr_assert_eq(eren_retrieve(&x, &nb, "What is the capital of Talim?", 3, ids, s, &err), 3);
    cr_assert(ids[0] == 0 && ids[1] == 3 && ids[2] == 2, "%d %d %d", ids[0], ids[1], ids[2]);
    cr_assert_float_eq(s[0], 3.8369801723374333, 1e-9);
    cr_assert_float_eq(s[1], 1.0498221244986776, 1e-9);
    cr_assert_float_eq(s[2], 0.64072428455121, 1e-9);
    cr_assert_eq(eren_retrieve(&x, &nb, "capital", 9, ids, s, &err), 4, "k above the notebook: every note");
    cr_assert_eq(s[3], 0.0);
    cr_assert_eq(ids[2], 3, "equal scores: the newer note first (3 before 1)");
    eren_index_free(&x);
    notebook_free(&nb);
}

/* a fake reader: "unanswerable" to any MRC prompt whose context lacks "Talim", else the context's last word */
typedef struct {
    char prompts[4][1024];
    int calls;
    const char *reply;
} fake_reader;

static int fake_read(void *ctx, const char *prompt, char **out, cpet_err *err)
{
    (void)err;
    fake_reader *f = ctx;
    snprintf(f->prompts[f->calls++ % 4], 1024, "%s", prompt);
    const int closed_book = !strncmp(prompt, "Please", 6) || !strncmp(prompt, "Is it true", 10);
    *out = strdup(f->reply && !closed_book ? f->reply : "closed-book answer");
    return 0;
}

static int measure_chars(void *ctx, const char *prompt)
{
    (void)ctx;
    return (int)strlen(prompt);
}

Test(eren, the_fallback_is_taken_exactly_when_the_reader_says_unanswerable)
{
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    notebook_add(&nb, "The capital of Talim is Grimhend", NULL, &err);
    notebook_add(&nb, "Talim speaks Orran", NULL, &err);
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0);
    fake_reader f = {.reply = " Unanswerable"};
    eren_config c = {.mode = EREN_TWO_STEP, .task = EREN_QA, .top_k = 5, .max_prompt = 0, .read = fake_read, .measure = measure_chars, .ctx = &f};
    eren_answer a;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "What is the capital of Graelutal?", &a, &err), 0, "%s", err.msg);
    cr_assert_eq(f.calls, 2);
    cr_assert(a.fell_back);
    cr_assert_str_eq(f.prompts[1], "Please answer this question: What is the capital of Graelutal?");
    cr_assert_str_eq(a.answer, "closed-book answer");
    cr_assert_str_eq(a.first, " Unanswerable");
    cr_assert_str_eq(f.prompts[0], "Read this and answer the question. If the question is unanswerable, say \"unanswerable\".\n\n"
                                   "The capital of Talim is Grimhend.\nTalim speaks Orran.\n\nWhat is the capital of Graelutal?");
    eren_answer_free(&a);
    /* an answer: no second call */
    f = (fake_reader){.reply = "Grimhend"};
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "What is the capital of Talim?", &a, &err), 0);
    cr_assert(f.calls == 1 && !a.fell_back);
    cr_assert_str_eq(a.answer, "Grimhend");
    eren_answer_free(&a);
    /* "unanswerable." is an answer, not the option */
    f = (fake_reader){.reply = "unanswerable."};
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "What is the capital of Talim?", &a, &err), 0);
    cr_assert(f.calls == 1 && !a.fell_back);
    eren_answer_free(&a);
    /* one-step MRC: its own template, never a fallback */
    f = (fake_reader){.reply = "unanswerable"};
    c.mode = EREN_ONE_STEP;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "What is the capital of Graelutal?", &a, &err), 0);
    cr_assert(f.calls == 1 && !a.fell_back);
    cr_assert(!strncmp(f.prompts[0], "Read this and answer the question.\n\n", 36), "%s", f.prompts[0]);
    cr_assert_str_eq(a.answer, "unanswerable");
    eren_answer_free(&a);
    /* closed-book: the QA template alone */
    f = (fake_reader){.reply = "x"};
    c.mode = EREN_CLOSED_BOOK;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "What is the capital of Talim?", &a, &err), 0);
    cr_assert(f.calls == 1 && a.n_retrieved == 0);
    cr_assert_str_eq(f.prompts[0], "Please answer this question: What is the capital of Talim?");
    eren_answer_free(&a);
    eren_index_free(&x);
    notebook_free(&nb);
}

/* Two retrieval rounds: a multi-edit question names its subject but not the bridge note's (Tuthem), which
 * one BM25 round at k = 2 misses (ties go to the newer note); the second round, on the question and the best
 * note, ranks it right after that note. */
Test(eren, a_second_retrieval_round_finds_the_bridge_note)
{
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    notebook_add(&nb, "Daethne Shulrund was born in Tuthem", NULL, &err);
    notebook_add(&nb, "Tuthem is a city in Nendvar", NULL, &err);
    notebook_add(&nb, "Grefond is a city in Kiashes", NULL, &err);
    notebook_add(&nb, "The flag of Talim is red", NULL, &err);
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0);
    fake_reader f = {.reply = "Nendvar"};
    eren_config c = {.mode = EREN_TWO_STEP, .task = EREN_QA, .top_k = 2, .max_prompt = 0, .read = fake_read, .measure = NULL, .ctx = &f};
    eren_answer a;
    const char *q = "In which country was Daethne Shulrund born?";
    cr_assert_eq(eren_answer_question(&c, &nb, &x, q, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.n_retrieved, 2);
    cr_assert_eq(a.retrieved[0], 0);
    cr_assert_neq(a.retrieved[1], 1, "one round: the bridge note shares no word with the question");
    eren_answer_free(&a);
    c.hops = 2;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, q, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.n_retrieved, 2);
    cr_assert(a.retrieved[0] == 0 && a.retrieved[1] == 1, "%d %d", a.retrieved[0], a.retrieved[1]);
    cr_assert(strstr(f.prompts[f.calls - 1], "Daethne Shulrund was born in Tuthem.\nTuthem is a city in Nendvar."), "%s", f.prompts[f.calls - 1]);
    eren_answer_free(&a);
    eren_index_free(&x);
    notebook_free(&nb);
}

Test(eren, fact_checking_falls_back_exactly_on_its_impossible_option)
{
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    notebook_add(&nb, "The capital of Talim is Grimhend", NULL, &err);
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0);
    fake_reader f = {.reply = "It's impossible to say"};
    eren_config c = {.mode = EREN_TWO_STEP, .task = EREN_FC, .top_k = 5, .max_prompt = 0, .read = fake_read, .measure = NULL, .ctx = &f};
    eren_answer a;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "The capital of Orra is Fugrum.", &a, &err), 0, "%s", err.msg);
    cr_assert(f.calls == 2 && a.fell_back);
    cr_assert_str_eq(f.prompts[0], "The capital of Talim is Grimhend.\n\nCan we conclude that \"The capital of Orra is Fugrum.\"?\n\n"
                                   "OPTIONS:\n- Yes\n- It's impossible to say\n- No");
    cr_assert_str_eq(f.prompts[1], "Is it true that The capital of Orra is Fugrum?\n\nOPTIONS:\n- yes\n- no");
    cr_assert_str_eq(a.answer, "closed-book answer");
    eren_answer_free(&a);
    /* a verdict: no second call; "unanswerable" is no option of this task */
    const char *verdicts[] = {"No", "unanswerable"};
    for (int i = 0; i < 2; i++) {
        f = (fake_reader){.reply = verdicts[i]};
        cr_assert_eq(eren_answer_question(&c, &nb, &x, "The capital of Talim is Grimhend.", &a, &err), 0);
        cr_assert(f.calls == 1 && !a.fell_back);
        cr_assert_str_eq(a.answer, verdicts[i]);
        eren_answer_free(&a);
    }
    /* one step: two options, never a fallback */
    f = (fake_reader){.reply = "It's impossible to say"};
    c.mode = EREN_ONE_STEP;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "The capital of Talim is Grimhend.", &a, &err), 0);
    cr_assert(f.calls == 1 && !a.fell_back);
    cr_assert(strstr(f.prompts[0], "?\n\nOPTIONS:\n- Yes\n- No") && !strstr(f.prompts[0], "impossible"), "%s", f.prompts[0]);
    eren_answer_free(&a);
    /* closed book: the yes/no question alone */
    c.mode = EREN_CLOSED_BOOK;
    f = (fake_reader){.reply = "x"};
    cr_assert_eq(eren_answer_question(&c, &nb, &x, "The capital of Talim is Grimhend.", &a, &err), 0);
    cr_assert(f.calls == 1 && a.n_retrieved == 0);
    cr_assert(!strncmp(f.prompts[0], "Is it true that The capital of Talim is Grimhend?", 49), "%s", f.prompts[0]);
    eren_answer_free(&a);
    eren_index_free(&x);
    notebook_free(&nb);
}

/* The reader's generation budget holds the task's fixed answer and EOS: " It's impossible to say" is longer
 * than the default 12 tokens in a small vocabulary, and a cut answer never triggers the fallback. */
Test(eren, the_answer_budget_fits_the_fixed_answers)
{
    model m;
    tokenizer tok;
    load_tiny_model(16, 32, 1, &m, &tok);
    cpet_err err;
    const char *fixed[2] = {" unanswerable", " It's impossible to say"};
    const eren_task tasks[2] = {EREN_QA, EREN_FC};
    for (int i = 0; i < 2; i++) {
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&tok, fixed[i], strlen(fixed[i]), &ids, &n, &err), 0);
        free(ids);
        cr_assert_eq(eren_answer_budget(&tok, tasks[i], 1), n + 1, "%s: %d tokens and EOS", fixed[i], n);
        cr_assert_eq(eren_answer_budget(&tok, tasks[i], n + 5), n + 5, "a larger request stands");
    }
    model_free(&m);
    tokenizer_free(&tok);
}

/* Dense retrieval. A note's embedding is the mean of the model's final hidden states over the note's tokens,
 * BOS left out (computed here from one forward of BOS + text); the query is embedded the same way and
 * scored by dot product. With the notes' embeddings then set by hand to multiples of the query's (1, 3, -1,
 * 2, and 5 for a superseded note), the ranking is worked by hand: 1, 3, 0, 2, scores |q|^2 x (3, 2, 1, -1),
 * the superseded note never returned, and a tie goes to the newer note. */
Test(eren, dense_retrieval_ranks_by_the_dot_product_of_mean_pooled_states)
{
    model m;
    tokenizer tok;
    load_tiny_model(16, 32, 1, &m, &tok);
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    const char *texts[5] = {"the river runs", "a city by the river", "the old bridge", "a bridge is old", "the river is wide"};
    const char *keys[5] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) cr_assert_eq(notebook_add(&nb, texts[i], keys[i], &err), i, "%s", err.msg);
    cr_assert_eq(notebook_add(&nb, "the river is narrow", "e", &err), 5, "%s", err.msg); /* supersedes note 4 */
    eren_index x;
    cr_assert_eq(eren_index_dense(&x, &nb, &m, &tok, &err), 0, "%s", err.msg);
    const int D = m.cfg.hidden_size;
    cr_assert_eq(x.dim, D);
    for (int i = 0; i < 2; i++) { /* the oracle mean for two notes */
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&tok, texts[i], strlen(texts[i]), &ids, &n, &err), 0);
        int seq[64];
        seq[0] = m.cfg.bos_token_id;
        memcpy(seq + 1, ids, (size_t)n * sizeof(int));
        free(ids);
        cr_assert_eq(model_forward(&m, seq, NULL, 1, n + 1, &err), 0, "%s", err.msg);
        const float *h = model_final_hidden(&m);
        for (int d = 0; d < D; d++) {
            double mean = 0;
            for (int t = 1; t <= n; t++) mean += h[(size_t)t * D + d];
            mean /= n;
            cr_assert_float_eq(x.emb[(size_t)i * D + d], mean, 1e-5 * (1 + fabs(mean)), "note %d, dim %d", i, d);
        }
    }
    /* the query's embedding and the hand-set notes */
    const char *query = "where is the bridge";
    float *q = malloc((size_t)D * sizeof(float));
    eren_index qx;
    eren_notebook one;
    notebook_init(&one);
    cr_assert_eq(notebook_add(&one, query, NULL, &err), 0);
    cr_assert_eq(eren_index_dense(&qx, &one, &m, &tok, &err), 0, "%s", err.msg);
    memcpy(q, qx.emb, (size_t)D * sizeof(float));
    eren_index_free(&qx);
    notebook_free(&one);
    const double mult[6] = {1, 3, -1, 2, 5, 2}; /* note 5 ties note 3 and is newer */
    double qq = 0;
    for (int d = 0; d < D; d++) qq += (double)q[d] * q[d];
    for (int i = 0; i < 6; i++)
        for (int d = 0; d < D; d++) x.emb[(size_t)i * D + d] = (float)(mult[i] * q[d]);
    int ids[6];
    double sc[6];
    cr_assert_eq(eren_retrieve(&x, &nb, query, 6, ids, sc, &err), 5, "five active notes");
    const int want[5] = {1, 5, 3, 0, 2};
    const double want_mult[5] = {3, 2, 2, 1, -1};
    for (int j = 0; j < 5; j++) {
        cr_assert_eq(ids[j], want[j], "rank %d: note %d, want %d", j, ids[j], want[j]);
        cr_assert_float_eq(sc[j], want_mult[j] * qq, 1e-4 * qq, "rank %d: score %g", j, sc[j]);
    }
    cr_assert_eq(eren_retrieve(&x, &nb, query, 2, ids, NULL, &err), 2);
    cr_assert(ids[0] == 1 && ids[1] == 5, "the top 2: %d %d", ids[0], ids[1]);
    free(q);
    eren_index_free(&x);
    notebook_free(&nb);
    model_free(&m);
    tokenizer_free(&tok);
}

Test(eren, a_prompt_over_the_window_loses_its_lowest_ranked_notes_first)
{
    cpet_err err;
    eren_notebook nb;
    notebook_init(&nb);
    notebook_add(&nb, "The capital of Talim is Grimhend", NULL, &err);
    notebook_add(&nb, "The capital of Orra is Fugrum", NULL, &err);
    notebook_add(&nb, "The flag of Talim is red", NULL, &err);
    eren_index x;
    cr_assert_eq(eren_index_bm25(&x, &nb, &err), 0);
    fake_reader f = {.reply = "Grimhend"};
    const char *q = "What is the capital of Talim?";
    /* room for the template, the question and the two best notes, not the third */
    char *two = NULL;
    {
        eren_config probe = {.mode = EREN_TWO_STEP, .task = EREN_QA, .top_k = 5, .max_prompt = 0, .read = fake_read, .measure = NULL, .ctx = &f};
        eren_answer a;
        cr_assert_eq(eren_answer_question(&probe, &nb, &x, q, &a, &err), 0);
        cr_assert_eq(a.notes_used, 3);
        const char *texts[2] = {nb.notes[a.retrieved[0]].text, nb.notes[a.retrieved[1]].text};
        char *context = eren_join_notes(texts, 2);
        two = eren_fill(EREN_TEMPLATE_MRC, context, q, NULL);
        free(context);
        eren_answer_free(&a);
    }
    f.calls = 0;
    eren_config c = {.mode = EREN_TWO_STEP, .task = EREN_QA, .top_k = 5, .max_prompt = (int)strlen(two), .read = fake_read, .measure = measure_chars, .ctx = &f};
    eren_answer a;
    cr_assert_eq(eren_answer_question(&c, &nb, &x, q, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.notes_used, 2);
    cr_assert_str_eq(f.prompts[0], two, "the third-ranked note left");
    eren_answer_free(&a);
    free(two);
    /* a window the template and question alone overflow: an error naming the question */
    c.max_prompt = 40;
    cr_assert_neq(eren_answer_question(&c, &nb, &x, q, &a, &err), 0);
    cr_assert(strstr(err.msg, "What is the capital of Talim?") && strstr(err.msg, "window"), "%s", err.msg);
    eren_index_free(&x);
    notebook_free(&nb);
}

/* The reader's instruction tuning ends each answer with EOS (finetune's append_eos), so that greedy
 * reading stops right after the answer; without it the same tuning runs on past the answer. */
#include "finetune.h"
#include "tasks.h"

static void tune_and_read(int append_eos, char outputs[2][128])
{
    cpet_err err;
    model m;
    tokenizer tok;
    load_tiny_model(32, 64, 2, &m, &tok);
    task_set set = {0};
    const char *prompts[2] = {"Please answer this question: is it the one?", "Please answer this question: is it the other?"};
    char a0[] = " yes", a1[] = " no";
    char *c0[1] = {a0}, *c1[1] = {a1};
    task_example e0 = {"0", "t", "train", (char *)prompts[0], "", "", c0, 1, 0}, e1 = {"1", "t", "train", (char *)prompts[1], "", "", c1, 1, 0};
    tasks_add(&set, &e0), tasks_add(&set, &e1);
    adamw opt = {0};
    adamw_config oc = adamw_defaults();
    oc.lr = 3e-3f, oc.weight_decay = 0;
    cr_assert_eq(model_set_trainable(&m, NULL, 1, &err), 0);
    cr_assert_eq(adamw_init(&opt, oc, &err), 0);
    cr_assert_eq(adamw_add(&opt, m.tensors, m.n_tensors, &err), 0);
    finetune_config fc = {.steps = 150, .batch = 2, .lr = 3e-3f, .clip = 1.0f, .seed = 1, .bos_id = m.cfg.bos_token_id,
                          .eos_id = m.cfg.eos_token_id, .append_eos = append_eos};
    long tokens;
    cr_assert_eq(finetune_multiple_choice(&m, &opt, &tok, &set, &fc, NULL, &tokens, &err), 0, "%s", err.msg);
    eren_model_reader r = {&m, &tok, 8};
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        cr_assert_eq(eren_model_read(&r, prompts[i], &out, &err), 0, "%s", err.msg);
        snprintf(outputs[i], 128, "%s", out);
        free(out);
    }
    adamw_free(&opt);
    tasks_free(&set);
    tokenizer_free(&tok);
    model_free(&m);
}

Test(eren, a_reader_tuned_with_eos_stops_after_its_answer, .timeout = 600)
{
    char with[2][128], without[2][128];
    tune_and_read(1, with);
    cr_assert_str_eq(with[0], "yes");
    cr_assert_str_eq(with[1], "no");
    tune_and_read(0, without);
    cr_assert(strncmp(without[0], "yes", 3) == 0 && strlen(without[0]) > 3, "no EOS learned: it reads on past the answer: '%s'", without[0]);
}

/* The notebook file from the command line: newest note of a key wins, deletion, bad input as one line */
Test(eren, the_notebook_command_keeps_the_newest_note_of_a_key)
{
    char dir[256], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s notebook nb.json add 'The capital of Talim is Grimhend.' --key Talim/capital && "
             "%s notebook nb.json add 'Talim speaks Orran' --key Talim/language && "
             "%s notebook nb.json add 'The capital of Talim is Fugrum' --key Talim/capital && %s notebook nb.json list",
             dir, CPET_BINARY, CPET_BINARY, CPET_BINARY, CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "0\tsuperseded\tTalim/capital\tThe capital of Talim is Grimhend\n"), "%s", out);
    cr_assert(strstr(out, "2\tactive\tTalim/capital\tThe capital of Talim is Fugrum\n"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && %s notebook nb.json delete 2 && %s notebook nb.json list", dir, CPET_BINARY, CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "0\tactive\tTalim/capital\tThe capital of Talim is Grimhend\n"), "the older note speaks again: %s", out);
    /* a note without a key is saved and read back */
    snprintf(cmd, sizeof cmd, "cd %s && %s notebook nb.json add 'Orra has no capital' && %s notebook nb.json list", dir, CPET_BINARY, CPET_BINARY);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "Orra has no capital\n"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && %s notebook nb.json add ' . '", dir, CPET_BINARY);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "nb.json") && strstr(out, "empty note"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && %s notebook nb.json delete 5", dir, CPET_BINARY);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "no note 5"), "%s", out);
    snprintf(cmd, sizeof cmd, "cd %s && %s notebook missing.json list", dir, CPET_BINARY);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "missing.json"), "%s", out);
}

/* A random model with a window that fits EREN's prompts, and a tokenizer trained on the world's words. */
#include "tokenizer.h"

static void make_reader_dir(const char *dir)
{
    char path[600];
    cpet_err err;
    const char *docs[] = {"Read this and answer the question. If the question is unanswerable, say \"unanswerable\". Please answer this question:",
                          "The capital of Talim is Drisian. Where was Brufel Bianam born? What does he do for a living? Who employs him?"};
    size_t lens[] = {strlen(docs[0]), strlen(docs[1])};
    const char *specials[] = {"<|endoftext|>"};
    tokenizer t;
    cr_assert_eq(tokenizer_train(&t, docs, lens, 2, 400, specials, 1, &err), 0, "%s", err.msg);
    model_config c = small_config(4, 2, ACT_SILU, 0, 10000.0f);
    c.vocab_size = t.vocab_size, c.hidden_size = 32, c.head_dim = 8, c.intermediate_size = 64, c.n_layers = 2;
    c.max_position_embeddings = 512;
    c.bos_token_id = c.eos_token_id = 0;
    model m;
    cr_assert_eq(model_create(&m, &c, &err), 0, "%s", err.msg);
    model_init_random(&m, 0.1f, 3);
    snprintf(path, sizeof path, "%s/reader", dir);
    cr_assert_eq(model_save(&m, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reader/tokenizer.json", dir);
    cr_assert_eq(tokenizer_save(&t, path, &err), 0, "%s", err.msg);
    tokenizer_free(&t);
    model_free(&m);
}

/* The harness runs editing cells; unedited's BP is 1 by definition, examples carry per-question es / bp,
 * and the report pairs EREN with unedited question by question. */
Test(eren, the_harness_runs_editing_cells_and_pairs_them_per_question, .timeout = 900)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_reader_dir(dir);
    snprintf(path, sizeof path, "%s/spec.json", dir);
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"name\": \"ed\", \"models\": [\"%s/reader\"], \"compressions\": [\"none\"],"
             " \"methods\": [{\"name\": \"eren\", \"label\": \"unedited\", \"method\": \"unedited\", \"n_edits\": 3},"
             "              {\"name\": \"eren\", \"label\": \"EREN\", \"method\": \"eren\", \"n_edits\": 3, \"max_new\": 4}],"
             " \"tasks\": [{\"file\": \"%s/ed/editing.jsonl\", \"name\": \"world_edits\"}, {\"file\": \"%s/ed/claims.jsonl\", \"name\": \"world_claims\"}],"
             " \"seeds\": [0, 1], \"threads\": 1}",
             dir, dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s world --seed 2 --editing -o %s/ed && %s run %s -o %s/run && %s report %s/run -o %s/rep --metric es,bp,eq,es_teacher_forced "
             "--baseline unedited && %s report %s/run -o %s/claims --metric es,bp,eq --baseline unedited --task world_claims --no-plots",
             CPET_BINARY, dir, CPET_BINARY, path, dir, CPET_BINARY, dir, dir, CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/run/records.jsonl", dir);
    json_error_t je;
    json_t *lines = json_array();
    FILE *fp = fopen(path, "r");
    char line[1 << 16];
    while (fgets(line, sizeof line, fp)) json_array_append_new(lines, json_loads(line, 0, &je));
    fclose(fp);
    cr_assert_eq(json_array_size(lines), 8, "2 methods x 2 tasks (questions, claims) x 2 seeds");
    for (size_t i = 0; i < 8; i++) {
        json_t *rec = json_array_get(lines, i), *m = json_object_get(rec, "metrics");
        const char *label = json_string_value(json_object_get(json_object_get(json_object_get(rec, "cell"), "method"), "label"));
        cr_assert_eq(json_integer_value(json_object_get(m, "edits")), 3);
        if (!strcmp(label, "unedited")) cr_assert_float_eq(json_number_value(json_object_get(m, "bp")), 1.0, 1e-12, "unchanged by definition");
        const double es = json_number_value(json_object_get(m, "es")), bp = json_number_value(json_object_get(m, "bp"));
        cr_assert_float_eq(json_number_value(json_object_get(m, "eq")), es + bp > 0 ? 2 * es * bp / (es + bp) : 0, 1e-9);
    }
    json_decref(lines);
    snprintf(path, sizeof path, "%s/rep/table_bp.md", dir);
    char *md = read_all(path, NULL);
    cr_assert(strstr(md, "Difference to **unedited**"), "%s", md);
    cr_assert_null(strstr(md, "| 1 × 2 |"), "paired per question, not per seed: %s", md);
    cr_assert(strstr(md, "world_claims") && strstr(md, "world_edits"), "one column per dataset: %s", md);
    free(md);
    /* the claims have no teacher-forced scores: one panel, not an empty slot beside it */
    snprintf(path, sizeof path, "%s/rep/bars_es_teacher_forced.gp", dir);
    md = read_all(path, NULL);
    cr_assert(md && strstr(md, "set multiplot layout 1,1\n") && !strstr(md, "world_claims"), "%s", md ? md : "(missing)");
    free(md);
    /* --task: the claims alone */
    snprintf(path, sizeof path, "%s/claims/table_bp.md", dir);
    md = read_all(path, NULL);
    cr_assert(strstr(md, "world_claims") && !strstr(md, "world_edits"), "%s", md);
    free(md);
    /* bad input: a task the spec lacks; a reader to rescore that is no tuned reader; a filler file that is missing */
    snprintf(cmd, sizeof cmd, "%s report %s/run -o %s/none --metric es --task world_fever", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "world_fever") && strstr(out, "no cell"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s edit-reader %s/ed --world %s/ed --evaluate-only", CPET_BINARY, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1, "%s", out);
    snprintf(cmd, sizeof cmd, "%s edit --method eren --edits %s/ed/editing.jsonl --model %s/reader --notebook-size 9 --filler %s/none.jsonl -o %s/x.json",
             CPET_BINARY, dir, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "none.jsonl"), "%s", out);
}

/* A question that cannot fit the reader's window, even with no notes: one line, nonzero */
Test(eren, a_question_over_the_window_is_a_clear_error, .timeout = 300)
{
    char dir[256], cmd[2048], out[4096];
    make_temp_dir(dir, sizeof dir);
    make_tiny_model_dir(dir, 32, 64, 1);
    snprintf(cmd, sizeof cmd, "%s world --seed 2 --editing -o %s/ed", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "%s edit --method eren --edits %s/ed/editing.jsonl --model %s/model --n-edits 1 -o %s/o.json", CPET_BINARY, dir, dir,
             dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "eren: the question '") && strstr(out, "window"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s/o.json", dir);
    cr_assert_neq(access(cmd, F_OK), 0, "no half-written output");
}

/* Generated bytes made valid UTF-8 as Python's errors="replace" does (worked by hand) */
Test(eren, generated_bytes_become_valid_utf8)
{
    size_t n;
    char *s = utf8_sanitize("a\xff" "b", 3, &n);
    cr_assert_str_eq(s, "a\xef\xbf\xbd" "b");
    cr_assert_eq(n, 5);
    free(s);
    s = utf8_sanitize("\xc0\xaf", 2, NULL); /* overlong "/": two bad bytes */
    cr_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = utf8_sanitize("\xed\xa0\x80", 3, NULL); /* a surrogate */
    cr_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    const char *ok = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e";
    s = utf8_sanitize(ok, strlen(ok), NULL);
    cr_assert_str_eq(s, ok);
    free(s);
    s = utf8_sanitize("\xe2\x82", 2, NULL); /* cut short */
    cr_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
}

/* Sequential and batch editing, made explicit: a notebook answers the same either way; ROME's batch
 * computes every update on the unedited model, sequential each on the model the earlier ones left, so
 * they agree for one edit and differ for two, and only the chosen layer's down projection moves; a run
 * gives the caller its weights back bit for bit. */
#include "edit_eval.h"
#include "editing.h"

static float *weights_copy(const model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) total += m->tensors[i].n;
    float *w = malloc(total * sizeof(float));
    for (size_t i = 0, off = 0; i < (size_t)m->n_tensors; off += m->tensors[i].n, i++) memcpy(w + off, m->tensors[i].p, m->tensors[i].n * sizeof(float));
    return w;
}

static int weights_equal(const model *m, const float *w, const char *except, int *n_changed)
{
    int same = 1;
    *n_changed = 0;
    for (size_t i = 0, off = 0; i < (size_t)m->n_tensors; off += m->tensors[i].n, i++)
        if (memcmp(w + off, m->tensors[i].p, m->tensors[i].n * sizeof(float))) {
            (*n_changed)++;
            if (!except || !strstr(m->tensors[i].name, except)) same = 0;
        }
    return same;
}

Test(eren, sequential_and_batch_editing_are_what_they_say, .timeout = 900)
{
    char dir[256], cmd[1024], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    make_reader_dir(dir);
    snprintf(cmd, sizeof cmd, "%s world --seed 2 --editing -o %s/ed", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cpet_err err;
    edit_set cases;
    snprintf(path, sizeof path, "%s/ed/editing.jsonl", dir);
    cr_assert_eq(editing_read(&cases, path, &err), 0, "%s", err.msg);
    model m;
    tokenizer tok;
    snprintf(path, sizeof path, "%s/reader", dir);
    cr_assert_eq(model_load(&m, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/reader/tokenizer.json", dir);
    cr_assert_eq(tokenizer_load(&tok, path, &err), 0, "%s", err.msg);
    /* a notebook: the same outputs either way */
    edit_run_config c = {.method = EDIT_EREN, .top_k = 5, .max_new = 3, .n_edits = 3, .split = "test", .seed = 1};
    edit_run_result a, b;
    for (;; c.seed++) { /* the first seed whose three edits ask a multi-edit question */
        cr_assert_lt(c.seed, 40);
        cr_assert_eq(edit_run(&m, &tok, &cases, &c, &a, &err), 0, "%s", err.msg);
        if (!isnan(a.multi_edit)) break;
        edit_run_result_free(&a);
    }
    c.sequential = 1;
    cr_assert_eq(edit_run(&m, &tok, &cases, &c, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) cr_assert_str_eq(a.items[i].output, b.items[i].output);
    edit_run_result_free(&b);
    /* the notebook holds the chosen edits and the edits their multi-edit questions are asked with */
    const char *ids[64];
    int n_ids = 0, n_multi = 0;
    for (int i = 0; i < a.n; i++) {
        const char *id[2] = {a.items[i].case_id, NULL};
        if (!strcmp(a.items[i].kind, "multi_edit")) {
            const edit_case *e = a.items[i].edit;
            for (int k = 0; k < e->n_portability; k++)
                if (!strcmp(e->portability[k].question, a.items[i].question)) id[1] = e->portability[k].with;
            cr_assert_not_null(id[1]);
            n_multi++;
        }
        for (int t = 0; t < 2 && id[t]; t++) {
            int have = 0;
            for (int j = 0; j < n_ids; j++) have |= !strcmp(ids[j], id[t]);
            if (!have) ids[n_ids++] = id[t];
        }
    }
    cr_assert_eq(a.n_edits, 3);
    cr_assert_eq(a.notebook_size, n_ids, "%d notes for %d edits and the multi-edit questions' ones", a.notebook_size, n_ids);
    cr_assert_gt(n_multi, 0);
    /* a bigger notebook: other edits as extra notes, the same questions asked */
    c.notebook_size = 40;
    cr_assert_eq(edit_run(&m, &tok, &cases, &c, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(b.notebook_size, 40);
    cr_assert_eq(b.n, a.n, "only the chosen edits are asked about");
    for (int i = 0; i < a.n; i++) cr_assert_str_eq(a.items[i].question, b.items[i].question);
    edit_run_result_free(&b);
    /* past every case's edit: another world's edits fill it (its subjects are none of these) */
    edit_set filler;
    snprintf(cmd, sizeof cmd, "%s world --seed 3 --editing -o %s/other", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/other/editing.jsonl", dir);
    cr_assert_eq(editing_read(&filler, path, &err), 0, "%s", err.msg);
    c.notebook_size = cases.n + 25, c.filler = &filler;
    cr_assert_eq(edit_run(&m, &tok, &cases, &c, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(b.notebook_size, cases.n + 25, "every case's edit, then 25 of the other world's");
    cr_assert_eq(b.n, a.n);
    edit_run_result_free(&a), edit_run_result_free(&b);
    edit_set_free(&filler);
    c.notebook_size = 0, c.filler = NULL;
    /* ROME at layer 0 of 2 (the layer must sit below the last one: the object is predicted at positions after
     * the subject, which see its edited state only through a later layer's attention); statistics from a
     * stream of the edits' own statements */
    int stream[4096], n_stream = 0;
    for (int i = 0; i < cases.n && n_stream < 4000; i++) {
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&tok, cases.cases[i].statement, strlen(cases.cases[i].statement), &ids, &n, &err), 0);
        for (int k = 0; k < n && n_stream < 4096; k++) stream[n_stream++] = ids[k];
        free(ids);
    }
    float *orig = weights_copy(&m);
    int idx[2] = {0, 1}, changed;
    edit_run_config rc = {.method = EDIT_ROME, .rome_layer = 0, .stats_stream = stream, .stats_tokens = n_stream, .seed = 1};
    rc.sequential = 1;
    cr_assert_eq(edit_weights(&m, &tok, &cases, idx, 1, &rc, &err), 0, "%s", err.msg);
    float *seq1 = weights_copy(&m);
    cr_assert(weights_equal(&m, orig, "layers.0.mlp.down_proj", &changed) && changed == 1, "only layer 0's down projection moved");
    for (int i = 0, off = 0; i < m.n_tensors; off += (int)m.tensors[i].n, i++) memcpy(m.tensors[i].p, orig + off, m.tensors[i].n * sizeof(float));
    rc.sequential = 0;
    cr_assert_eq(edit_weights(&m, &tok, &cases, idx, 1, &rc, &err), 0, "%s", err.msg);
    cr_assert(weights_equal(&m, seq1, NULL, &changed) && changed == 0, "one edit: batch = sequential");
    for (int i = 0, off = 0; i < m.n_tensors; off += (int)m.tensors[i].n, i++) memcpy(m.tensors[i].p, orig + off, m.tensors[i].n * sizeof(float));
    cr_assert_eq(edit_weights(&m, &tok, &cases, idx, 2, &rc, &err), 0, "%s", err.msg);
    float *batch2 = weights_copy(&m);
    for (int i = 0, off = 0; i < m.n_tensors; off += (int)m.tensors[i].n, i++) memcpy(m.tensors[i].p, orig + off, m.tensors[i].n * sizeof(float));
    rc.sequential = 1;
    cr_assert_eq(edit_weights(&m, &tok, &cases, idx, 2, &rc, &err), 0, "%s", err.msg);
    cr_assert(!weights_equal(&m, batch2, "nothing", &changed) && changed == 1, "two edits: the second sees the first only in sequence");
    for (int i = 0, off = 0; i < m.n_tensors; off += (int)m.tensors[i].n, i++) memcpy(m.tensors[i].p, orig + off, m.tensors[i].n * sizeof(float));
    /* a whole run edits, answers and gives the weights back */
    edit_run_config fc = {.method = EDIT_FT, .top_k = 5, .max_new = 3, .n_edits = 2, .split = "test", .seed = 1, .ft_epochs = 2, .ft_lr = 1e-3f};
    cr_assert_eq(edit_run(&m, &tok, &cases, &fc, &a, &err), 0, "%s", err.msg);
    cr_assert(weights_equal(&m, orig, NULL, &changed) && changed == 0, "ft's weights restored");
    edit_run_result_free(&a);
    free(orig), free(seq1), free(batch2);
    tokenizer_free(&tok);
    model_free(&m);
    edit_set_free(&cases);
}

/* edit-reader's two phases: --read-steps 2 of --steps 3 gives one loss curve numbered 1..3, and reader.json
 * records the phase, its rate and the context sizes; --read-steps that leave no mixed step are refused. */
Test(eren, the_reader_tunes_in_two_phases_and_says_so, .timeout = 600)
{
    char dir[256], cmd[4096], out[8192], path[600];
    make_temp_dir(dir, sizeof dir);
    make_reader_dir(dir);
    snprintf(cmd, sizeof cmd, "%s world --seed 2 --docs 300 -o %s/w && %s edit-reader %s/reader --world %s/w -o %s/tuned --steps 3 --read-steps 2 "
             "--read-lr 1e-3 --k-min 1 --batch 2 --reps 1 --max-new 2 --threads 1",
             CPET_BINARY, dir, CPET_BINARY, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/tuned/reader.json", dir);
    json_error_t je;
    json_t *log = json_load_file(path, 0, &je);
    cr_assert_not_null(log, "%s", je.text);
    json_t *train = json_object_get(log, "train"), *curve = json_object_get(log, "loss_curve");
    cr_assert_eq(json_integer_value(json_object_get(train, "read_steps")), 2);
    cr_assert_eq(json_integer_value(json_object_get(train, "k_min")), 1);
    cr_assert_float_eq(json_number_value(json_object_get(train, "read_lr")), 1e-3, 1e-12);
    cr_assert_eq(json_array_size(curve), 3, "both phases' steps");
    for (size_t i = 0; i < 3; i++) cr_assert_eq(json_integer_value(json_array_get(json_array_get(curve, i), 0)), (json_int_t)i + 1);
    cr_assert(json_is_object(json_object_get(log, "dev_accuracy")));
    json_decref(log);
    snprintf(cmd, sizeof cmd, "%s edit-reader %s/reader --world %s/w -o %s/t2 --steps 3 --read-steps 3", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "--read-steps 3"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s edit-reader %s/reader --world %s/w -o %s/t3 --k 3 --k-min 4", CPET_BINARY, dir, dir, dir);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "--k-min 4 is over --k 3"), "%s", out);
    snprintf(path, sizeof path, "%s/t3", dir);
    cr_assert_neq(access(path, F_OK), 0, "nothing written");
}
