#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <jansson.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tokenizer_bpe.h"
#include "tokenizer_spm.h"

/* ---- the GPT-2 byte <-> unicode map ---- */

/* Printable bytes map to themselves; the others take codepoints 256, 257, ... in byte order. */
static void byte_tables(tokenizer *t)
{
    int next = 256;
    for (int i = 0; i < 512; i++) t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        t->byte_cp[b] = printable ? b : next++;
        t->cp_byte[t->byte_cp[b]] = (short)b;
    }
}

static int utf8_put(char *dst, int cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    dst[0] = (char)(0xC0 | (cp >> 6)); /* byte-level codepoints are all < 0x800 */
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* ---- construction ---- */

static int set_token(tokenizer *t, int id, const char *s, size_t len)
{
    if (id >= t->vocab_size) {
        int cap = t->vocab_size ? t->vocab_size : 256;
        while (cap <= id) cap *= 2;
        t->token = realloc(t->token, (size_t)cap * sizeof *t->token);
        t->token_len = realloc(t->token_len, (size_t)cap * sizeof *t->token_len);
        t->is_added = realloc(t->is_added, (size_t)cap);
        for (int i = t->vocab_size; i < cap; i++) {
            t->token[i] = NULL;
            t->token_len[i] = 0;
            t->is_added[i] = 0;
        }
        t->vocab_size = id + 1; /* shrunk to the real maximum by finish_vocab */
    }
    free(t->token[id]);
    t->token[id] = malloc(len + 1);
    memcpy(t->token[id], s, len);
    t->token[id][len] = 0;
    t->token_len[id] = len;
    return str_map_put(&t->token_to_id, s, len, id);
}

static void finish_vocab(tokenizer *t, int max_id) { t->vocab_size = max_id + 1; }

static int add_merge(tokenizer *t, int left, int right, int result)
{
    int k = t->n_merges++;
    t->merge_left = realloc(t->merge_left, (size_t)t->n_merges * sizeof(int));
    t->merge_right = realloc(t->merge_right, (size_t)t->n_merges * sizeof(int));
    t->merge_result = realloc(t->merge_result, (size_t)t->n_merges * sizeof(int));
    t->merge_left[k] = left;
    t->merge_right[k] = right;
    t->merge_result[k] = result;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    int existing;
    if (u64_map_get(&t->merge_rank, key, &existing)) return 0; /* first (lowest) rank wins */
    return u64_map_put(&t->merge_rank, key, k);
}

static int add_regex(tokenizer *t, const char *src, const char *path, cpet_err *err)
{
    if (t->n_regex == TOKENIZER_MAX_REGEX) return cpet_fail(err, "%s: too many pre-tokenizer regexes", path);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return cpet_fail(err, "%s: pre-tokenizer regex does not compile at offset %zu: %s", path, (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up; falls back to the interpreter */
    t->regex[t->n_regex] = re;
    t->regex_src[t->n_regex++] = strdup(src);
    return 0;
}

static int init_empty(tokenizer *t)
{
    memset(t, 0, sizeof *t);
    if (str_map_init(&t->token_to_id, 1024) || u64_map_init(&t->merge_rank, 1024)) return -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = t->fallback_id[b] = -1;
    t->unk_id = t->bos_id = t->eos_id = -1;
    t->add_bos = 1; /* cpet's convention for a file that says nothing: BOS first */
    byte_tables(t);
    return 0;
}

/* After the vocab is in: every byte needs its single-symbol token */
static int resolve_bytes(tokenizer *t, const char *path, cpet_err *err)
{
    for (int b = 0; b < 256; b++) {
        char s[2];
        int l = utf8_put(s, t->byte_cp[b]);
        if (!str_map_get(&t->token_to_id, s, (size_t)l, &t->byte_id[b]))
            return cpet_fail(err, "%s: the vocab lacks the byte-level symbol for byte 0x%02x (not a byte-level BPE)", path, b);
    }
    return 0;
}

/* Reads pre_tokenizer: ByteLevel (use_regex), Split (Regex/String, Isolated), or a Sequence of them. */
static int read_pretokenizer(tokenizer *t, json_t *pt, const char *path, cpet_err *err)
{
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return cpet_fail(err, "%s: pre_tokenizer has no type", path);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (read_pretokenizer(t, json_array_get(list, i), path, err) != 0) return -1;
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (json_is_true(json_object_get(pt, "add_prefix_space")))
            return cpet_fail(err, "%s: ByteLevel add_prefix_space=true is not supported", path);
        json_t *use = json_object_get(pt, "use_regex");
        return (!use || json_is_true(use)) ? add_regex(t, GPT2_SPLIT_REGEX, path, err) : 0;
    }
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *behavior = json_string_value(json_object_get(pt, "behavior"));
        if (behavior && strcmp(behavior, "Isolated") != 0)
            return cpet_fail(err, "%s: Split behavior '%s' is not supported (only Isolated)", path, behavior);
        if (json_is_true(json_object_get(pt, "invert"))) return cpet_fail(err, "%s: inverted Split is not supported", path);
        const char *rx = json_string_value(json_object_get(pat, "Regex"));
        if (rx) return add_regex(t, rx, path, err);
        return cpet_fail(err, "%s: Split pre-tokenizer needs a Regex pattern", path);
    }
    return cpet_fail(err, "%s: pre_tokenizer type '%s' is not supported", path, type);
}

static int read_model(tokenizer *t, json_t *model, int *max_id, const char *path, cpet_err *err)
{
    if (!json_is_object(model)) return cpet_fail(err, "%s: no 'model' object", path);
    const char *type = json_string_value(json_object_get(model, "type"));
    if (type && strcmp(type, "BPE") != 0)
        return cpet_fail(err, "%s: tokenizer model type '%s' is not supported (only BPE)", path, type);
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) return cpet_fail(err, "%s: model.vocab is missing or empty", path);
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 16777216)
            return cpet_fail(err, "%s: vocab entry '%s' has no valid id", path, key);
        int id = (int)json_integer_value(v);
        if (set_token(t, id, key, strlen(key)) != 0) return cpet_fail(err, "%s: out of memory", path);
        if (id > *max_id) *max_id = id;
    }
    json_t *merges = json_object_get(model, "merges");
    if (merges && !json_is_array(merges)) return cpet_fail(err, "%s: model.merges must be a list", path);
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        char left[1024], right[1024];
        if (json_is_string(m)) { /* legacy "a b": exactly one space */
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ') || (size_t)(sp - s) >= sizeof left || strlen(sp + 1) >= sizeof right)
                return cpet_fail(err, "%s: merge %zu '%s' is not two symbols separated by one space", path, i, s);
            memcpy(left, s, (size_t)(sp - s));
            left[sp - s] = 0;
            snprintf(right, sizeof right, "%s", sp + 1);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            snprintf(left, sizeof left, "%s", json_string_value(json_array_get(m, 0)));
            snprintf(right, sizeof right, "%s", json_string_value(json_array_get(m, 1)));
        } else {
            return cpet_fail(err, "%s: merge %zu is neither \"a b\" nor [a, b]", path, i);
        }
        char joined[2048];
        snprintf(joined, sizeof joined, "%s%s", left, right);
        int a, b, r;
        if (!str_map_get(&t->token_to_id, left, strlen(left), &a) || !str_map_get(&t->token_to_id, right, strlen(right), &b) ||
            !str_map_get(&t->token_to_id, joined, strlen(joined), &r))
            return cpet_fail(err, "%s: merge %zu ('%s' + '%s') uses a token missing from the vocab", path, i, left, right);
        if (add_merge(t, a, b, r) != 0) return cpet_fail(err, "%s: out of memory", path);
    }
    return 0;
}

