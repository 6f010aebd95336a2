/* The synthetic world, the task reader, evaluation plumbing, and reproducible pretraining. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "evaluate.h"
#include "generate.h"
#include "helpers.h"
#include "tasks.h"
#include "world.h"
#include "world_files.h"

static void generate_into(const char *dir, uint64_t seed)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, seed, world_default_sizes(), &err), 0, "%s", err.msg);
    cr_assert_eq(world_write(&w, dir, NULL, &err), 0, "%s", err.msg);
    world_free(&w);
}

Test(world, same_seed_same_bytes_other_seed_differs)
{
    char a[256], b[256], c[256], pa[600], pb[600], pc[600];
    make_temp_dir(a, sizeof a);
    make_temp_dir(b, sizeof b);
    make_temp_dir(c, sizeof c);
    generate_into(a, 7);
    generate_into(b, 7);
    generate_into(c, 8);
    const char *files[] = {"corpus_train.jsonl", "corpus_heldout.jsonl", "corpus_paraphrase.jsonl", "corpus_dev.jsonl",
                           "entities.jsonl",     "tasks/qa_facts.jsonl", "tasks/cloze_facts.jsonl", "tasks/relation_type.jsonl",
                           "world.json"};
    for (int i = 0; i < 9; i++) {
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        cr_expect(same_file(pa, pb), "%s differs between two runs with seed 7", files[i]);
    }
    snprintf(pa, sizeof pa, "%s/corpus_train.jsonl", a);
    snprintf(pc, sizeof pc, "%s/corpus_train.jsonl", c);
    cr_expect(!same_file(pa, pc), "seed 8 should give another world");
}

/* The dev text is new documents from the held-out stream: as many as the held-out file, listed in world.json, and
 * (nearly) none a copy of a held-out document, so settings chosen on it have not seen the reported text. */
Test(world, dev_corpus_is_new_documents_beside_the_heldout_file)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    generate_into(dir, 5);
    size_t n_held = 0, n_dev = 0;
    snprintf(path, sizeof path, "%s/corpus_heldout.jsonl", dir);
    char *held = read_all(path, &n_held);
    snprintf(path, sizeof path, "%s/corpus_dev.jsonl", dir);
    char *dev = read_all(path, &n_dev);
    cr_assert(held && dev && n_dev > 0);
    snprintf(path, sizeof path, "%s/world.json", dir);
    json_t *meta = json_load_file(path, 0, NULL);
    const long want = json_integer_value(json_object_get(json_object_get(meta, "corpus"), "dev_documents"));
    cr_assert_eq(want, json_integer_value(json_object_get(json_object_get(meta, "corpus"), "heldout_documents")));
    long lines = 0, copies = 0;
    for (char *line = dev, *end; *line; line = end + 1) {
        cr_assert((end = strchr(line, '\n')) != NULL);
        *end = 0;
        lines++;
        char *hit = strstr(held, line); /* a whole held-out line: bounded by newlines */
        copies += hit && (hit == held || hit[-1] == '\n') && hit[strlen(line)] == '\n';
    }
    cr_expect_eq(lines, want, "corpus_dev.jsonl has %ld documents, world.json says %ld", lines, want);
    cr_expect(copies * 20 < lines, "%ld of %ld dev documents copy a held-out one", copies, lines);
    json_decref(meta);
    free(held);
    free(dev);
}

