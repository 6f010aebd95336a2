/* Byte-level BPE: hand-built tokenizer.json with known merges, round trips on random UTF-8, the trainer's
 * output read back, both merge formats, LLaMA-3 style pre-tokenizers, bad input. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tensor.h"
#include "tokenizer.h"

/* GPT-2's bytes_to_unicode, written from its definition (independently of the engine's table) */
static void byte_symbol(int b, char *out)
{
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = b;
    if (!printable) {
        cp = 256;
        for (int x = 0; x < b; x++) cp += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255));
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* vocab: 256 byte symbols (id = byte), then the merges' results; merges as given */
static void write_tokenizer(const char *path, const char *const merges[][2], int n_merges, int legacy, json_t *pre,
                            int ignore_merges)
{
    json_t *vocab = json_object(), *m = json_array();
    char s[4];
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    for (int i = 0; i < n_merges; i++) {
        char joined[64];
        snprintf(joined, sizeof joined, "%s%s", merges[i][0], merges[i][1]);
        json_object_set_new(vocab, joined, json_integer(256 + i));
        if (legacy) {
            char sp[64];
            snprintf(sp, sizeof sp, "%s %s", merges[i][0], merges[i][1]);
            json_array_append_new(m, json_string(sp));
        } else {
            json_array_append_new(m, json_pack("[ss]", merges[i][0], merges[i][1]));
        }
    }
    json_t *j = json_pack("{s:[{s:i, s:s, s:b}], s:n, s:o, s:{s:s, s:b, s:o, s:o}}", "added_tokens", "id", 300,
                          "content", "<|eot|>", "special", 1, "normalizer", "pre_tokenizer",
                          pre ? pre : json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 1),
                          "model", "type", "BPE", "ignore_merges", ignore_merges, "vocab", vocab, "merges", m);
    cr_assert_eq(json_dump_file(j, path, 0), 0);
    json_decref(j);
}

/* ids: bytes are their own ids (Ġ = space = 32); merges get 256.. in rank order */
static const char *const MERGES[][2] = {
    {"h", "e"},               /* 256 he */
    {"e", "l"},               /* 257 el */
    {"l", "l"},               /* 258 ll */
    {"he", "ll"},             /* 259 hell */
    {"hell", "o"},            /* 260 hello */
    {"\xc4\xa0", "w"},        /* 261 Ġw */
    {"\xc4\xa0", "\xc4\xa0"}, /* 262 ĠĠ */
    {"3", "4"},               /* 263 34 */
};
#define N_MERGES 8

static void expect_ids(const tokenizer *t, const char *text, const int *want, int n_want)
{
    int *ids, n;
    cpet_err err;
    cr_assert_eq(tokenizer_encode(t, text, strlen(text), &ids, &n, &err), 0, "%s", err.msg);
    cr_expect_eq(n, n_want, "'%s': %d ids, expected %d", text, n, n_want);
    for (int i = 0; i < n && i < n_want; i++) cr_expect_eq(ids[i], want[i], "'%s' id %d: %d, expected %d", text, i, ids[i], want[i]);
    char *back;
    size_t len;
    cr_assert_eq(tokenizer_decode(t, ids, n, &back, &len, &err), 0, "%s", err.msg);
    cr_expect(len == strlen(text) && memcmp(back, text, len) == 0, "decode('%s') gave '%s'", text, back);
    free(back);
    free(ids);
}

static void load_written(tokenizer *t, int legacy, json_t *pre, int ignore_merges)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_tokenizer(path, MERGES, N_MERGES, legacy, pre, ignore_merges);
    cpet_err err;
    cr_assert_eq(tokenizer_load(t, path, &err), 0, "%s", err.msg);
}

static void check_gpt2_behaviour(int legacy)
{
    tokenizer t;
    load_written(&t, legacy, NULL, 0);
    cr_assert_eq(t.vocab_size, 301);
    expect_ids(&t, "hello", (int[]){260}, 1);
    /* pieces "hello" " hello" " world": Ġ stays apart from hello (no Ġh merge); Ġw merges */
    expect_ids(&t, "hello hello world", (int[]){260, 32, 260, 261, 111, 114, 108, 100}, 8);
    /* rank order: in "yellow" e+l (rank 1) comes before l+l (rank 2), leaving y el l o w */
    expect_ids(&t, "yellow", (int[]){121, 257, 108, 111, 119}, 5);
    /* \s+(?!\S): of three spaces before a word, two form a piece (ĠĠ) and one joins the word */
    expect_ids(&t, "a   b", (int[]){97, 262, 32, 98}, 4);
    /* digits are one piece under the GPT-2 regex, so 3+4 merges */
    expect_ids(&t, "12345", (int[]){49, 50, 263, 53}, 4);
    /* added tokens are cut out before pre-tokenization */
    expect_ids(&t, "<|eot|>hello<|eot|>", (int[]){300, 260, 300}, 3);
    tokenizer_free(&t);
}