static int read_added(tokenizer *t, json_t *list, int *max_id, const char *path, cpet_err *err)
{
    if (list && !json_is_array(list)) return cpet_fail(err, "%s: added_tokens must be a list", path);
    t->added = calloc(json_array_size(list) + 1, sizeof *t->added);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(content) || json_string_length(content) == 0)
            return cpet_fail(err, "%s: added_tokens[%zu] needs an integer id and a non-empty content", path, i);
        added_token *at = &t->added[t->n_added++];
        at->id = (int)json_integer_value(id);
        at->len = json_string_length(content);
        at->content = malloc(at->len + 1);
        memcpy(at->content, json_string_value(content), at->len + 1);
        at->special = json_is_true(json_object_get(a, "special"));
        if (set_token(t, at->id, at->content, at->len) != 0) return cpet_fail(err, "%s: out of memory", path);
        t->is_added[at->id] = 1;
        if (at->id > *max_id) *max_id = at->id;
    }
    return 0;
}

/* add_bos / add_eos from the post_processor: a TemplateProcessing whose single template starts (ends) with a
 * special token */
static void template_specials(tokenizer *t, json_t *pp)
{
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (type && !strcmp(type, "Sequence")) {
        json_t *list = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(list); i++) template_specials(t, json_array_get(list, i));
        return;
    }
    if (!type || strcmp(type, "TemplateProcessing")) return;
    json_t *single = json_object_get(pp, "single");
    const size_t n = json_array_size(single);
    json_t *first = json_object_get(json_array_get(single, 0), "SpecialToken"), *last = n > 1 ? json_object_get(json_array_get(single, n - 1), "SpecialToken") : NULL;
    t->add_bos = first != NULL;
    t->add_eos = last != NULL;
    const char *names[2] = {json_string_value(json_object_get(first, "id")), json_string_value(json_object_get(last, "id"))};
    int *ids[2] = {&t->bos_id, &t->eos_id};
    for (int i = 0; i < 2; i++)
        if (names[i]) *ids[i] = tokenizer_id(t, names[i]);
}

