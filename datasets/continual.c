#include "continual.h"

#include "fileio.h"
#include "tensor.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        const int space = isspace((unsigned char)*s);
        n += !space && !in;
        in = !space;
    }
    return n;
}

static json_t *load(const char *path, cpet_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) cpet_fail(err, "%s:%d: %s", path, je.line, je.text);
    else if (!json_is_array(j)) {
        cpet_fail(err, "%s: expected a list with one entry per task", path);
        json_decref(j);
        j = NULL;
    }
    return j;
}

static int task_has(const continual_data *d, int t, int tag)
{
    for (int i = 0; i < d->n_tags[t]; i++)
        if (d->tags[t][i] == tag) return 1;
    return 0;
}

/* one split file into out[n_tasks]; train: drop samples over max_words */
static int read_split(continual_data *d, const char *path, continual_split *out, int max_words, int is_train, cpet_err *err)
{
    json_t *j = load(path, err);
    if (!j) return -1;
    int rc = 0;
    if ((int)json_array_size(j) != d->n_tasks)
        rc = cpet_fail(err, "%s: %d tasks, the class split has %d", path, (int)json_array_size(j), d->n_tasks);
    for (int t = 0; rc == 0 && t < d->n_tasks; t++) {
        const json_t *task = json_array_get(j, (size_t)t);
        if (!json_is_array(task)) {
            rc = cpet_fail(err, "%s: task %d is not a list of samples", path, t);
            break;
        }
        const size_t n = json_array_size(task);
        out[t].s = calloc(n + 1, sizeof *out[t].s);
        if (!out[t].s) {
            rc = cpet_fail(err, "%s: out of memory", path);
            break;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const json_t *e = json_array_get(task, i), *key = json_array_get(e, 0), *tag = json_array_get(e, 1), *text = json_array_get(e, 2);
            if (!json_is_array(e) || json_array_size(e) != 3 || !json_is_integer(tag) || !json_is_string(text) ||
                !(json_is_string(key) || json_is_integer(key))) {
                rc = cpet_fail(err, "%s: task %d, sample %zu: expected [sample_key, tag, text]", path, t, i);
                break;
            }
            const int label = (int)json_integer_value(tag);
            if (!task_has(d, t, label)) {
                rc = cpet_fail(err, "%s: task %d, sample %zu: tag %d is not one of the task's classes", path, t, i, label);
                break;
            }
            if (is_train && max_words > 0 && count_words(json_string_value(text)) > max_words) {
                d->dropped_long++;
                continue;
            }
            char kbuf[32];
            if (json_is_integer(key)) snprintf(kbuf, sizeof kbuf, "%lld", (long long)json_integer_value(key));
            continual_sample *s = &out[t].s[out[t].n++];
            s->key = strdup(json_is_string(key) ? json_string_value(key) : kbuf);
            s->text = strdup(json_string_value(text));
            s->tag = label;
            if (!s->key || !s->text) rc = cpet_fail(err, "%s: out of memory", path);
        }
    }
    json_decref(j);
    return rc;
}

int continual_read(continual_data *d, const char *dir, const char *dataset, int p, int max_words, cpet_err *err)
{
    memset(d, 0, sizeof *d);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s_class_split_p%d_tags.json", dir, dataset, p);
    json_t *j = load(path, err);
    if (!j) return -1;
    int rc = 0;
    d->n_tasks = (int)json_array_size(j);
    if (d->n_tasks == 0) rc = cpet_fail(err, "%s: no tasks", path);
    if (rc == 0) {
        d->tags = calloc((size_t)d->n_tasks, sizeof *d->tags);
        d->n_tags = calloc((size_t)d->n_tasks, sizeof *d->n_tags);
        d->train = calloc((size_t)d->n_tasks, sizeof *d->train);
        d->valid = calloc((size_t)d->n_tasks, sizeof *d->valid);
        d->test = calloc((size_t)d->n_tasks, sizeof *d->test);
        if (!d->tags || !d->n_tags || !d->train || !d->valid || !d->test) rc = cpet_fail(err, "%s: out of memory", path);
    }
    for (int t = 0; rc == 0 && t < d->n_tasks; t++) {
        const json_t *tags = json_array_get(j, (size_t)t);
        const int n = (int)json_array_size(tags);
        if (!json_is_array(tags) || n == 0) {
            rc = cpet_fail(err, "%s: task %d: expected a non-empty list of tags", path, t);
            break;
        }
        d->tags[t] = malloc((size_t)n * sizeof(int));
        for (int i = 0; rc == 0 && i < n; i++) {
            const json_t *v = json_array_get(tags, (size_t)i);
            if (!json_is_integer(v)) rc = cpet_fail(err, "%s: task %d, entry %d: a tag is an integer", path, t, i);
            const int tag = (int)json_integer_value(v);
            for (int u = 0; rc == 0 && u <= t; u++)
                if (task_has(d, u, tag)) rc = cpet_fail(err, "%s: tag %d is in task %d and task %d: task label sets must be disjoint", path, tag, u, t);
            if (rc == 0) d->tags[t][d->n_tags[t]++] = tag;
        }
    }
    json_decref(j);
    const char *names[3] = {"train", "valid", "test"};
    continual_split *splits[3] = {d->train, d->valid, d->test};
    for (int k = 0; rc == 0 && k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s_split_%s_dataset_p%d_key.json", dir, dataset, names[k], p);
        rc = read_split(d, path, splits[k], max_words, k == 0, err);
    }
    if (rc != 0) continual_free(d);
    return rc;
}

