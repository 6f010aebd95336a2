/* cpet tokenize / detokenize / tokenizer-train */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "corpus.h"
#include "fileio.h"
#include "tokenizer.h"

/* Splits text into documents: one per line, or the whole text. Pointers into text; lens filled. */
static int split_documents(char *text, size_t len, int whole, char ***docs, size_t **lens)
{
    int n = 0, cap = 16;
    *docs = malloc((size_t)cap * sizeof(char *));
    *lens = malloc((size_t)cap * sizeof(size_t));
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        int end = i == len || (!whole && text[i] == '\n');
        if (!end) continue;
        if (i == len && i == start && n > 0 && !whole) break; /* the final newline ends the last line */
        if (n == cap) {
            cap *= 2;
            *docs = realloc(*docs, (size_t)cap * sizeof(char *));
            *lens = realloc(*lens, (size_t)cap * sizeof(size_t));
        }
        (*docs)[n] = text + start;
        (*lens)[n++] = i - start;
        start = i + 1;
    }
    return n;
}

/* The common start of tokenize and detokenize: options, the tokenizer, stdin split into lines or one document. */
typedef struct {
    tokenizer t;
    char *text, **docs;
    size_t *lens;
    int n, whole, special;
} stdin_job;

/* options (tokenize has --special; about is the help's paragraph), the tokenizer, stdin; -1 after help */
static int start_job(stdin_job *j, int argc, char **argv, int is_tokenize, const char *about)
{
    memset(j, 0, sizeof *j);
    const char *path = NULL;
    opt opts[] = {OPT_REQUIRED("--tokenizer", &path, "tokenizer.json", "an HF tokenizer.json"),
                  OPT_SWITCH("--whole", &j->whole, "all input is one document (else one per line)"),
                  OPT_SWITCH("--special", &j->special, "BOS and EOS as the tokenizer adds them (HF's add_special_tokens)"),
                  OPT_END};
    if (!is_tokenize) opts[2] = (opt)OPT_END;
    const opt_command cmd = {.name = argv[0], .about = about};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p == OPT_HELP ? -1 : 1;
    cpet_err err;
    if (tokenizer_load(&j->t, path, &err) != 0) return cli_report(&err);
    size_t len;
    j->text = read_stream(stdin, &len);
    j->n = split_documents(j->text, len, is_tokenize && j->whole, &j->docs, &j->lens);
    return 0;
}

static void end_job(stdin_job *j)
{
    free(j->docs);
    free(j->lens);
    free(j->text);
    tokenizer_free(&j->t);
}

int cmd_tokenize(int argc, char **argv)
{
    stdin_job j;
    int rc = start_job(&j, argc, argv, 1,
                       "Reads UTF-8 text on stdin, one document per line (--whole: all input is one document), and prints\n"
                       "one JSON array of token ids per document. No BOS/EOS is added unless --special: then BOS and EOS as\n"
                       "the tokenizer adds them (tokenizer_config.json's add_bos_token / add_eos_token beside the file, else\n"
                       "the post-processor's template), as HF's encode with add_special_tokens.\n");
    if (rc) return rc < 0 ? 0 : rc;
    cpet_err err;
    for (int d = 0; d < j.n && rc == 0; d++) {
        int *ids, n_ids;
        if (tokenizer_encode(&j.t, j.docs[d], j.lens[d], &ids, &n_ids, &err) != 0) {
            rc = cli_error("stdin: document %d: %s", d + 1, err.msg);
            break;
        }
        const int bos = j.special ? tokenizer_bos(&j.t, j.t.bos_id) : -1, eos = j.special ? tokenizer_eos(&j.t, j.t.eos_id) : -1;
        if (j.special && ((j.t.add_bos && bos < 0) || (j.t.add_eos && eos < 0))) {
            free(ids);
            rc = cli_error("tokenize --special: the tokenizer adds a BOS or EOS but names no token for it (post-processor or tokenizer_config.json)");
            break;
        }
        putchar('[');
        int k = 0;
        if (bos >= 0) printf("%d", bos), k++;
        for (int i = 0; i < n_ids; i++, k++) printf(k ? ", %d" : "%d", ids[i]);
        if (eos >= 0) printf(k ? ", %d" : "%d", eos);
        puts("]");
        free(ids);
    }
    end_job(&j);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    stdin_job j;
    int rc = start_job(&j, argc, argv, 0,
                       "Reads one JSON array of ids per line and writes each decoded document followed by a newline\n"
                       "(--whole: no newline, so `tokenize --whole | detokenize --whole` gives the input back byte for byte).\n");
    if (rc) return rc < 0 ? 0 : rc;
    cpet_err err;
    for (int l = 0; l < j.n && rc == 0; l++) {
        if (j.lens[l] == 0) continue;
        json_error_t jerr;
        json_t *arr = json_loadb(j.docs[l], j.lens[l], 0, &jerr);
        if (!json_is_array(arr)) {
            rc = cli_error("stdin:%d: expected a JSON array of token ids", l + 1);
            json_decref(arr);
            break;
        }
        int *ids = malloc((json_array_size(arr) + 1) * sizeof(int));
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *v = json_array_get(arr, i);
            ids[i] = json_is_integer(v) ? (int)json_integer_value(v) : -1;
        }
        char *out;
        size_t out_len;
        if (tokenizer_decode(&j.t, ids, (int)json_array_size(arr), &out, &out_len, &err) != 0) {
            rc = cli_error("stdin:%d: %s", l + 1, err.msg);
        } else {
            fwrite(out, 1, out_len, stdout);
            if (!j.whole) putchar('\n');
            free(out);
        }
        free(ids);
        json_decref(arr);
    }
    end_job(&j);
    return rc;
}