/* tokenizer_config.json beside the file, when there is one: add_bos_token / add_eos_token override */
static int read_tokenizer_config(tokenizer *t, const char *path, cpet_err *err)
{
    char cfg[4200];
    const char *slash = strrchr(path, '/');
    snprintf(cfg, sizeof cfg, "%.*stokenizer_config.json", slash ? (int)(slash - path + 1) : 0, path);
    FILE *f = fopen(cfg, "rb");
    if (!f) return 0;
    fclose(f);
    json_error_t je; /* integers as reals: HF writes model_max_length as 1000000000000000019884624838656 */
    json_t *j = json_load_file(cfg, JSON_DECODE_INT_AS_REAL, &je);
    if (!j) return cpet_fail(err, "%s:%d:%d: malformed JSON: %s", cfg, je.line, je.column, je.text);
    static const char *const keys[2] = {"add_bos_token", "add_eos_token"}, *tokens[2] = {"bos_token", "eos_token"};
    int *flags[2] = {&t->add_bos, &t->add_eos}, *ids[2] = {&t->bos_id, &t->eos_id}, rc = 0;
    for (int i = 0; i < 2; i++) { /* "<s>" or {"content": "<s>", ...} */
        json_t *v = json_object_get(j, tokens[i]);
        const char *name = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
        if (name && tokenizer_id(t, name) >= 0) *ids[i] = tokenizer_id(t, name);
    }
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_boolean(v)) {
            rc = cpet_fail(err, "%s: %s must be true or false", cfg, keys[i]);
            break;
        }
        *flags[i] = json_is_true(v);
    }
    json_decref(j);
    return rc;
}

int tokenizer_load(tokenizer *t, const char *path, cpet_err *err)
{
    if (init_empty(t) != 0) return cpet_fail(err, "%s: out of memory", path);
    json_t *j = json_read_file(path, err);
    if (!j) {
        tokenizer_free(t);
        return -1;
    }
    int max_id = -1, rc = -1;
    json_t *norm = json_object_get(j, "normalizer");
    const int spm = json_is_object(j) && spm_detect(j);
    if (!json_is_object(j)) cpet_fail(err, "%s: not a JSON object", path);
    else if (!spm && norm && !json_is_null(norm))
        cpet_fail(err, "%s: normalizer '%s' is not supported (byte-level BPE has none)", path,
                  json_string_value(json_object_get(norm, "type")) ? json_string_value(json_object_get(norm, "type")) : "?");
    else if (read_model(t, json_object_get(j, "model"), &max_id, path, err) == 0 &&
             read_added(t, json_object_get(j, "added_tokens"), &max_id, path, err) == 0 &&
             (spm ? spm_read(t, j, path, err) == 0
                  : read_pretokenizer(t, json_object_get(j, "pre_tokenizer"), path, err) == 0 && resolve_bytes(t, path, err) == 0)) {
        finish_vocab(t, max_id);
        template_specials(t, json_object_get(j, "post_processor"));
        rc = read_tokenizer_config(t, path, err);
    }
    json_decref(j);
    if (rc != 0) tokenizer_free(t);
    return rc;
}