Test(world, facts_are_consistent_and_splits_are_by_entity)
{
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 3, world_default_sizes(), &err), 0, "%s", err.msg);
    int cap = -1, loc = -1;
    for (int r = 0; r < world_n_relations; r++) {
        if (!strcmp(world_relations[r].name, "capital")) cap = r;
        if (!strcmp(world_relations[r].name, "located_in")) loc = r;
    }
    int names_unique = 1;
    for (int e = 0; e < w.n_entities; e++) {
        if (w.entities[e].type == ENT_COUNTRY) {
            int city = w.entities[e].value[cap];
            cr_assert_eq(w.entities[city].type, ENT_CITY);
            cr_expect_eq(w.entities[city].value[loc], e, "the capital of %s lies elsewhere", w.entities[e].name);
        }
        for (int r = 0; r < world_n_relations; r++)
            cr_assert_eq(w.entities[e].value[r] >= 0, world_relations[r].subject == w.entities[e].type);
        for (int o = 0; o < e; o++) names_unique &= strcmp(w.entities[e].name, w.entities[o].name) != 0;
    }
    cr_assert(names_unique, "entity names are unique");
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    cr_assert_eq(world_write(&w, dir, NULL, &err), 0, "%s", err.msg);
    task_set s;
    snprintf(path, sizeof path, "%s/tasks/qa_facts.jsonl", dir);
    cr_assert_eq(tasks_read(&s, path, NULL, &err), 0, "%s", err.msg);
    int per_split[3] = {0};
    for (int i = 0; i < s.n; i++) {
        const task_example *x = &s.items[i];
        int e = -1;
        for (int k = 0; k < w.n_entities && e < 0; k++)
            if (!strcmp(w.entities[k].name, x->subject)) e = k;
        cr_assert_geq(e, 0);
        cr_assert_str_eq(x->split, split_names[w.entities[e].split], "examples take their subject's split");
        per_split[w.entities[e].split]++;
        cr_assert_eq(x->n_choices, 4);
        for (int c = 0; c < 4; c++)
            for (int d = 0; d < c; d++) cr_assert_str_neq(x->choices[c], x->choices[d], "distinct choices");
    }
    cr_assert(per_split[0] > per_split[1] && per_split[1] > 0 && per_split[2] > 0, "%d/%d/%d", per_split[0],
              per_split[1], per_split[2]);
    tasks_free(&s);
    world_free(&w);
}

/* cloze prompt + the correct choice is a corpus sentence; the held-out template never reaches the corpus */
Test(world, cloze_tasks_match_the_corpus_and_paraphrases_are_held_out)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    generate_into(dir, 5);
    snprintf(path, sizeof path, "%s/corpus_train.jsonl", dir);
    char *train = read_all(path, NULL);
    snprintf(path, sizeof path, "%s/corpus_paraphrase.jsonl", dir);
    char *held = read_all(path, NULL);
    task_set s;
    cpet_err err;
    snprintf(path, sizeof path, "%s/tasks/cloze_facts.jsonl", dir);
    cr_assert_eq(tasks_read(&s, path, NULL, &err), 0, "%s", err.msg);
    for (int i = 0; i < s.n; i += 7) {
        char sentence[512];
        snprintf(sentence, sizeof sentence, "%s%s.", s.items[i].prompt, s.items[i].choices[s.items[i].label]);
        cr_assert(strstr(train, sentence), "'%s' is not in the corpus", sentence);
    }
    tasks_free(&s);
    /* every held-out-template sentence is nowhere in the training corpus; the paraphrase file states each
     * fact in one of its relation's held-out templates */
    world w;
    cr_assert_eq(world_generate(&w, 5, world_default_sizes(), &err), 0, "%s", err.msg);
    for (int e = 0; e < w.n_entities; e += 3)
        for (int r = 0; r < world_n_relations; r++) {
            if (w.entities[e].value[r] < 0) continue;
            char sentence[300];
            for (int k = 0; k < WORLD_HELDOUT_TEMPLATES; k++) {
                world_render(&w, e, r, world_heldout_template(r, k), sentence, sizeof sentence);
                cr_expect(!strstr(train, sentence), "held-out sentence '%s' leaked into the corpus", sentence);
            }
            world_render(&w, e, r, world_heldout_template(r, (e + r) % WORLD_HELDOUT_TEMPLATES), sentence, sizeof sentence);
            cr_expect(strstr(held, sentence) != NULL, "paraphrase file lacks '%s'", sentence);
        }
    world_free(&w);
    free(train);
    free(held);
}