void continual_free(continual_data *d)
{
    continual_split *splits[3] = {d->train, d->valid, d->test};
    for (int k = 0; k < 3; k++)
        for (int t = 0; splits[k] && t < d->n_tasks; t++) {
            for (int i = 0; i < splits[k][t].n; i++) free(splits[k][t].s[i].key), free(splits[k][t].s[i].text);
            free(splits[k][t].s);
        }
    for (int t = 0; d->tags && t < d->n_tasks; t++) free(d->tags[t]);
    free(d->tags), free(d->n_tags), free(d->train), free(d->valid), free(d->test);
    memset(d, 0, sizeof *d);
}

void continual_limit_test(continual_data *d, int limit)
{
    for (int t = 0; limit > 0 && t < d->n_tasks; t++) {
        continual_split *sp = &d->test[t];
        if (sp->n <= limit) continue;
        const int n = sp->n;
        int next = 0; /* index of the next kept sample: i * n / limit */
        for (int i = 0, kept = 0; i < n; i++) {
            if (kept < limit && i == next) {
                sp->s[kept++] = sp->s[i];
                next = (int)((long)kept * n / limit);
            } else
                free(sp->s[i].key), free(sp->s[i].text);
        }
        sp->n = limit;
    }
}

char *continual_prompt(const char *text)
{
    const char *mask = strstr(text, "[MASK]");
    if (!mask) return NULL;
    char *out = malloc((size_t)(mask - text) + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (const char *p = text; p < mask;) {
        if (!strncmp(p, "[unused", 7) && p[7] >= '0' && p[7] <= '3' && p[8] == ']') { /* an entity marker */
            p += 9;
            continue;
        }
        out[o++] = *p++;
    }
    while (o > 0 && isspace((unsigned char)out[o - 1])) o--;
    out[o] = 0;
    /* markers leave double spaces ("in [unused0] X" -> "in  X"): fold runs of spaces */
    size_t w = 0;
    for (size_t i = 0; i < o; i++)
        if (!(out[i] == ' ' && w > 0 && out[w - 1] == ' ')) out[w++] = out[i];
    out[w] = 0;
    while (w > 0 && out[0] == ' ') memmove(out, out + 1, w--);
    return out;
}

/* ---- the synthetic world's sequences ---- */

typedef struct {
    json_t *split[3]; /* train, valid, test: [[sample...] per task] */
} seq_files;

/* classes shuffled into n_tasks tasks of near-equal size: task_of[class] */
static void split_classes(int n_classes, int n_tasks, uint64_t seed, int *task_of, json_t *tags)
{
    int order[64];
    for (int c = 0; c < n_classes; c++) order[c] = c;
    cpet_rng r;
    rng_seed(&r, seed);
    rng_shuffle(&r, order, n_classes);
    for (int t = 0; t < n_tasks; t++) json_array_append_new(tags, json_array());
    for (int i = 0; i < n_classes; i++) { /* task t takes positions t, t + n_tasks, ...: sizes differ by at most 1 */
        task_of[order[i]] = i % n_tasks;
        json_array_append_new(json_array_get(tags, (size_t)(i % n_tasks)), json_integer(order[i]));
    }
}

static void add_sample(seq_files *f, int split, int task, const char *key, int tag, const char *text)
{
    json_array_append_new(json_array_get(f->split[split], (size_t)task), json_pack("[s, i, s]", key, tag, text));
}

static int write_sequence(const char *dir, const char *ds, json_t *tags, json_t *names, seq_files *f, cpet_err *err)
{
    char path[4400];
    const char *split_names3[3] = {"train", "valid", "test"};
    snprintf(path, sizeof path, "%s/%s_class_split_p1_tags.json", dir, ds);
    int rc = json_write_file(path, tags, err);
    snprintf(path, sizeof path, "%s/%s_tag_names_p1.json", dir, ds);
    if (rc == 0) rc = json_write_file(path, names, err);
    for (int k = 0; rc == 0 && k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s_split_%s_dataset_p1_key.json", dir, ds, split_names3[k]);
        rc = json_write_file(path, f->split[k], err);
    }
    return rc;
}

int continual_write_world(const world *w, const char *dir, uint64_t seed, cpet_err *err)
{
    if (make_dirs(dir, err) != 0) return -1;
    enum { N_TASKS = 6 };
    /* typing: a label relation per entity type and the facts that do not give it away */
    static const struct {
        entity_type type;
        const char *label, *context[2];
    } kinds[] = {{ENT_PERSON, "occupation", {"born_in", "employer"}},
                 {ENT_COMPANY, "industry", {"founded_by", "headquarters"}},
                 {ENT_CITY, "founded_year", {"located_in", NULL}},
                 {ENT_COUNTRY, "language", {"capital", "flag_colour"}}};
    int first[4], n_classes = 0;
    json_t *names = json_array();
    for (int k = 0; k < 4; k++) {
        const relation_def *d = &world_relations[world_relation_index(kinds[k].label)];
        first[k] = n_classes;
        const int n = d->kind == VAL_YEAR ? 8 : d->n_words; /* founding years 1100..1899: eight centuries */
        for (int i = 0; i < n; i++) {
            char name[96];
            if (d->kind == VAL_YEAR) snprintf(name, sizeof name, "%s/founded in the %dth century", entity_type_names[kinds[k].type], 12 + i);
            else snprintf(name, sizeof name, "%s/%s", entity_type_names[kinds[k].type], d->words[i]);
            json_array_append_new(names, json_string(name));
        }
        n_classes += n;
    }
    int task_of[64];
    json_t *tags = json_array();
    split_classes(n_classes, N_TASKS, seed, task_of, tags);
    seq_files f;
    for (int s = 0; s < 3; s++) {
        f.split[s] = json_array();
        for (int t = 0; t < N_TASKS; t++) json_array_append_new(f.split[s], json_array());
    }
    char sent[512], text[1024], key[160];
    for (int e = 0; e < w->n_entities; e++) {
        const entity *en = &w->entities[e];
        for (int k = 0; k < 4; k++) {
            if (en->type != kinds[k].type) continue;
            const int lr = world_relation_index(kinds[k].label), v = en->value[lr];
            const int tag = first[k] + (world_relations[lr].kind == VAL_YEAR ? (v - 1100) / 100 : v);
            for (int c = 0; c < 2 && kinds[k].context[c]; c++) {
                const int r = world_relation_index(kinds[k].context[c]);
                for (int t = 0; t < world_relations[r].n_templates; t++) {
                    world_render(w, e, r, t, sent, sizeof sent);
                    snprintf(text, sizeof text, "%s. In this sentence, %s is a [MASK].", sent, en->name);
                    snprintf(key, sizeof key, "%s-%s-%d", en->name, world_relations[r].name, t);
                    const int split = t >= world_corpus_templates(r) ? 2 : (t == 0 && c == 0) ? 1 : 0;
                    add_sample(&f, split, task_of[tag], key, tag, text);
                }
            }
        }
    }
    int rc = write_sequence(dir, "world_typing", tags, names, &f, err);
    json_decref(tags), json_decref(names);
    for (int s = 0; s < 3; s++) json_decref(f.split[s]);
    if (rc != 0) return -1;

    /* relations: every fact of every entity, each relation a class */
    names = json_array();
    for (int r = 0; r < world_n_relations; r++) json_array_append_new(names, json_string(world_relations[r].display));
    tags = json_array();
    split_classes(world_n_relations, N_TASKS, seed + 1, task_of, tags);
    for (int s = 0; s < 3; s++) {
        f.split[s] = json_array();
        for (int t = 0; t < N_TASKS; t++) json_array_append_new(f.split[s], json_array());
    }
    for (int e = 0; e < w->n_entities; e++)
        for (int r = 0; r < world_n_relations; r++) {
            if (w->entities[e].value[r] < 0 && world_relations[r].kind != VAL_YEAR) continue;
            if (w->entities[e].type != world_relations[r].subject) continue;
            char obuf[32];
            const char *object = world_object(w, e, r, obuf, sizeof obuf);
            for (int t = 0; t < world_relations[r].n_templates; t++) {
                world_render(w, e, r, t, sent, sizeof sent);
                snprintf(text, sizeof text, "%s. In this sentence, %s is the [MASK] of %s.", sent, object, w->entities[e].name);
                snprintf(key, sizeof key, "%s-%s-%d", w->entities[e].name, world_relations[r].name, t);
                const int split = t >= world_corpus_templates(r) ? 2 : t == 0 ? 1 : 0;
                add_sample(&f, split, task_of[r], key, r, text);
            }
        }
    rc = write_sequence(dir, "world_relation", tags, names, &f, err);
    json_decref(tags), json_decref(names);
    for (int s = 0; s < 3; s++) json_decref(f.split[s]);
    return rc;
}

/* ---- tokenized, for the methods ---- */

static void tokens_set_free(class_examples *s)
{
    for (int i = 0; i < s->n; i++) free(s->ids[i]);
    free(s->ids), free(s->len), free(s->label);
    memset(s, 0, sizeof *s);
}

static int tokenize_split(const continual_data *cd, const continual_split *sp, const int *offsets, int t, const tokenizer *tok, int bos, int max_len,
                          class_examples *out, cpet_err *err)
{
    memset(out, 0, sizeof *out);
    out->ids = calloc((size_t)sp->n + 1, sizeof(int *));
    out->len = calloc((size_t)sp->n + 1, sizeof(int));
    out->label = calloc((size_t)sp->n + 1, sizeof(int));
    if (!out->ids || !out->len || !out->label) return cpet_fail(err, "continual: out of memory");
    for (int i = 0; i < sp->n; i++) {
        char *prompt = continual_prompt(sp->s[i].text);
        if (!prompt) return cpet_fail(err, "continual: sample '%s' of task %d has no [MASK]", sp->s[i].key, t);
        int *ids, n;
        const int rc = tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n, err);
        free(prompt);
        if (rc != 0) return -1;
        const int off = bos >= 0, keep = n + off > max_len ? max_len - off : n; /* a long prompt keeps its end: the classified position */
        int *row = malloc((size_t)(keep + 1) * sizeof(int));
        if (!row) {
            free(ids);
            return cpet_fail(err, "continual: out of memory");
        }
        if (off) row[0] = bos;
        memcpy(row + off, ids + (n - keep), (size_t)keep * sizeof(int));
        free(ids);
        int local = 0;
        while (cd->tags[t][local] != sp->s[i].tag) local++; /* present: continual_read checked it */
        out->ids[out->n] = row, out->len[out->n] = keep + off, out->label[out->n] = offsets[t] + local, out->n++;
    }
    return 0;
}