int tokenizer_bos(const tokenizer *t, int model_bos_id) { return t->add_bos ? model_bos_id : -1; }
int tokenizer_eos(const tokenizer *t, int model_eos_id) { return t->add_eos ? model_eos_id : -1; }

int tokenizer_encode_bos(const tokenizer *t, int model_bos_id, const char *text, size_t len, int **ids, int *n_ids, int *bos_len, cpet_err *err)
{
    const int bos = tokenizer_bos(t, model_bos_id);
    *bos_len = bos >= 0;
    if (tokenizer_encode(t, text, len, ids, n_ids, err) != 0) return -1;
    if (bos < 0) return 0;
    int *grown = realloc(*ids, (size_t)(*n_ids + 1) * sizeof(int));
    if (!grown) return free(*ids), *ids = NULL, cpet_fail(err, "tokenizer: out of memory");
    memmove(grown + 1, grown, (size_t)*n_ids * sizeof(int));
    grown[0] = bos;
    *ids = grown, (*n_ids)++;
    return 0;
}

void tokenizer_free(tokenizer *t)
{
    for (int i = 0; i < t->vocab_size; i++) free(t->token[i]);
    free(t->token);
    free(t->token_len);
    free(t->is_added);
    str_map_free(&t->token_to_id);
    u64_map_free(&t->merge_rank);
    free(t->merge_left);
    free(t->merge_right);
    free(t->merge_result);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (int i = 0; i < t->n_regex; i++) {
        pcre2_code_free(t->regex[i]);
        free(t->regex_src[i]);
    }
    spm_free(t);
    memset(t, 0, sizeof *t);
}

/* ---- encoding ---- */

