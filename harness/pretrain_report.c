#include "pretrain_report.h"
#include "table_format.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "report.h"


int pretrain_report(const char *pretrain_json, const char *out_dir, cpet_err *err)
{
    json_t *j = json_read_file(pretrain_json, err);
    if (!j) return -1;
    json_t *model = json_object_get(j, "model"), *train = json_object_get(j, "train"), *ev = json_object_get(j, "eval");
    if (!json_is_object(model) || !json_is_object(train) || !json_is_object(ev)) {
        json_decref(j);
        return cpet_fail(err, "%s: not a pretrain.json (no model, train or eval)", pretrain_json);
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/pretrain.md", out_dir);
    atomic_file af;
    if (make_dirs(out_dir, err) != 0 || atomic_open(&af, path, err) != 0) {
        json_decref(j);
        return -1;
    }
    FILE *f = af.fp;
#define I(o, k) ((long long)json_integer_value(json_object_get(o, k)))
    char params[32], rate[32];
    format_grouped(params, sizeof params, (double)I(model, "parameters"), 0);
    format_grouped(rate, sizeof rate, json_number_value(json_object_get(j, "tokens_per_second")), 0);
    fprintf(f, "Model: d=%lld, %lld layers, %lld heads (%lld KV heads), FFN %lld, %s, vocab %lld, %s parameters; trained %lld steps x "
               "%lld sequences x %lld tokens, seed %lld (git %s).\n\n",
            I(model, "dim"), I(model, "layers"), I(model, "heads"), I(model, "kv_heads"), I(model, "ffn"),
            json_string_value(json_object_get(model, "act")) ?: "?", I(model, "vocab"), params, I(train, "steps"), I(train, "batch"),
            I(train, "seq"), I(j, "seed"), json_string_value(json_object_get(json_object_get(j, "facts"), "git_revision")) ?: "?");
    fprintf(f, "| measure | value |\n|---|---|\n");
    fprintf(f, "| training wall time | %.0f s at %s tokens/s (%lld threads) |\n", json_number_value(json_object_get(j, "train_seconds")),
            rate, I(json_object_get(j, "facts"), "threads"));
    if (json_object_get(j, "tokens_seen")) {
        char seen[32], corpus_tokens[32];
        format_grouped(seen, sizeof seen, (double)I(j, "tokens_seen"), 0);
        format_grouped(corpus_tokens, sizeof corpus_tokens, (double)I(j, "corpus_tokens"), 0);
        fprintf(f, "| tokens seen / corpus tokens | %s / %s (%.2f passes) |\n", seen, corpus_tokens,
                json_number_value(json_object_get(j, "passes")));
    }
    fprintf(f, "| final training loss | %.4f |\n", json_number_value(json_object_get(j, "final_loss")));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(ev, "perplexity"), key, v)
    {
        char p[32];
        double ppl = json_number_value(json_object_get(v, "perplexity"));
        if (ppl >= 1000) format_grouped(p, sizeof p, ppl, 0);
        else snprintf(p, sizeof p, "%.3f", ppl);
        fprintf(f, "| perplexity, `%s` (%lld tokens) | %s |\n", path_base(key), I(v, "tokens"), p);
    }
    json_object_foreach(json_object_get(ev, "tasks"), key, v)
        fprintf(f, "| `%s` accuracy (%lld examples, chance %.0f%%) | %.2f%% ± %.2f (stderr) |\n", key, I(v, "n"),
                100 * json_number_value(json_object_get(v, "chance")), 100 * json_number_value(json_object_get(v, "acc")),
                100 * json_number_value(json_object_get(v, "acc_stderr")));
#undef I
    json_decref(j);
    return atomic_commit(&af, err);
}
