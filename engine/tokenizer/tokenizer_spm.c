/* SentencePiece-style BPE in tokenizer.json (LLaMA-2, Mistral), as HF tokenizers runs it.
 *
 * Tokens are plain UTF-8 with "▁" (U+2581) standing for a space. Encoding a text segment (the text between
 * added tokens):
 *   1. the normalizer steps, in order: Prepend ("▁" before a non-empty segment: LLaMA-2's "legacy" files
 *      put it before every segment, after special tokens too) and Replace (" " -> "▁");
 *   2. or the Metaspace pre-tokenizer: spaces become the replacement, which is prepended unless the segment
 *      already starts with it (prepend_scheme "always"; "first": only the segment that begins the text;
 *      "never"), and split=true cuts before every replacement;
 *   3. BPE on each piece: its characters, those outside the vocab as their <0xNN> byte tokens
 *      (byte_fallback) or <unk> (consecutive ones fused into one when fuse_unk), then the merges.
 * Decoding runs the decoder chain on the token strings: Replace ("▁" -> " "), ByteFallback (a run of byte
 * tokens becomes its UTF-8 text, or one U+FFFD per byte when it is not UTF-8), Fuse, Strip (LLaMA-2's drops
 * the one leading space the prepend added), or Metaspace (the replacement becomes a space, and is dropped
 * from the first token unless prepend_scheme is "never"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "tokenizer_spm.h"

#define REPLACEMENT_CHAR "\xef\xbf\xbd"

/* s with every (non-overlapping, left to right) a replaced by b */
static void replace_all(strbuf *out, const char *s, size_t n, const char *a, const char *b)
{
    const size_t na = strlen(a), nb = strlen(b);
    out->len = 0;
    strbuf_put(out, "", 0);
    for (size_t i = 0; i < n;) {
        if (na && i + na <= n && !memcmp(s + i, a, na)) {
            strbuf_put(out, b, nb);
            i += na;
        } else {
            strbuf_put(out, s + i, 1);
            i++;
        }
    }
}

/* ---- reading ---- */

int spm_detect(json_t *root)
{
    json_t *model = json_object_get(root, "model"), *norm = json_object_get(root, "normalizer"), *pre = json_object_get(root, "pre_tokenizer"),
           *dec = json_object_get(root, "decoder");
    if (json_is_true(json_object_get(model, "byte_fallback"))) return 1;
    if (norm && !json_is_null(norm)) return 1;
    const char *pt = json_string_value(json_object_get(pre, "type")), *dt = json_string_value(json_object_get(dec, "type"));
    if (pt && !strcmp(pt, "Metaspace")) return 1;
    return dt && strcmp(dt, "ByteLevel") != 0;
}

static const char *type_of(json_t *o) { return json_string_value(json_object_get(o, "type")); }

static int add_step(tokenizer_step *steps, int *n, tokenizer_step s, const char *path, const char *what, cpet_err *err)
{
    if (*n == TOKENIZER_MAX_STEPS) return cpet_fail(err, "%s: more than %d %s steps", path, TOKENIZER_MAX_STEPS, what);
    steps[(*n)++] = s;
    return 0;
}

/* Replace's pattern: {"String": s} (a Regex pattern is not read) */
static const char *replace_pattern(json_t *o, const char *path, const char *what, cpet_err *err)
{
    json_t *pat = json_object_get(o, "pattern");
    const char *s = json_string_value(json_object_get(pat, "String"));
    if (!s || !json_is_string(json_object_get(o, "content"))) {
        cpet_fail(err, "%s: %s Replace needs a String pattern and a content (a Regex pattern is not supported)", path, what);
        return NULL;
    }
    return s;
}

static int read_normalizer(tokenizer *t, json_t *n, const char *path, cpet_err *err)
{
    if (!n || json_is_null(n)) return 0;
    const char *type = type_of(n);
    if (!type) return cpet_fail(err, "%s: normalizer has no type", path);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (read_normalizer(t, json_array_get(list, i), path, err) != 0) return -1;
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *p = json_string_value(json_object_get(n, "prepend"));
        if (!p) return cpet_fail(err, "%s: normalizer Prepend has no 'prepend' string", path);
        return add_step(t->norm, &t->n_norm, (tokenizer_step){TSTEP_PREPEND, strdup(p), NULL, 0, 0}, path, "normalizer", err);
    }
    if (!strcmp(type, "Replace")) {
        const char *a = replace_pattern(n, path, "normalizer", err);
        if (!a) return -1;
        return add_step(t->norm, &t->n_norm, (tokenizer_step){TSTEP_REPLACE, strdup(a), strdup(json_string_value(json_object_get(n, "content"))), 0, 0},
                        path, "normalizer", err);
    }
    return cpet_fail(err, "%s: normalizer '%s' is not supported (Sequence, Prepend and Replace are)", path, type);
}