/* BPE on one pre-tokenized piece of bytes */
static void bpe_piece(const tokenizer *t, const unsigned char *s, size_t n, id_list *out, int *sym)
{
    if (t->ignore_merges) {
        char buf[4096];
        size_t bl = 0;
        for (size_t i = 0; i < n && bl + 2 < sizeof buf; i++) bl += (size_t)utf8_put(buf + bl, t->byte_cp[s[i]]);
        int id;
        if (bl < sizeof buf - 2 && str_map_get(&t->token_to_id, buf, bl, &id)) {
            id_push(out, id);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[s[i]];
    const int len = bpe_merge(t, sym, (int)n);
    for (int i = 0; i < len; i++) id_push(out, sym[i]);
}

typedef void (*piece_fn)(const tokenizer *t, const char *piece, size_t n, void *ctx);

/* Splits [s, s+n) with regex k and recurses into the next regex for each piece (gaps between matches
 * are pieces too); pieces of the last level go to fn. Shared by encoding and training. */
static void for_each_piece(const tokenizer *t, int k, const char *s, size_t n, pcre2_match_data *md, piece_fn fn,
                           void *ctx)
{
    if (n == 0) return;
    if (k == t->n_regex) {
        fn(t, s, n, ctx);
        return;
    }
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(t->regex[k], (PCRE2_SPTR)s, n, pos, 0, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t b = ov[0], e = ov[1];
        if (e == b) { /* empty match: step over one character */
            int cp, l = tok_utf8_next((const unsigned char *)s + b, n - b, &cp);
            e = b + (size_t)(l ? l : 1);
        }
        if (b > pos) for_each_piece(t, k + 1, s + pos, b - pos, md, fn, ctx);
        for_each_piece(t, k + 1, s + b, e - b, md, fn, ctx);
        pos = e;
    }
    if (pos < n) for_each_piece(t, k + 1, s + pos, n - pos, md, fn, ctx);
}

typedef struct {
    id_list *out;
    int *sym;
} encode_ctx;

static void encode_piece(const tokenizer *t, const char *piece, size_t n, void *ctx)
{
    encode_ctx *c = ctx;
    bpe_piece(t, (const unsigned char *)piece, n, c->out, c->sym);
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int **ids, int *n_ids, cpet_err *err)
{
    long bad = tok_utf8_invalid_at(text, len);
    if (bad >= 0) return cpet_fail(err, "input is not valid UTF-8 at byte %ld", bad);
    id_list out = {0};
    int *sym = malloc((len + 1) * sizeof(int));
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    encode_ctx ec = {&out, sym};
    size_t start = 0, i = 0;
    while (i < len) { /* added tokens are cut out first, longest match at the earliest position */
        int hit = -1;
        for (int a = 0; a < t->n_added; a++)
            if (t->added[a].len <= len - i && memcmp(text + i, t->added[a].content, t->added[a].len) == 0 &&
                (hit < 0 || t->added[a].len > t->added[hit].len))
                hit = a;
        if (hit < 0) {
            i++;
            continue;
        }
        if (t->style == TOKENIZER_SENTENCEPIECE) spm_encode_segment(t, text + start, i - start, start == 0, &out);
        else for_each_piece(t, 0, text + start, i - start, md, encode_piece, &ec);
        id_push(&out, t->added[hit].id);
        i += t->added[hit].len;
        start = i;
    }
    if (t->style == TOKENIZER_SENTENCEPIECE) spm_encode_segment(t, text + start, len - start, start == 0, &out);
    else for_each_piece(t, 0, text + start, len - start, md, encode_piece, &ec);
    pcre2_match_data_free(md);
    free(sym);
    *ids = out.ids ? out.ids : malloc(sizeof(int));
    *n_ids = out.n;
    return 0;
}

char *utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int cp;
        const int len = tok_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (len) {
            memcpy(out + k, s + i, (size_t)len);
            k += (size_t)len, i += (size_t)len;
        } else {
            memcpy(out + k, "\xef\xbf\xbd", 3);
            k += 3, i++;
        }
    }
    out[k] = 0;
    if (out_len) *out_len = k;
    return out;
}

int tokenizer_decode(const tokenizer *t, const int *ids, int n_ids, char **out, size_t *out_len, cpet_err *err)
{
    if (t->style == TOKENIZER_SENTENCEPIECE) return spm_decode(t, ids, n_ids, out, out_len, err);
    size_t cap = 64, len = 0;
    char *buf = malloc(cap);
    for (int k = 0; k < n_ids; k++) {
        int id = ids[k];
        if (id < 0 || id >= t->vocab_size || !t->token[id]) {
            free(buf);
            return cpet_fail(err, "token id %d at position %d is not in the vocabulary (size %d)", id, k, t->vocab_size);
        }
        if (len + t->token_len[id] + 1 > cap) {
            while (len + t->token_len[id] + 1 > cap) cap *= 2;
            buf = realloc(buf, cap);
        }
        if (t->is_added[id]) {
            memcpy(buf + len, t->token[id], t->token_len[id]);
            len += t->token_len[id];
            continue;
        }
        const unsigned char *s = (const unsigned char *)t->token[id];
        size_t i = 0;
        while (i < t->token_len[id]) {
            int cp, l = tok_utf8_next(s + i, t->token_len[id] - i, &cp);
            int byte = l && cp < 512 ? t->cp_byte[cp] : -1;
            if (byte < 0) {
                free(buf);
                return cpet_fail(err, "token id %d ('%s') is not a byte-level token", id, t->token[id]);
            }
            buf[len++] = (char)byte;
            i += (size_t)l;
        }
    }
    buf[len] = 0;
    *out = buf;
    if (out_len) *out_len = len;
    return 0;
}

/* ---- training ---- */