/* qa_two_hop: the labelled choice is the world's object through the chain its question names */
Test(world, two_hop_questions_are_answered_through_both_facts)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    world w;
    cpet_err err;
    cr_assert_eq(world_generate(&w, 5, world_default_sizes(), &err), 0, "%s", err.msg);
    world_corpus_options opt = {50, 0};
    cr_assert_eq(world_write(&w, dir, &opt, &err), 0, "%s", err.msg);
    task_set s;
    snprintf(path, sizeof path, "%s/tasks/qa_two_hop.jsonl", dir);
    cr_assert_eq(tasks_read(&s, path, NULL, &err), 0, "%s", err.msg);
    cr_assert_gt(s.n, 300);
    for (int i = 0; i < s.n; i++) {
        const task_example *x = &s.items[i];
        const int e = world_entity_index(&w, x->subject);
        cr_assert_geq(e, 0);
        int found = 0;
        for (int c = 0; c < world_n_chains && !found; c++) {
            char q[320];
            world_fill(world_chains[c].question, x->subject, "", q, sizeof q);
            if (!strstr(x->prompt, q)) continue;
            found = 1;
            const int r1 = world_relation_index(world_chains[c].first), r2 = world_relation_index(world_chains[c].second);
            char obuf[16], want[64];
            snprintf(want, sizeof want, " %s", world_object(&w, w.entities[e].value[r1], r2, obuf, sizeof obuf));
            cr_assert_str_eq(x->choices[x->label], want, "%s", x->prompt);
        }
        cr_assert(found, "%s", x->prompt);
    }
    tasks_free(&s);
    world_free(&w);
}