int continual_tokenize(const continual_data *cd, const tokenizer *tok, int bos, int max_len, class_sequence *d, cpet_err *err)
{
    const int T = cd->n_tasks;
    bos = tokenizer_bos(tok, bos);
    memset(d, 0, sizeof *d);
    d->n_tasks = T;
    d->offsets = calloc((size_t)T + 1, sizeof(int));
    d->train = calloc((size_t)T, sizeof(class_examples));
    d->valid = calloc((size_t)T, sizeof(class_examples));
    d->test = calloc((size_t)T, sizeof(class_examples));
    int rc = d->offsets && d->train && d->valid && d->test ? 0 : cpet_fail(err, "continual: out of memory");
    for (int t = 0; rc == 0 && t < T; t++) d->offsets[t + 1] = d->offsets[t] + cd->n_tags[t];
    for (int t = 0; rc == 0 && t < T; t++) {
        rc = tokenize_split(cd, &cd->train[t], d->offsets, t, tok, bos, max_len, &d->train[t], err);
        if (rc == 0) rc = tokenize_split(cd, &cd->valid[t], d->offsets, t, tok, bos, max_len, &d->valid[t], err);
        if (rc == 0) rc = tokenize_split(cd, &cd->test[t], d->offsets, t, tok, bos, max_len, &d->test[t], err);
    }
    if (rc != 0) continual_tokens_free(d);
    return rc;
}

void continual_tokens_free(class_sequence *d)
{
    for (int t = 0; d->train && t < d->n_tasks; t++) tokens_set_free(&d->train[t]), tokens_set_free(&d->valid[t]), tokens_set_free(&d->test[t]);
    free(d->offsets), free(d->train), free(d->valid), free(d->test);
    memset(d, 0, sizeof *d);
}