typedef struct {
    int *sym;
    int len;
    long count;
} train_word;

typedef struct {
    str_map seen;
    train_word *words;
    int n, cap;
} word_set;

static void collect_word(const tokenizer *t, const char *piece, size_t n, void *ctx)
{
    word_set *ws = ctx;
    int w;
    if (!str_map_get(&ws->seen, piece, n, &w)) {
        if (ws->n == ws->cap) {
            ws->cap = ws->cap ? 2 * ws->cap : 1024;
            ws->words = realloc(ws->words, (size_t)ws->cap * sizeof *ws->words);
        }
        w = ws->n++;
        str_map_put(&ws->seen, piece, n, w);
        ws->words[w].len = (int)n;
        ws->words[w].count = 0;
        ws->words[w].sym = malloc(n * sizeof(int));
        for (size_t i = 0; i < n; i++) ws->words[w].sym[i] = t->byte_id[(unsigned char)piece[i]];
    }
    ws->words[w].count++;
}

int tokenizer_train(tokenizer *t, const char *const *docs, const size_t *lens, int n_docs, int vocab_size,
                    const char *const *specials, int n_specials, cpet_err *err)
{
    if (init_empty(t) != 0) return cpet_fail(err, "out of memory");
    if (vocab_size < 256 + n_specials) {
        tokenizer_free(t);
        return cpet_fail(err, "vocab size %d is below the %d byte symbols and special tokens", vocab_size, 256 + n_specials);
    }
    t->added = calloc((size_t)n_specials + 1, sizeof *t->added);
    for (int i = 0; i < n_specials; i++) {
        added_token *at = &t->added[t->n_added++];
        at->id = i;
        at->len = strlen(specials[i]);
        at->content = strdup(specials[i]);
        at->special = 1;
        set_token(t, i, specials[i], at->len);
        t->is_added[i] = 1;
    }
    for (int b = 0; b < 256; b++) {
        char s[2];
        int l = utf8_put(s, t->byte_cp[b]);
        set_token(t, n_specials + b, s, (size_t)l);
        t->byte_id[b] = n_specials + b;
    }
    if (add_regex(t, GPT2_SPLIT_REGEX, "tokenizer", err) != 0) {
        tokenizer_free(t);
        return -1;
    }
    /* unique pre-tokenized words with their counts */
    word_set ws = {0};
    str_map_init(&ws.seen, 4096);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    for (int d = 0; d < n_docs; d++) {
        long bad = tok_utf8_invalid_at(docs[d], lens[d]);
        if (bad >= 0) {
            pcre2_match_data_free(md);
            str_map_free(&ws.seen);
            tokenizer_free(t);
            return cpet_fail(err, "document %d is not valid UTF-8 at byte %ld", d, bad);
        }
        for_each_piece(t, 0, docs[d], lens[d], md, collect_word, &ws);
    }
    pcre2_match_data_free(md);
    str_map_free(&ws.seen);
    train_word *words = ws.words;
    int n_words = ws.n;
    int next_id = n_specials + 256;
    u64_map counts;
    while (next_id < vocab_size) {
        u64_map_init(&counts, 4096);
        uint64_t best_key = 0;
        long best = 0;
        for (int w = 0; w < n_words; w++)
            for (int i = 0; i + 1 < words[w].len; i++) {
                uint64_t key = (uint64_t)(uint32_t)words[w].sym[i] << 32 | (uint32_t)words[w].sym[i + 1];
                int c = 0;
                u64_map_get(&counts, key, &c);
                c += (int)words[w].count;
                u64_map_put(&counts, key, c);
                if (c > best || (c == best && key < best_key)) {
                    best = c;
                    best_key = key;
                }
            }
        u64_map_free(&counts);
        if (best < 2) break; /* nothing left that occurs twice */
        int left = (int)(best_key >> 32), right = (int)(best_key & 0xffffffffu);
        size_t ll = t->token_len[left], rl = t->token_len[right];
        char *joined = malloc(ll + rl + 1);
        memcpy(joined, t->token[left], ll);
        memcpy(joined + ll, t->token[right], rl);
        int id = next_id++;
        set_token(t, id, joined, ll + rl);
        free(joined);
        add_merge(t, left, right, id);
        for (int w = 0; w < n_words; w++) {
            int *s = words[w].sym, len = words[w].len, o = 0;
            for (int i = 0; i < len; i++) {
                if (i + 1 < len && s[i] == left && s[i + 1] == right) {
                    s[o++] = id;
                    i++;
                } else {
                    s[o++] = s[i];
                }
            }
            words[w].len = o;
        }
    }
    for (int w = 0; w < n_words; w++) free(words[w].sym);
    free(words);
    finish_vocab(t, next_id - 1);
    return 0;
}