/* Metaspace's prepend scheme: "first" / "always" / "never", or the older add_prefix_space flag */
static int prepend_scheme(json_t *o, int *scheme, const char *path, cpet_err *err)
{
    const char *s = json_string_value(json_object_get(o, "prepend_scheme"));
    if (!s) {
        json_t *aps = json_object_get(o, "add_prefix_space");
        *scheme = !aps || json_is_true(aps) ? PREPEND_ALWAYS : PREPEND_NEVER;
        return 0;
    }
    if (!strcmp(s, "first")) *scheme = PREPEND_FIRST;
    else if (!strcmp(s, "always")) *scheme = PREPEND_ALWAYS;
    else if (!strcmp(s, "never")) *scheme = PREPEND_NEVER;
    else return cpet_fail(err, "%s: Metaspace prepend_scheme '%s' is not first, always or never", path, s);
    return 0;
}

static const char *replacement_of(json_t *o)
{
    const char *r = json_string_value(json_object_get(o, "replacement"));
    return r ? r : "\xe2\x96\x81";
}

static int read_pre_tokenizer(tokenizer *t, json_t *p, const char *path, cpet_err *err)
{
    if (!p || json_is_null(p)) return 0;
    const char *type = type_of(p);
    if (type && !strcmp(type, "Sequence") && json_array_size(json_object_get(p, "pretokenizers")) == 1)
        return read_pre_tokenizer(t, json_array_get(json_object_get(p, "pretokenizers"), 0), path, err);
    if (!type || strcmp(type, "Metaspace"))
        return cpet_fail(err, "%s: pre_tokenizer '%s' is not supported with SentencePiece-style BPE (Metaspace or none)", path, type ? type : "?");
    t->metaspace = 1;
    t->metaspace_rep = strdup(replacement_of(p));
    json_t *split = json_object_get(p, "split");
    t->metaspace_split = !split || json_is_true(split);
    return prepend_scheme(p, &t->prepend_scheme, path, err);
}

static int read_decoder(tokenizer *t, json_t *d, const char *path, cpet_err *err)
{
    if (!d || json_is_null(d)) return 0;
    const char *type = type_of(d);
    if (!type) return cpet_fail(err, "%s: decoder has no type", path);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(d, "decoders");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (read_decoder(t, json_array_get(list, i), path, err) != 0) return -1;
        return 0;
    }
    tokenizer_step s = {0};
    if (!strcmp(type, "Replace")) {
        const char *a = replace_pattern(d, path, "decoder", err);
        if (!a) return -1;
        s = (tokenizer_step){TSTEP_REPLACE, strdup(a), strdup(json_string_value(json_object_get(d, "content"))), 0, 0};
    } else if (!strcmp(type, "ByteFallback")) {
        s.kind = TSTEP_BYTE_FALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        s.kind = TSTEP_FUSE;
    } else if (!strcmp(type, "Strip")) {
        const char *c = json_string_value(json_object_get(d, "content"));
        if (!c || !json_is_integer(json_object_get(d, "start")) || !json_is_integer(json_object_get(d, "stop")))
            return cpet_fail(err, "%s: decoder Strip needs content, start and stop", path);
        s = (tokenizer_step){TSTEP_STRIP, strdup(c), NULL, (int)json_integer_value(json_object_get(d, "start")),
                             (int)json_integer_value(json_object_get(d, "stop"))};
    } else if (!strcmp(type, "Metaspace")) {
        s = (tokenizer_step){TSTEP_METASPACE, strdup(replacement_of(d)), NULL, 0, 0};
        if (prepend_scheme(d, &s.n1, path, err) != 0) return free(s.a), -1;
    } else {
        return cpet_fail(err, "%s: decoder '%s' is not supported with SentencePiece-style BPE (Replace, ByteFallback, Fuse, Strip, Metaspace)",
                         path, type);
    }
    return add_step(t->dec, &t->n_dec, s, path, "decoder", err);
}

static char *dump(json_t *o) { return o && !json_is_null(o) ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL; }