Test(tasks, reader_accepts_user_jsonl_and_names_bad_lines)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/user.jsonl", dir);
    write_text(path, "{\"prompt\": \"2 + 2 =\", \"choices\": [\" 4\", \" 5\"], \"label\": 0}\n\n"
                     "{\"prompt\": \"Sky:\", \"choices\": [\" green\", \" blue\", \" red\"], \"label\": 1, \"split\": \"test\"}\n");
    task_set s;
    cpet_err err;
    cr_assert_eq(tasks_read(&s, path, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.items[0].id, "line1");
    cr_assert_eq(s.items[1].label, 1);
    tasks_free(&s);
    cr_assert_eq(tasks_read(&s, path, "test", &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 1, "split filter");
    tasks_free(&s);
    write_text(path, "{\"prompt\": \"a\", \"choices\": [\" b\", \" c\"], \"label\": 0}\n{\"prompt\": \"a\", \"choices\": [\" b\"\n");
    cr_assert_neq(tasks_read(&s, path, NULL, &err), 0);
    cr_assert(strstr(err.msg, "user.jsonl:2:") && strstr(err.msg, "not valid JSON"), "%s", err.msg);
    write_text(path, "{\"prompt\": \"a\", \"choices\": [\" b\", \" c\"], \"label\": 2}\n");
    cr_assert_neq(tasks_read(&s, path, NULL, &err), 0);
    cr_assert(strstr(err.msg, "user.jsonl:1:") && strstr(err.msg, "label 2"), "%s", err.msg);
    cr_assert_neq(tasks_read(&s, "/nonexistent/tasks.jsonl", NULL, &err), 0);
    cr_assert(strstr(err.msg, "/nonexistent/tasks.jsonl"), "%s", err.msg);
}

Test(corpus, empty_corpus_is_an_error)
{
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    write_text(path, "\n\n\n");
    corpus c;
    cpet_err err;
    cr_assert_neq(corpus_read(&c, path, &err), 0);
    cr_assert(strstr(err.msg, "empty.txt") && strstr(err.msg, "empty"), "%s", err.msg);
}

/* ---- reproducible pretraining through the CLI: world, tokenizer, loss curve; resume equals straight ---- */

static void run_ok(const char *cmd)
{
    char out[8192];
    int st = run_capture(cmd, out, sizeof out);
    cr_assert_eq(st, 0, "%s\n%s", cmd, out);
}

static json_t *curve_of(const char *model_dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/pretrain.json", model_dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j, "%s: %s", path, jerr.text);
    json_t *c = json_incref(json_object_get(j, "loss_curve"));
    json_decref(j);
    return c;
}

#define TINY "--dim 32 --layers 2 --heads 4 --kv-heads 2 --seq 32 --batch 4 --threads 2 --ckpt-every 3 --warmup 0 --lr 1e-2"

Test(pretrain, same_seed_same_everything_and_resume_is_exact, .timeout = 240)
{
    char d[256], cmd[8192], p1[600], p2[600];
    make_temp_dir(d, sizeof d);
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s world --seed 11 --docs 400 -o %s/w%d && %s tokenizer-train --vocab-size 400 -o %s/w%d/tok.json %s/w%d/corpus_train.jsonl",
                 CPET_BINARY, d, k, CPET_BINARY, d, k, d, k);
        run_ok(cmd);
    }
    snprintf(p1, sizeof p1, "%s/w0/tok.json", d);
    snprintf(p2, sizeof p2, "%s/w1/tok.json", d);
    cr_assert(same_file(p1, p2), "same corpus, same tokenizer");
    const char *base = "%s pretrain --corpus %s/w0/corpus_train.jsonl --tokenizer %s/w0/tok.json --seed 4 " TINY;
    char prefix[2048];
    snprintf(prefix, sizeof prefix, base, CPET_BINARY, d, d);
    snprintf(cmd, sizeof cmd, "%s --steps 8 -o %s/a", prefix, d);
    run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s --steps 8 -o %s/b", prefix, d);
    run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s --steps 8 --stop-after 5 -o %s/c && %s --steps 8 --resume -o %s/c", prefix, d, prefix, d);
    run_ok(cmd);
    snprintf(p1, sizeof p1, "%s/a", d);
    json_t *a = curve_of(p1);
    snprintf(p1, sizeof p1, "%s/b", d);
    json_t *b = curve_of(p1);
    snprintf(p1, sizeof p1, "%s/c", d);
    json_t *c = curve_of(p1);
    cr_assert_eq(json_array_size(a), 8);
    cr_assert_eq(json_array_size(c), 8, "the resumed run continues the curve");
    for (size_t i = 0; i < 8; i++) {
        double x = json_real_value(json_array_get(a, i)), y = json_real_value(json_array_get(b, i)),
               z = json_real_value(json_array_get(c, i));
        cr_expect_eq(x, y, "step %zu: %.9g vs %.9g (same seed)", i, x, y);
        cr_expect_eq(x, z, "step %zu: %.9g vs %.9g (resumed)", i, x, z);
    }
    cr_assert_lt(json_real_value(json_array_get(a, 7)), json_real_value(json_array_get(a, 0)), "the loss goes down");
    snprintf(p1, sizeof p1, "%s/a/model.safetensors", d);
    snprintf(p2, sizeof p2, "%s/c/model.safetensors", d);
    cr_assert(same_file(p1, p2), "resumed weights equal straight-through weights");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

Test(pretrain, bad_inputs_fail_cleanly)
{
    char d[256], cmd[4096], out[4096];
    make_temp_dir(d, sizeof d);
    snprintf(cmd, sizeof cmd, "%s world --seed 1 --docs 400 -o %s/w && %s tokenizer-train --vocab-size 300 -o %s/tok.json %s/w/corpus_train.jsonl && printf '\\n' > %s/empty.txt && printf '{\"prompt\": 1}\\n' > %s/bad.jsonl",
             CPET_BINARY, d, CPET_BINARY, d, d, d, d);
    run_ok(cmd);
    snprintf(cmd, sizeof cmd, "%s pretrain --corpus %s/empty.txt --tokenizer %s/tok.json -o %s/m " TINY, CPET_BINARY, d, d, d);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "empty.txt") && strstr(out, "empty") && count_lines(out) == 1, "%s", out);
    snprintf(cmd, sizeof cmd, "%s pretrain --corpus %s/w/corpus_train.jsonl --tokenizer %s/tok.json --eval %s/bad.jsonl --steps 2 -o %s/m " TINY,
             CPET_BINARY, d, d, d, d);
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "bad.jsonl:1:") && count_lines(out) == 1, "%s", out);
}