int tokenizer_save(const tokenizer *t, const char *path, cpet_err *err)
{
    json_t *added = json_array(), *vocab = json_object(), *merges = json_array();
    for (int i = 0; i < t->n_added; i++)
        json_array_append_new(added, json_pack("{s:i, s:s%, s:b, s:b, s:b, s:b, s:b}", "id", t->added[i].id, "content",
                                               t->added[i].content, t->added[i].len, "single_word", 0, "lstrip", 0,
                                               "rstrip", 0, "normalized", 0, "special", t->added[i].special));
    for (int id = 0; id < t->vocab_size; id++)
        if (t->token[id]) json_object_setn_new(vocab, t->token[id], t->token_len[id], json_integer(id));
    for (int k = 0; k < t->n_merges; k++)
        json_array_append_new(merges, json_pack("[s%, s%]", t->token[t->merge_left[k]], t->token_len[t->merge_left[k]],
                                                t->token[t->merge_right[k]], t->token_len[t->merge_right[k]]));
    if (t->style == TOKENIZER_SENTENCEPIECE) { /* the model's settings and the parts as they were read */
        json_t *model = json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                                  t->unk_id >= 0 ? json_string(t->token[t->unk_id]) : json_null(), "continuing_subword_prefix",
                                  "end_of_word_suffix", "fuse_unk", t->fuse_unk, "byte_fallback", t->byte_fallback, "ignore_merges",
                                  t->ignore_merges, "vocab", vocab, "merges", merges);
        const char *parts[4] = {t->json_normalizer, t->json_pre_tokenizer, t->json_post_processor, t->json_decoder};
        json_t *v[4];
        for (int i = 0; i < 4; i++) v[i] = parts[i] ? json_loads(parts[i], 0, NULL) : json_null();
        json_t *j = json_pack("{s:s, s:n, s:n, s:o, s:o, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding", "added_tokens", added,
                              "normalizer", v[0], "pre_tokenizer", v[1], "post_processor", v[2], "decoder", v[3], "model", model);
        int rc = j ? json_write_file(path, j, err) : cpet_fail(err, "%s: cannot build tokenizer JSON", path);
        json_decref(j);
        return rc;
    }
    json_t *pre;
    int default_regex = t->n_regex == 1 && strcmp(t->regex_src[0], GPT2_SPLIT_REGEX) == 0;
    if (t->n_regex == 0 || default_regex) {
        pre = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                        "use_regex", default_regex);
    } else {
        json_t *list = json_array();
        for (int i = 0; i < t->n_regex; i++)
            json_array_append_new(list, json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                                                  t->regex_src[i], "behavior", "Isolated", "invert", 0));
        json_array_append_new(list, json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                                              "trim_offsets", 1, "use_regex", 0));
        pre = json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", list);
    }
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", t->ignore_merges, "vocab", vocab, "merges", merges);
    json_t *j = json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b}, s:o}",
                          "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
                          "pre_tokenizer", pre, "post_processor", "type", "ByteLevel", "add_prefix_space", 1,
                          "trim_offsets", 0, "use_regex", 1, "decoder", "type", "ByteLevel", "add_prefix_space", 1,
                          "trim_offsets", 1, "use_regex", 1, "model", model);
    int rc = j ? json_write_file(path, j, err) : cpet_fail(err, "%s: cannot build tokenizer JSON", path);
    json_decref(j);
    return rc;
}