int spm_read(tokenizer *t, json_t *root, const char *path, cpet_err *err)
{
    json_t *model = json_object_get(root, "model");
    t->style = TOKENIZER_SENTENCEPIECE;
    t->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    t->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    t->unk_id = -1;
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, unsupported[i]));
        if (v && *v) return cpet_fail(err, "%s: model.%s '%s' is not supported", path, unsupported[i], v);
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0) return cpet_fail(err, "%s: BPE dropout is not supported", path);
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (unk && (t->unk_id = tokenizer_id(t, unk)) < 0) return cpet_fail(err, "%s: unk_token '%s' is not in the vocab", path, unk);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->fallback_id[b] = tokenizer_id(t, name);
        if (t->byte_fallback && t->fallback_id[b] < 0)
            return cpet_fail(err, "%s: byte_fallback is set but the vocab has no byte token %s (it needs all 256, <0x00> to <0xFF>)", path, name);
    }
    if (read_normalizer(t, json_object_get(root, "normalizer"), path, err) != 0 ||
        read_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"), path, err) != 0 || read_decoder(t, json_object_get(root, "decoder"), path, err) != 0)
        return -1;
    t->json_normalizer = dump(json_object_get(root, "normalizer"));
    t->json_pre_tokenizer = dump(json_object_get(root, "pre_tokenizer"));
    t->json_post_processor = dump(json_object_get(root, "post_processor"));
    t->json_decoder = dump(json_object_get(root, "decoder"));
    return 0;
}

void spm_free(tokenizer *t)
{
    for (int i = 0; i < t->n_norm; i++) free(t->norm[i].a), free(t->norm[i].b);
    for (int i = 0; i < t->n_dec; i++) free(t->dec[i].a), free(t->dec[i].b);
    free(t->metaspace_rep);
    free(t->json_normalizer), free(t->json_pre_tokenizer), free(t->json_post_processor), free(t->json_decoder);
}

/* ---- encoding ---- */

/* BPE on one piece: its characters (or their byte tokens, or <unk>), then the merges */
static void encode_piece(const tokenizer *t, const char *s, size_t n, id_list *out, id_list *sym)
{
    int id;
    if (t->ignore_merges && str_map_get(&t->token_to_id, s, n, &id)) {
        id_push(out, id);
        return;
    }
    sym->n = 0;
    int last_unk = 0;
    for (size_t i = 0; i < n;) {
        int cp, l = tok_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!l) l = 1; /* the text was checked before; never here */
        if (str_map_get(&t->token_to_id, s + i, (size_t)l, &id)) {
            id_push(sym, id);
            last_unk = 0;
        } else if (t->byte_fallback) {
            for (int k = 0; k < l; k++) id_push(sym, t->fallback_id[(unsigned char)s[i + k]]);
            last_unk = 0;
        } else if (t->unk_id >= 0) {
            if (!(t->fuse_unk && last_unk)) id_push(sym, t->unk_id);
            last_unk = 1;
        }
        i += (size_t)l;
    }
    const int len = bpe_merge(t, sym->ids, sym->n);
    for (int i = 0; i < len; i++) id_push(out, sym->ids[i]);
}

void spm_encode_segment(const tokenizer *t, const char *s, size_t n, int at_start, id_list *out)
{
    strbuf cur = {0}, next = {0};
    strbuf_put(&cur, s, n);
    for (int i = 0; i < t->n_norm; i++) {
        const tokenizer_step *st = &t->norm[i];
        if (st->kind == TSTEP_PREPEND) {
            if (cur.len == 0) continue; /* HF prepends nothing to an empty string */
            next.len = 0;
            strbuf_put(&next, st->a, strlen(st->a));
            strbuf_put(&next, cur.s, cur.len);
        } else {
            replace_all(&next, cur.s, cur.len, st->a, st->b);
        }
        strbuf x = cur;
        cur = next, next = x;
    }
    id_list sym = {0};
    if (t->metaspace) {
        const char *rep = t->metaspace_rep;
        const size_t nr = strlen(rep);
        replace_all(&next, cur.s, cur.len, " ", rep);
        cur.len = 0;
        const int starts = next.len >= nr && !memcmp(next.s, rep, nr);
        if (next.len && !starts && (t->prepend_scheme == PREPEND_ALWAYS || (t->prepend_scheme == PREPEND_FIRST && at_start))) strbuf_put(&cur, rep, nr);
        strbuf_put(&cur, next.s, next.len);
        size_t from = 0;
        for (size_t i = 1; t->metaspace_split && i + nr <= cur.len; i++) /* cut before each replacement (merged with the next piece) */
            if (!memcmp(cur.s + i, rep, nr)) {
                encode_piece(t, cur.s + from, i - from, out, &sym);
                from = i;
                i += nr - 1;
            }
        if (cur.len > from) encode_piece(t, cur.s + from, cur.len - from, out, &sym);
    } else if (cur.len) {
        encode_piece(t, cur.s, cur.len, out, &sym);
    }
    free(sym.ids), free(cur.s), free(next.s);
}

/* ---- decoding: the chain over token strings ---- */

typedef struct {
    char **s;
    size_t *len;
    int n;
} token_strings;

static void set_string(token_strings *ts, int i, strbuf *b)
{
    free(ts->s[i]);
    ts->s[i] = b->s ? b->s : strdup("");
    ts->len[i] = b->len;
    *b = (strbuf){0};
}