/* evaluation plumbing: accuracy follows the scores, perplexity is exp(mean NLL) */
Test(evaluate, accuracy_and_perplexity_follow_the_model)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tok.json", dir);
    /* a byte-level tokenizer whose ids stay inside the fixture's 320-token vocabulary */
    const char *docs[] = {"abc abd abe"};
    size_t lens[] = {11};
    tokenizer t;
    cr_assert_eq(tokenizer_train(&t, docs, lens, 1, 300, NULL, 0, &err), 0, "%s", err.msg);
    task_set s = {0};
    char *choices[3] = {" abc", " abd", " abe"};
    for (int i = 0; i < 6; i++) {
        task_example ex = {.id = "x", .prompt = i % 2 ? "abe abc" : "abd", .choices = choices, .n_choices = 3, .label = i % 3};
        tasks_add(&s, &ex);
    }
    mc_result r;
    int pred[6];
    double lp[18];
    cr_assert_eq(eval_multiple_choice(&m, &t, &s, 1, 4, &r, pred, lp, &err), 0, "%s", err.msg);
    int correct = 0;
    for (int i = 0; i < 6; i++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            if (lp[3 * i + c] > lp[3 * i + best]) best = c;
        cr_assert_eq(pred[i], best);
        correct += best == s.items[i].label;
    }
    cr_assert_float_eq(r.acc, correct / 6.0, 1e-12);
    cr_assert_float_eq(r.chance, 1.0 / 3, 1e-12);
    char *doc[] = {"abc abd abe abc"};
    size_t dl[] = {15};
    ppl_result p;
    cr_assert_eq(eval_perplexity(&m, &t, doc, dl, 1, 1, 8, &p, &err), 0, "%s", err.msg);
    int *ids, n;
    cr_assert_eq(tokenizer_encode(&t, doc[0], dl[0], &ids, &n, &err), 0);
    int seq[32] = {1};
    memcpy(seq + 1, ids, (size_t)n * sizeof(int));
    cr_assert_eq(model_forward(&m, seq, NULL, 1, n + 1, &err), 0, "%s", err.msg);
    cr_assert_eq(p.tokens, n);
    cr_assert_float_eq(p.ppl, exp(m.loss), 1e-4 * p.ppl);
    free(ids);
    tasks_free(&s);
    tokenizer_free(&t);
    model_free(&m);
}

/* Held-out perplexity batches its windows by length: each document's NLL is still the sum of its own
 * windows' (each run alone here), documents longer than the window included, whatever the batch size */
