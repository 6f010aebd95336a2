#include "corpus.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int corpus_push(corpus *c, int *cap, char *doc, size_t len)
{
    if (c->n == *cap) {
        *cap *= 2;
        char **d = realloc(c->docs, (size_t)*cap * sizeof(char *));
        size_t *l = d ? realloc(c->lens, (size_t)*cap * sizeof(size_t)) : NULL;
        if (d) c->docs = d;
        if (!l) return -1;
        c->lens = l;
    }
    c->docs[c->n] = doc;
    c->lens[c->n++] = len;
    return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A .jsonl corpus: {"text": ...} per line, as Hugging Face datasets write them; documents may hold
 * newlines. Each decoded text is copied over its own line (a JSON string is never shorter than the text it
 * encodes, quotes included), so the documents still point into c->text. */
static int corpus_read_jsonl(corpus *c, const char *path, char *text, size_t got, int *cap, cpet_err *err)
{
    int line_no = 0;
    for (char *line = text; line < text + got;) {
        char *nl = memchr(line, '\n', (size_t)(text + got - line));
        char *end = nl ? nl : text + got;
        line_no++;
        size_t len = (size_t)(end - line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) len--;
        if (len) {
            json_error_t je;
            json_t *o = json_loadb(line, len, 0, &je);
            json_t *t = json_is_object(o) ? json_object_get(o, "text") : NULL;
            if (!json_is_string(t)) {
                json_decref(o);
                return cpet_fail(err, "%s:%d: %s", path, line_no, o ? "a line needs a string field \"text\"" : je.text);
            }
            size_t n = json_string_length(t);
            memcpy(line, json_string_value(t), n); /* n < len: the quotes alone make the line longer */
            line[n] = 0;
            json_decref(o);
            if (n && corpus_push(c, cap, line, strlen(line) < n ? strlen(line) : n) != 0)
                return cpet_fail(err, "%s: out of memory", path);
        }
        line = end + 1;
    }
    return 0;
}

int corpus_read(corpus *c, const char *path, cpet_err *err)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(path, "rb");
    if (!fp) return cpet_fail(err, "%s: cannot open (missing file?)", path);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    c->text = malloc((size_t)(size > 0 ? size : 0) + 1);
    int cap = 256;
    c->docs = malloc((size_t)cap * sizeof(char *));
    c->lens = malloc((size_t)cap * sizeof(size_t));
    if (!c->text || !c->docs || !c->lens) {
        fclose(fp);
        corpus_free(c);
        return cpet_fail(err, "%s: out of memory", path);
    }
    size_t got = fread(c->text, 1, (size_t)(size > 0 ? size : 0), fp);
    fclose(fp);
    c->text[got] = 0;
    if (has_suffix(path, ".jsonl")) {
        if (corpus_read_jsonl(c, path, c->text, got, &cap, err) != 0) {
            corpus_free(c);
            return -1;
        }
    } else {
        for (char *line = c->text; line < c->text + got;) {
            char *nl = memchr(line, '\n', (size_t)(c->text + got - line));
            char *end = nl ? nl : c->text + got;
            if (end > line && end[-1] == '\r') end[-1] = 0;
            size_t len = strlen(line) < (size_t)(end - line) ? strlen(line) : (size_t)(end - line);
            *end = 0;
            if (len > 0 && corpus_push(c, &cap, line, len) != 0) {
                corpus_free(c);
                return cpet_fail(err, "%s: out of memory", path);
            }
            line = end + 1;
        }
    }
    if (c->n == 0) {
        corpus_free(c);
        return cpet_fail(err, "%s: the corpus is empty (no non-empty documents)", path);
    }
    return 0;
}

void corpus_free(corpus *c)
{
    free(c->text);
    free(c->docs);
    free(c->lens);
    memset(c, 0, sizeof *c);
}

void corpus_keep_evenly(corpus *c, int limit)
{
    if (limit <= 0 || c->n <= limit) return;
    for (int i = 0; i < limit; i++) { /* (long)i * n / limit >= i: in place, front to back */
        const long from = (long)i * c->n / limit;
        c->docs[i] = c->docs[from], c->lens[i] = c->lens[from];
    }
    c->n = limit;
}

int corpus_tokenize(const corpus *c, const tokenizer *t, int sep_id, int **stream, long *n_tokens, cpet_err *err)
{
    long cap = 1 << 16, n = 0;
    int *s = malloc((size_t)cap * sizeof(int));
    const int bos = tokenizer_bos(t, sep_id); /* none when the tokenizer adds no BOS */
    for (int d = 0; d < c->n; d++) {
        int *ids, k;
        if (tokenizer_encode(t, c->docs[d], c->lens[d], &ids, &k, err) != 0) {
            free(s);
            return cpet_prefix(err, "document %d", d + 1);
        }
        if (n + k + 1 > cap) {
            while (n + k + 1 > cap) cap *= 2;
            s = realloc(s, (size_t)cap * sizeof(int));
        }
        if (bos >= 0) s[n++] = bos;
        memcpy(s + n, ids, (size_t)k * sizeof(int));
        n += k;
        free(ids);
    }
    *stream = s;
    *n_tokens = n;
    return 0;
}

int corpus_windows(const char *path, const tokenizer *t, int sep_id, int rows, int seq, int **ids, int *rows_out,
                   cpet_err *err)
{
    corpus c;
    if (corpus_read(&c, path, err) != 0) return -1;
    int *stream;
    long n;
    int rc = corpus_tokenize(&c, t, sep_id, &stream, &n, err);
    corpus_free(&c);
    if (rc != 0) return cpet_prefix(err, "%s", path);
    int have = (int)(n / seq);
    if (have < 1) {
        free(stream);
        return cpet_fail(err, "%s: %ld tokens, fewer than one window of %d", path, n, seq);
    }
    *rows_out = have < rows ? have : rows;
    *ids = malloc((size_t)*rows_out * seq * sizeof(int));
    memcpy(*ids, stream, (size_t)*rows_out * seq * sizeof(int)); /* consecutive windows from the start */
    free(stream);
    return 0;
}