int cmd_tokenizer_train(int argc, char **argv)
{
    long vocab = 2048;
    const char *out = NULL, *special_list = "<|endoftext|>";
    char specials_buf[1024];
    const char **files = calloc((size_t)argc + 1, sizeof(char *));
    int n_files = 0;
    if (!files) return cli_error("tokenizer-train: out of memory");
    const opt opts[] = {{.name = "", .type = OPT_T_REPEAT, .dst = files, .count = &n_files, .hi = argc, .metavar = "FILE...",
                         .help = "text (one document per line) or JSONL with a \"text\" per line; none: stdin"},
                        OPT_INT("--vocab-size", &vocab, 256, 1 << 20, "tokens in the vocabulary"),
                        OPT_STRING("--special", &special_list, "A,B,...", "special tokens, taking the first ids"),
                        OPT_REQUIRED("-o", &out, "tokenizer.json", "the HF tokenizer.json written"),
                        OPT_END};
    const opt_command cmd = {.name = "tokenizer-train",
                             .about = "Trains a byte-level BPE (GPT-2 pre-tokenization). The output loads in HF tokenizers.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) {
        free(files);
        return cli_exit_status(p);
    }
    snprintf(specials_buf, sizeof specials_buf, "%s", special_list);
    const char *specials[64];
    int n_specials = 0;
    for (char *tok = strtok(specials_buf, ","); tok && n_specials < 64; tok = strtok(NULL, ",")) specials[n_specials++] = tok;
    /* files through the corpus reader (plain text or JSONL), stdin one document per line */
    corpus *corpora = calloc((size_t)(n_files ? n_files : 1), sizeof *corpora);
    char *all = NULL, **docs = NULL;
    size_t *lens = NULL;
    int n_docs = 0, rc = 0;
    cpet_err err;
    if (n_files) {
        int total = 0;
        for (int f = 0; f < n_files && rc == 0; f++)
            if (corpus_read(&corpora[f], files[f], &err) != 0) rc = cli_report(&err);
            else total += corpora[f].n;
        docs = malloc((size_t)(total ? total : 1) * sizeof *docs);
        lens = malloc((size_t)(total ? total : 1) * sizeof *lens);
        for (int f = 0; f < n_files && rc == 0; f++)
            for (int d = 0; d < corpora[f].n; d++) {
                docs[n_docs] = corpora[f].docs[d];
                lens[n_docs++] = corpora[f].lens[d];
            }
    } else {
        size_t total;
        all = read_stream(stdin, &total);
        if (!all) all = calloc(1, 1), total = 0;
        n_docs = split_documents(all, total, 0, &docs, &lens);
    }
    free(files);
    int nonempty = 0;
    for (int d = 0; d < n_docs; d++) nonempty += lens[d] > 0;
    tokenizer t;
    if (rc != 0) {
    } else if (nonempty == 0) rc = cli_error("tokenizer-train: the corpus is empty");
    else if (tokenizer_train(&t, (const char *const *)docs, lens, n_docs, (int)vocab, specials, n_specials, &err) != 0)
        rc = cli_report(&err);
    else {
        if (tokenizer_save(&t, out, &err) != 0) rc = cli_report(&err);
        else fprintf(stderr, "trained %d tokens (%d merges) on %d documents -> %s\n", t.vocab_size, t.n_merges, nonempty, out);
        tokenizer_free(&t);
    }
    for (int f = 0; f < (n_files ? n_files : 1); f++) corpus_free(&corpora[f]);
    free(corpora);
    free(docs);
    free(lens);
    free(all);
    return rc;
}