Test(tokenizer, known_merges_pair_format) { check_gpt2_behaviour(0); }
Test(tokenizer, known_merges_legacy_string_format) { check_gpt2_behaviour(1); }

Test(tokenizer, llama3_split_regex_and_ignore_merges)
{
    json_t *pre = json_pack(
        "{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}", "type", "Sequence", "pretokenizers", "type", "Split",
        "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0);
    tokenizer t;
    load_written(&t, 0, pre, 1);
    /* digits split in groups of three: "123" "45", so 3+4 never meet */
    expect_ids(&t, "12345", (int[]){49, 50, 51, 52, 53}, 5);
    /* ignore_merges: a piece already in the vocab is one token */
    expect_ids(&t, "hello", (int[]){260}, 1);
    tokenizer_free(&t);
}

/* random valid UTF-8 mixing ASCII, whitespace runs, accents, combining marks, Greek, CJK, emoji, specials */
static size_t random_utf8(cpet_rng *r, char *buf, size_t cap)
{
    static const int ranges[][2] = {{0x20, 0x7E}, {0x09, 0x0A}, {0x20, 0x20}, {0xC0, 0xFF}, {0x300, 0x36F},
                                    {0x391, 0x3C9}, {0x4E00, 0x9FFF}, {0x1F300, 0x1FAFF}, {0x0D, 0x0D}, {0x80, 0x9F}};
    size_t n = 0, want = 1 + rng_next(r) % 80;
    while (n + 16 < cap && want--) {
        if (rng_next(r) % 40 == 0) {
            memcpy(buf + n, "<|endoftext|>", 13);
            n += 13;
            continue;
        }
        const int *rg = ranges[rng_next(r) % 10];
        int cp = rg[0] + (int)(rng_next(r) % (uint64_t)(rg[1] - rg[0] + 1));
        if (cp < 0x80) buf[n++] = (char)cp;
        else if (cp < 0x800) { buf[n++] = (char)(0xC0 | (cp >> 6)); buf[n++] = (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            buf[n++] = (char)(0xE0 | (cp >> 12));
            buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            buf[n++] = (char)(0xF0 | (cp >> 18));
            buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    buf[n] = 0;
    return n;
}

static void train_mixed(tokenizer *t, int n_docs)
{
    cpet_rng r;
    rng_seed(&r, 99);
    char **docs = malloc((size_t)n_docs * sizeof(char *));
    size_t *lens = malloc((size_t)n_docs * sizeof(size_t));
    const char *phrases[] = {"the river flows ", "Caf\xc3\xa9 na\xc3\xafve ", "\xe4\xb8\xad\xe6\x96\x87 ", "  indented\t", "\xf0\x9f\x9a\x80 "};
    for (int d = 0; d < n_docs; d++) {
        docs[d] = malloc(512);
        size_t n = 0;
        for (int k = 0; k < 6; k++) {
            const char *p = phrases[rng_next(&r) % 5];
            memcpy(docs[d] + n, p, strlen(p));
            n += strlen(p);
        }
        n += random_utf8(&r, docs[d] + n, 512 - n);
        lens[d] = n;
    }
    const char *specials[] = {"<|endoftext|>"};
    cpet_err err;
    cr_assert_eq(tokenizer_train(t, (const char *const *)docs, lens, n_docs, 700, specials, 1, &err), 0, "%s", err.msg);
    for (int d = 0; d < n_docs; d++) free(docs[d]);
    free(docs);
    free(lens);
}

Test(tokenizer, round_trip_random_utf8_many_seeds, .timeout = 120)
{
    tokenizer t;
    train_mixed(&t, 300);
    cr_assert_gt(t.n_merges, 100, "the trainer should find merges (%d)", t.n_merges);
    char buf[2048];
    for (uint64_t seed = 0; seed < 500; seed++) {
        cpet_rng r;
        rng_seed(&r, seed);
        size_t n = random_utf8(&r, buf, sizeof buf);
        int *ids, n_ids;
        char *back;
        size_t len;
        cpet_err err;
        cr_assert_eq(tokenizer_encode(&t, buf, n, &ids, &n_ids, &err), 0, "seed %lu: %s", (unsigned long)seed, err.msg);
        cr_assert_eq(tokenizer_decode(&t, ids, n_ids, &back, &len, &err), 0, "seed %lu: %s", (unsigned long)seed, err.msg);
        cr_assert(len == n && memcmp(back, buf, n) == 0, "seed %lu: round trip differs", (unsigned long)seed);
        free(ids);
        free(back);
    }
    tokenizer_free(&t);
}

Test(tokenizer, trained_file_reads_back_and_encodes_the_same, .timeout = 120)
{
    tokenizer t, back;
    train_mixed(&t, 200);
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cpet_err err;
    cr_assert_eq(tokenizer_save(&t, path, &err), 0, "%s", err.msg);
    cr_assert_eq(tokenizer_load(&back, path, &err), 0, "%s", err.msg);
    cr_assert_eq(back.vocab_size, t.vocab_size);
    cr_assert_eq(back.n_merges, t.n_merges);
    cr_assert_eq(tokenizer_id(&back, "<|endoftext|>"), 0);
    char buf[2048];
    for (uint64_t seed = 1000; seed < 1100; seed++) {
        cpet_rng r;
        rng_seed(&r, seed);
        size_t n = random_utf8(&r, buf, sizeof buf);
        int *a, *b, na, nb;
        cr_assert_eq(tokenizer_encode(&t, buf, n, &a, &na, &err), 0);
        cr_assert_eq(tokenizer_encode(&back, buf, n, &b, &nb, &err), 0);
        cr_assert(na == nb && memcmp(a, b, (size_t)na * sizeof(int)) == 0, "seed %lu encodes differently", (unsigned long)seed);
        free(a);
        free(b);
    }
    tokenizer_free(&back);
    tokenizer_free(&t);
}

Test(tokenizer, same_corpus_same_tokenizer)
{
    tokenizer a, b;
    train_mixed(&a, 100);
    train_mixed(&b, 100);
    cr_assert_eq(a.n_merges, b.n_merges);
    cr_assert_arr_eq(a.merge_left, b.merge_left, (size_t)a.n_merges * sizeof(int));
    cr_assert_arr_eq(a.merge_right, b.merge_right, (size_t)a.n_merges * sizeof(int));
    tokenizer_free(&a), tokenizer_free(&b);
}

/* ---- bad input ---- */

static void expect_cli_error(const char *cmd, const char *part1, const char *part2)
{
    char out[4096];
    int status = run_capture(cmd, out, sizeof out);
    cr_assert_neq(status, 0, "expected failure: %s", out);
    cr_expect_eq(count_lines(out), 1, "one line expected:\n%s", out);
    cr_expect(strstr(out, part1) != NULL, "should mention '%s': %s", part1, out);
    cr_expect(strstr(out, part2) != NULL, "should mention '%s': %s", part2, out);
}

Test(tokenizer_errors, corrupted_tokenizer_json)
{
    char dir[256], path[512], cmd[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_tokenizer(path, MERGES, N_MERGES, 0, NULL, 0);
    cr_assert_eq(truncate(path, 500), 0);
    snprintf(cmd, sizeof cmd, "echo hello | %s tokenize --tokenizer %s", CPET_BINARY, path);
    expect_cli_error(cmd, "tokenizer.json:", "malformed JSON");
}

Test(tokenizer_errors, merge_with_a_token_missing_from_the_vocab)
{
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    static const char *const bad[][2] = {{"h", "e"}, {"q", "zz"}};
    write_tokenizer(path, bad, 2, 0, NULL, 0);
    /* write_tokenizer adds every merge result to the vocab; "zz" itself is not there */
    tokenizer t;
    cpet_err err;
    cr_assert_neq(tokenizer_load(&t, path, &err), 0);
    cr_assert(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "merge 1"), "%s", err.msg);
}

Test(tokenizer_errors, unknown_token_ids_in_decode)
{
    char dir[256], path[512], cmd[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_tokenizer(path, MERGES, N_MERGES, 0, NULL, 0);
    snprintf(cmd, sizeof cmd, "echo '[104, 5000]' | %s detokenize --tokenizer %s", CPET_BINARY, path);
    expect_cli_error(cmd, "stdin:1", "token id 5000 at position 1 is not in the vocabulary");
    snprintf(cmd, sizeof cmd, "echo '[104, 280]' | %s detokenize --tokenizer %s", CPET_BINARY, path);
    expect_cli_error(cmd, "stdin:1", "token id 280");
}

Test(tokenizer_errors, empty_corpus_and_invalid_utf8)
{
    char dir[256], cmd[1024], path[512];
    make_temp_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "printf '\\n\\n' | %s tokenizer-train --vocab-size 300 -o %s/t.json", CPET_BINARY, dir);
    expect_cli_error(cmd, "tokenizer-train", "corpus is empty");
    snprintf(path, sizeof path, "%s/t.json", dir);
    cr_assert_eq(access(path, F_OK), -1, "no tokenizer written");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_tokenizer(path, MERGES, N_MERGES, 0, NULL, 0);
    snprintf(cmd, sizeof cmd, "printf 'ok\\n\\377\\376\\n' | %s tokenize --tokenizer %s", CPET_BINARY, path);
    char out[4096];
    int status = run_capture(cmd, out, sizeof out);
    cr_assert_neq(status, 0);
    cr_assert(strstr(out, "document 2") && strstr(out, "not valid UTF-8"), "%s", out);
}