static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        const char c = s[i];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static void run_step(const tokenizer_step *st, token_strings *ts)
{
    strbuf b = {0};
    if (st->kind == TSTEP_REPLACE) {
        for (int i = 0; i < ts->n; i++) {
            replace_all(&b, ts->s[i], ts->len[i], st->a, st->b);
            set_string(ts, i, &b);
        }
    } else if (st->kind == TSTEP_METASPACE) {
        const size_t nr = strlen(st->a);
        for (int i = 0; i < ts->n; i++) {
            b.len = 0;
            strbuf_put(&b, "", 0);
            for (size_t k = 0; k < ts->len[i];) {
                if (nr && k + nr <= ts->len[i] && !memcmp(ts->s[i] + k, st->a, nr)) {
                    if (!(i == 0 && st->n1 != PREPEND_NEVER)) strbuf_put(&b, " ", 1);
                    k += nr;
                } else {
                    strbuf_put(&b, ts->s[i] + k, 1);
                    k++;
                }
            }
            set_string(ts, i, &b);
        }
    } else if (st->kind == TSTEP_STRIP) {
        const size_t nc = strlen(st->a);
        for (int i = 0; i < ts->n; i++) {
            size_t from = 0, to = ts->len[i];
            for (int k = 0; k < st->n1 && nc && from + nc <= to && !memcmp(ts->s[i] + from, st->a, nc); k++) from += nc;
            for (int k = 0; k < st->n2 && nc && to >= from + nc && !memcmp(ts->s[i] + to - nc, st->a, nc); k++) to -= nc;
            strbuf_put(&b, ts->s[i] + from, to - from);
            set_string(ts, i, &b);
        }
    } else if (st->kind == TSTEP_FUSE) {
        strbuf_put(&b, "", 0);
        for (int i = 0; i < ts->n; i++) strbuf_put(&b, ts->s[i], ts->len[i]), free(ts->s[i]);
        ts->n = ts->n ? 1 : 0;
        if (ts->n) ts->s[0] = NULL, set_string(ts, 0, &b);
        else free(b.s);
    } else if (st->kind == TSTEP_BYTE_FALLBACK) { /* runs of byte tokens become text */
        int o = 0;
        for (int i = 0; i < ts->n;) {
            if (byte_token_value(ts->s[i], ts->len[i]) < 0) {
                ts->s[o] = ts->s[i], ts->len[o] = ts->len[i];
                o++, i++;
                continue;
            }
            int j = i;
            strbuf bytes = {0};
            strbuf_put(&bytes, "", 0);
            for (; j < ts->n && byte_token_value(ts->s[j], ts->len[j]) >= 0; j++) {
                const char c = (char)byte_token_value(ts->s[j], ts->len[j]);
                strbuf_put(&bytes, &c, 1);
                free(ts->s[j]);
            }
            if (tok_utf8_invalid_at(bytes.s, bytes.len) >= 0) {
                const size_t nb = bytes.len;
                bytes.len = 0;
                for (size_t k = 0; k < nb; k++) strbuf_put(&bytes, REPLACEMENT_CHAR, 3);
            }
            ts->s[o] = NULL;
            set_string(ts, o, &bytes);
            o++;
            i = j;
        }
        ts->n = o;
    }
}

int spm_decode(const tokenizer *t, const int *ids, int n_ids, char **out, size_t *out_len, cpet_err *err)
{
    token_strings ts = {calloc((size_t)n_ids + 1, sizeof(char *)), calloc((size_t)n_ids + 1, sizeof(size_t)), 0};
    int rc = 0;
    for (int k = 0; k < n_ids; k++) {
        const int id = ids[k];
        if (id < 0 || id >= t->vocab_size || !t->token[id]) {
            rc = cpet_fail(err, "token id %d at position %d is not in the vocabulary (size %d)", id, k, t->vocab_size);
            break;
        }
        ts.s[ts.n] = malloc(t->token_len[id] + 1);
        memcpy(ts.s[ts.n], t->token[id], t->token_len[id] + 1);
        ts.len[ts.n++] = t->token_len[id];
    }
    for (int i = 0; rc == 0 && i < t->n_dec; i++) run_step(&t->dec[i], &ts);
    strbuf all = {0};
    strbuf_put(&all, "", 0);
    for (int i = 0; i < ts.n; i++) {
        if (rc == 0) strbuf_put(&all, ts.s[i], ts.len[i]);
        free(ts.s[i]);
    }
    free(ts.s), free(ts.len);
    if (rc != 0) return free(all.s), -1;
    *out = all.s;
    if (out_len) *out_len = all.len;
    return 0;
}