Test(evaluate, perplexity_per_document_is_its_windows_run_alone)
{
    cpet_err err;
    model m;
    cr_assert_eq(model_load(&m, FIXTURE_DIR, &err), 0, "%s", err.msg);
    const char *train[] = {"abc abd abe"};
    size_t train_len[] = {11};
    tokenizer t;
    cr_assert_eq(tokenizer_train(&t, train, train_len, 1, 300, NULL, 0, &err), 0, "%s", err.msg);
    enum { N = 5 };
    char long_doc[2048] = "";
    for (int i = 0; i < 120; i++) strcat(long_doc, i % 3 ? " abd" : " abe abc");
    char *docs[N] = {"abe abc abd abe abc", long_doc, "ab", "abd abd abe abc abe abd abc abc", "abc abe"};
    size_t lens[N];
    for (int d = 0; d < N; d++) lens[d] = strlen(docs[d]);
    const int W = m.rope_len;
    double want[N] = {0}, want_total = 0;
    long want_tokens[N] = {0}, windows_of_long = 0;
    for (int d = 0; d < N; d++) { /* the reference: [BOS] + tokens, every window forwarded on its own */
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&t, docs[d], lens[d], &ids, &n, &err), 0, "%s", err.msg);
        int *seq = malloc((size_t)(n + 1) * sizeof(int)), *tgt = malloc((size_t)(n + 1) * sizeof(int));
        seq[0] = 1;
        memcpy(seq + 1, ids, (size_t)n * sizeof(int));
        for (int s = 0; s + 1 < n + 1; s += W) {
            int len = n + 1 - s < W ? n + 1 - s : W;
            for (int i = 0; i < len; i++) tgt[i] = i + 1 < len ? seq[s + i + 1] : -1;
            cr_assert_eq(model_forward(&m, seq + s, tgt, 1, len, &err), 0, "%s", err.msg);
            want[d] += (double)m.loss * m.n_targets;
            want_tokens[d] += m.n_targets;
            windows_of_long += d == 1;
        }
        want_total += want[d];
        free(seq);
        free(tgt);
        free(ids);
    }
    cr_assert_geq(windows_of_long, 2, "the long document spans %ld window(s) of %d", windows_of_long, W);
    for (int batch = 1; batch <= 4; batch += 3) {
        double got[N];
        long got_tokens[N], total_tokens = 0;
        ppl_result p;
        cr_assert_eq(eval_perplexity_docs(&m, &t, docs, lens, N, 1, batch, &p, got, got_tokens, &err), 0, "%s", err.msg);
        for (int d = 0; d < N; d++) {
            cr_expect_eq(got_tokens[d], want_tokens[d], "batch %d, document %d: %ld tokens, want %ld", batch, d, got_tokens[d],
                         want_tokens[d]);
            cr_expect(fabs(got[d] - want[d]) <= 1e-4 * fabs(want[d]), "batch %d, document %d: NLL %.6f, want %.6f", batch, d,
                      got[d], want[d]);
            total_tokens += want_tokens[d];
        }
        cr_expect_eq(p.tokens, total_tokens);
        cr_expect(fabs(p.nll - want_total) <= 1e-4 * want_total, "batch %d: total NLL %.6f, want %.6f", batch, p.nll, want_total);
        cr_expect_float_eq(p.ppl, exp(want_total / (double)total_tokens), 1e-4 * p.ppl);
    }
    tokenizer_free(&t);
    model_free(&m);
}

/* The world's and the profile's new options: a bad value is one line naming it, a nonzero exit, no output */
Test(world, bad_corpus_options_and_profiles_are_one_clear_line, .timeout = 60)
{
    char dir[256], cmd[1024], out[4096], path[600];
    make_temp_dir(dir, sizeof dir);
    const char *bad[][2] = {{"world --seed 1 --templates 9 -o %s/w", "--templates"},
                            {"world --seed 1 --docs 0 -o %s/w", "--docs"},
                            {"run " CPET_SOURCE_DIR "/reports/specs/adaptation.json --profile slow -o %s/r", "profile 'slow'"},
                            {"edit --method eren --hops 3 --edits x.jsonl --model m -o %s/e.json", "--hops"}};
    for (int k = 0; k < 4; k++) {
        char args[512];
        snprintf(args, sizeof args, bad[k][0], dir);
        snprintf(cmd, sizeof cmd, "%s %s", CPET_BINARY, args);
        cr_assert_neq(run_capture(cmd, out, sizeof out), 0, "%s", cmd);
        cr_assert(count_lines(out) == 1 && strstr(out, bad[k][1]), "%s\n%s", cmd, out);
    }
    snprintf(path, sizeof path, "%s/w/world.json", dir);
    cr_assert_neq(access(path, F_OK), 0, "no world written");
    snprintf(path, sizeof path, "%s/r/spec.json", dir);
    cr_assert_neq(access(path, F_OK), 0, "no run started");
}

