#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "fileio.h"

/* Rejects keys outside `allowed` (NULL-terminated), naming the path and the closest allowed key. */
static int check_keys(json_t *obj, const char *const *allowed, const char *path, const char *where, cpet_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char known[512] = "";
            for (int i = 0; allowed[i]; i++) {
                strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, allowed[i], sizeof known - strlen(known) - 1);
            }
            return cpet_fail(err, "%s: %s%s: unknown key (allowed: %s)", path, where, key, known);
        }
    }
    return 0;
}

static int string_list(json_t *v, char ***out, int *n, const char *path, const char *key, cpet_err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cpet_fail(err, "%s: %s: expected a non-empty list of strings", path, key);
    *n = (int)json_array_size(v);
    *out = calloc((size_t)*n, sizeof(char *));
    for (int i = 0; i < *n; i++) {
        const char *s = json_string_value(json_array_get(v, (size_t)i));
        if (!s) return cpet_fail(err, "%s: %s[%d]: expected a string", path, key, i);
        (*out)[i] = strdup(s);
    }
    return 0;
}

static int parse_method(spec_method *m, json_t *v, int idx, const char *path, cpet_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "methods[%d]", idx);
    if (json_is_string(v)) v = json_pack("{s:s}", "name", json_string_value(v));
    else if (json_is_object(v)) json_incref(v);
    else return cpet_fail(err, "%s: %s: expected a method name or an object with \"name\"", path, where);
    int rc = -1;
    const char *name = json_string_value(json_object_get(v, "name"));
    if (!name) {
        cpet_fail(err, "%s: %s.name: expected a string", path, where);
        goto done;
    }
    m->info = method_find(name);
    if (!m->info) {
        char known[512] = "";
        for (int i = 0; i < method_registry_size; i++) {
            strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, method_registry[i]->name, sizeof known - strlen(known) - 1);
        }
        cpet_fail(err, "%s: %s.name: unknown method '%s' (known: %s)", path, where, name, known);
        goto done;
    }
    const char *allowed[64] = {"name", "label", "compressions"};
    int na = 3;
    for (int i = 0; i < m->info->n_params && na < 63; i++) allowed[na++] = m->info->params[i].key;
    allowed[na] = NULL;
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s.", where);
    if (check_keys(v, allowed, path, prefix, err) != 0) goto done;
    json_t *label = json_object_get(v, "label");
    if (label && !json_is_string(label)) {
        cpet_fail(err, "%s: %s.label: expected a string", path, where);
        goto done;
    }
    snprintf(m->label, sizeof m->label, "%s", label ? json_string_value(label) : name);
    json_t *only = json_object_get(v, "compressions");
    if (only) {
        int ok = json_is_array(only) && json_array_size(only) > 0;
        for (size_t i = 0; ok && i < json_array_size(only); i++) ok = json_is_string(json_array_get(only, i));
        if (!ok) {
            cpet_fail(err, "%s: %s.compressions: expected a non-empty list of compression labels", path, where);
            goto done;
        }
        m->only = json_incref(only);
    }
    m->params = json_object();
    for (int i = 0; i < m->info->n_params; i++) {
        const method_param *p = &m->info->params[i];
        json_t *given = json_object_get(v, p->key);
        char key_path[512];
        snprintf(key_path, sizeof key_path, "%s: %s.%s", path, where, p->key);
        if (given && method_param_check(p, given, key_path, err) != 0) goto done;
        json_object_set_new(m->params, p->key, given ? json_deep_copy(given) : json_loads(p->default_json, JSON_DECODE_ANY, NULL));
    }
    rc = 0;
done:
    json_decref(v);
    return rc;
}

static int parse_task(spec_task *t, json_t *v, int idx, const char *path, cpet_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "tasks[%d]", idx);
    snprintf(t->train_split, sizeof t->train_split, "train");
    snprintf(t->eval_split, sizeof t->eval_split, "test");
    const char *file = NULL, *name = NULL;
    if (json_is_string(v)) {
        file = json_string_value(v);
    } else if (json_is_object(v)) {
        static const char *const allowed[] = {"name", "file", "train_split", "eval_split", "limit", NULL};
        char prefix[96];
        snprintf(prefix, sizeof prefix, "%s.", where);
        if (check_keys(v, allowed, path, prefix, err) != 0) return -1;
        const char *str_keys[] = {"name", "file", "train_split", "eval_split"};
        for (int k = 0; k < 4; k++) {
            json_t *x = json_object_get(v, str_keys[k]);
            if (x && !json_is_string(x)) return cpet_fail(err, "%s: %s.%s: expected a string", path, where, str_keys[k]);
        }
        file = json_string_value(json_object_get(v, "file"));
        name = json_string_value(json_object_get(v, "name"));
        if (json_object_get(v, "train_split"))
            snprintf(t->train_split, sizeof t->train_split, "%s", json_string_value(json_object_get(v, "train_split")));
        if (json_object_get(v, "eval_split"))
            snprintf(t->eval_split, sizeof t->eval_split, "%s", json_string_value(json_object_get(v, "eval_split")));
        json_t *limit = json_object_get(v, "limit");
        if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 0))
            return cpet_fail(err, "%s: %s.limit: expected a non-negative integer", path, where);
        t->limit = limit ? (int)json_integer_value(limit) : 0;
    } else {
        return cpet_fail(err, "%s: %s: expected a file name or an object with \"file\"", path, where);
    }
    if (!file) return cpet_fail(err, "%s: %s.file: expected a string", path, where);
    snprintf(t->file, sizeof t->file, "%s", file);
    if (!name) { /* the file's base name without .jsonl */
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        snprintf(t->name, sizeof t->name, "%.*s", (int)(strstr(base, ".jsonl") ? strstr(base, ".jsonl") - base : (long)strlen(base)), base);
    } else {
        snprintf(t->name, sizeof t->name, "%s", name);
    }
    return 0;
}

/* "train": {...}: the training settings of the chains that train, over what t already holds */
static int training_overrides(json_t *obj, compress_training *t, const char *path, const char *where, cpet_err *err)
{
    static const char *const keys[] = {"steps", "batch", "lr", "method_lr", "contrastive", "tau", "dynamic_scaling", "distill", "l1", "seed", NULL};
    char at[128];
    snprintf(at, sizeof at, "%strain.", where);
    if (!json_is_object(obj)) return cpet_fail(err, "%s: %strain: expected an object", path, where);
    if (check_keys(obj, keys, path, at, err) != 0) return -1;
    const char *ints[] = {"steps", "batch", "seed"};
    int *idst[] = {&t->steps, &t->batch, NULL};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(obj, ints[i]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < (i == 1) || json_integer_value(v) > 1 << 24))
            return cpet_fail(err, "%s: %s%s: expected an integer in [%d, %d]", path, at, ints[i], i == 1, 1 << 24);
        if (v && idst[i]) *idst[i] = (int)json_integer_value(v);
        else if (v) t->seed = (uint64_t)json_integer_value(v);
    }
    const char *reals[] = {"lr", "method_lr", "contrastive", "tau", "distill", "l1"};
    float *rdst[] = {&t->lr, &t->method_lr, &t->contrastive, &t->tau, &t->distill, &t->l1};
    for (int i = 0; i < 6; i++) {
        json_t *v = json_object_get(obj, reals[i]);
        if (v && (!json_is_number(v) || json_number_value(v) < 0)) return cpet_fail(err, "%s: %s%s: expected a number >= 0", path, at, reals[i]);
        if (v) *rdst[i] = (float)json_number_value(v);
    }
    json_t *ds = json_object_get(obj, "dynamic_scaling");
    if (ds && !json_is_boolean(ds)) return cpet_fail(err, "%s: %sdynamic_scaling: expected true or false", path, at);
    if (ds) t->dynamic_scaling = json_is_true(ds);
    return 0;
}

/* The per-compression keys (group, sparsity, lm_head, embeddings, train) of obj, over what c already holds. */
static int compression_overrides(json_t *obj, spec_compression *c, const char *path, const char *where, cpet_err *err)
{
    json_t *tr = json_object_get(obj, "train");
    if (tr && training_overrides(tr, &c->train, path, where, err) != 0) return -1;
    json_t *g = json_object_get(obj, "group"), *sp = json_object_get(obj, "sparsity"), *head = json_object_get(obj, "lm_head"),
           *emb = json_object_get(obj, "embeddings");
    if (g && json_is_integer(g) && json_integer_value(g) == -1) c->group = -1; /* per output channel */
    else if (g && (!json_is_integer(g) || json_integer_value(g) < 1 || json_integer_value(g) > 1 << 20))
        return cpet_fail(err, "%s: %sgroup: expected a positive integer (or -1: per output channel)", path, where);
    else if (g) c->group = (int)json_integer_value(g);
    if (sp && !json_is_number(sp)) return cpet_fail(err, "%s: %ssparsity: expected a number", path, where);
    if (sp) c->sparsity = json_number_value(sp);
    if (head && !json_is_boolean(head)) return cpet_fail(err, "%s: %slm_head: expected true or false", path, where);
    if (head) c->lm_head = json_is_true(head);
    if (emb && !json_is_boolean(emb)) return cpet_fail(err, "%s: %sembeddings: expected true or false", path, where);
    if (emb) c->embeddings = json_is_true(emb);
    return 0;
}

/* Whether name is in the list of strings, or a key of the object (NULL: keep everything). */
static int kept(const json_t *list, const char *name)
{
    if (!list) return 1;
    if (json_is_object(list)) return json_object_get(list, name) != NULL;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!strcmp(json_string_value(json_array_get(list, i)), name)) return 1;
    return 0;
}

/* Each override {key: value} has the type of the method's parameter key; a method's own overrides (not shared)
 * must name one of its parameters, shared ones apply only where they do. */
static int check_overrides(const spec_method *m, const json_t *set, int shared, const char *path, const char *where, cpet_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)set, key, v) {
        int q = 0;
        while (q < m->info->n_params && strcmp(m->info->params[q].key, key)) q++;
        if (q == m->info->n_params) {
            if (shared) continue;
            return cpet_fail(err, "%s: %s%s: method %s has no such parameter", path, where, key, m->info->name);
        }
        char key_path[512];
        snprintf(key_path, sizeof key_path, "%s: %s%s (method %s)", path, where, key, m->info->name);
        if (method_param_check(&m->info->params[q], v, key_path, err) != 0) return -1;
    }
    return 0;
}

static void set_overrides(spec_method *m, const json_t *set)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)set, key, v)
        if (json_object_get(m->params, key)) json_object_set(m->params, key, v);
}

/* A profile (a reduced budget of the same study): its models, only the named compressions, methods and tasks
 * (by label / name), its seeds, method parameters set: "method_params" in every kept method that has them,
 * and per method when "methods" is an object {label: {key: value}}, and "task_limit": every kept task scores
 * at most that many examples (a task sequence: that many test samples per task), and "heldout_limit": the
 * held-out text (and a text a method measures) keeps that many documents, evenly spaced, and "train": training
 * settings over every kept compression's (the chains that train: fewer steps). Every name must exist. */
static int apply_profile(spec *s, json_t *root, const char *name, const char *path, cpet_err *err)
{
    json_t *p = json_object_get(json_object_get(root, "profiles"), name);
    if (!json_is_object(p)) return cpet_fail(err, "%s: profile '%s' is not among the spec's \"profiles\"", path, name);
    static const char *const keys[] = {"models", "compressions", "methods", "tasks", "seeds", "method_params", "task_limit", "heldout_limit",
                                       "train", NULL};
    char where[96], at[256];
    snprintf(where, sizeof where, "profiles.%s.", name);
    if (check_keys(p, keys, path, where, err) != 0) return -1;
    static const char *const lists[] = {"compressions", "methods", "tasks", "seeds", "models"};
    for (int k = 0; k < 5; k++) {
        json_t *l = json_object_get(p, lists[k]);
        if (!l) continue;
        if (k == 1 && json_is_object(l)) { /* {label: {overrides}} */
            const char *label;
            json_t *set;
            json_object_foreach(l, label, set) {
                int j = 0;
                while (j < s->n_methods && strcmp(label, s->methods[j].label)) j++;
                if (j == s->n_methods) return cpet_fail(err, "%s: %smethods.%s: the spec has no method labelled so", path, where, label);
                snprintf(at, sizeof at, "%smethods.%s.", where, label);
                if (!json_is_object(set)) return cpet_fail(err, "%s: %s: expected an object of parameters", path, at);
                if (check_overrides(&s->methods[j], set, 0, path, at, err) != 0) return -1;
            }
            continue;
        }
        if (!json_is_array(l) || json_array_size(l) == 0) return cpet_fail(err, "%s: %s%s: expected a non-empty list", path, where, lists[k]);
        for (size_t i = 0; i < json_array_size(l); i++) {
            json_t *x = json_array_get(l, i);
            if (k != 3 ? !json_is_string(x) : !json_is_integer(x) || json_integer_value(x) < 0)
                return cpet_fail(err, "%s: %s%s[%zu]: expected %s", path, where, lists[k], i, k != 3 ? "a string" : "a non-negative integer");
            int found = k >= 3;
            const char *want = json_string_value(x);
            for (int j = 0; k == 0 && j < s->n_compressions && !found; j++) found = !strcmp(want, s->compressions[j].label);
            for (int j = 0; k == 1 && j < s->n_methods && !found; j++) found = !strcmp(want, s->methods[j].label);
            for (int j = 0; k == 2 && j < s->n_tasks && !found; j++) found = !strcmp(want, s->tasks[j].name);
            if (!found) return cpet_fail(err, "%s: %s%s[%zu]: the spec has no %s '%s'", path, where, lists[k], i, lists[k], want);
        }
    }
    json_t *task_limit = json_object_get(p, "task_limit");
    if (task_limit && (!json_is_integer(task_limit) || json_integer_value(task_limit) < 1))
        return cpet_fail(err, "%s: %stask_limit: expected a positive integer", path, where);
    json_t *heldout_limit = json_object_get(p, "heldout_limit");
    if (heldout_limit && (!json_is_integer(heldout_limit) || json_integer_value(heldout_limit) < 1))
        return cpet_fail(err, "%s: %sheldout_limit: expected a positive integer", path, where);
    if (heldout_limit) s->heldout_limit = (int)json_integer_value(heldout_limit);
    json_t *comps = json_object_get(p, "compressions"), *meths = json_object_get(p, "methods"), *tasks = json_object_get(p, "tasks");
    json_t *set = json_object_get(p, "method_params");
    if (set && !json_is_object(set)) return cpet_fail(err, "%s: %smethod_params: expected an object", path, where);
    snprintf(at, sizeof at, "%smethod_params.", where);
    for (int j = 0; set && j < s->n_methods; j++) /* every override checked before anything moves */
        if (check_overrides(&s->methods[j], set, 1, path, at, err) != 0) return -1;
    int n = 0;
    for (int j = 0; j < s->n_compressions; j++)
        if (kept(comps, s->compressions[j].label)) s->compressions[n++] = s->compressions[j];
    s->n_compressions = n;
    json_t *train = json_object_get(p, "train");
    for (int j = 0; train && j < s->n_compressions; j++)
        if (training_overrides(train, &s->compressions[j].train, path, where, err) != 0) return -1;
    n = 0;
    for (int j = 0; j < s->n_tasks; j++)
        if (kept(tasks, s->tasks[j].name)) {
            s->tasks[n] = s->tasks[j];
            if (task_limit) s->tasks[n].limit = (int)json_integer_value(task_limit);
            n++;
        }
    s->n_tasks = n;
    n = 0;
    for (int j = 0; j < s->n_methods; j++) {
        spec_method *m = &s->methods[j];
        int runs = kept(meths, m->label);
        if (runs && m->only) { /* its compressions less the dropped ones; none left: the row goes */
            json_t *only = json_array();
            for (size_t i = 0; i < json_array_size(m->only); i++)
                if (kept(comps, json_string_value(json_array_get(m->only, i)))) json_array_append(only, json_array_get(m->only, i));
            json_decref(m->only);
            m->only = only;
            runs = json_array_size(only) > 0;
        }
        if (!runs) {
            json_decref(m->params), json_decref(m->only);
            continue;
        }
        set_overrides(m, set);
        if (json_is_object(meths)) set_overrides(m, json_object_get(meths, m->label));
        s->methods[n++] = *m;
    }
    s->n_methods = n;
    if (!n) return cpet_fail(err, "%s: profile '%s' leaves no method to run", path, name);
    json_t *seeds = json_object_get(p, "seeds"), *models = json_object_get(p, "models");
    if (seeds) {
        free(s->seeds);
        s->n_seeds = (int)json_array_size(seeds);
        s->seeds = calloc((size_t)s->n_seeds, sizeof *s->seeds);
        for (int i = 0; i < s->n_seeds; i++) s->seeds[i] = json_integer_value(json_array_get(seeds, (size_t)i));
    }
    if (models) {
        for (int i = 0; i < s->n_models; i++) free(s->models[i]);
        free(s->models);
        if (string_list(models, &s->models, &s->n_models, path, "profiles.models", err) != 0) return -1;
    }
    return 0;
}

int spec_parse(spec *s, json_t *root, const char *path, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    s->threads = 2;
    if (!json_is_object(root)) return cpet_fail(err, "%s: the spec must be a JSON object", path);
    static const char *const allowed[] = {"name", "models", "compressions", "compression_options", "heldout", "heldout_limit", "methods",
                                          "tasks", "seeds", "threads", "profiles", "profile", NULL};
    if (check_keys(root, allowed, path, "", err) != 0) return -1;
    /* the hash: of the spec as given, less its profiles unless one is chosen (editing the quick profile leaves the
     * full runs current) */
    json_t *profile = json_object_get(root, "profile");
    if (profile && !json_is_string(profile)) return cpet_fail(err, "%s: profile: expected the name of one of \"profiles\"", path);
    if (profile) json_hash(root, s->hash);
    else {
        json_t *plain = json_deep_copy(root);
        json_object_del(plain, "profiles");
        json_hash(plain, s->hash);
        json_decref(plain);
    }
    json_t *name = json_object_get(root, "name");
    if (name && !json_is_string(name)) return cpet_fail(err, "%s: name: expected a string", path);
    snprintf(s->name, sizeof s->name, "%s", name ? json_string_value(name) : "matrix");
    if (string_list(json_object_get(root, "models"), &s->models, &s->n_models, path, "models", err) != 0) return -1;
    s->group = 128;
    s->sparsity = 0.5;
    s->calib_rows = 32;
    s->calib_seq = 128;
    s->train = compress_training_defaults();
    json_t *co = json_object_get(root, "compression_options");
    if (co) {
        static const char *const co_keys[] = {"group", "sparsity", "calib", "calib_rows", "calib_seq", "lm_head", "embeddings", "train", NULL};
        if (!json_is_object(co)) return cpet_fail(err, "%s: compression_options: expected an object", path);
        if (check_keys(co, co_keys, path, "compression_options.", err) != 0) return -1;
        const char *ints[] = {"calib_rows", "calib_seq"};
        int *dst[] = {&s->calib_rows, &s->calib_seq};
        for (int i = 0; i < 2; i++) {
            json_t *v = json_object_get(co, ints[i]);
            if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 20))
                return cpet_fail(err, "%s: compression_options.%s: expected a positive integer", path, ints[i]);
            if (v) *dst[i] = (int)json_integer_value(v);
        }
        spec_compression shared = {.group = s->group, .sparsity = s->sparsity, .train = s->train};
        if (compression_overrides(co, &shared, path, "compression_options.", err) != 0) return -1;
        s->train = shared.train;
        s->group = shared.group;
        s->sparsity = shared.sparsity;
        s->lm_head = shared.lm_head;
        s->embeddings = shared.embeddings;
        json_t *cal = json_object_get(co, "calib");
        if (cal && !json_is_string(cal)) return cpet_fail(err, "%s: compression_options.calib: expected a string", path);
        if (cal) snprintf(s->calib, sizeof s->calib, "%s", json_string_value(cal));
    }
    json_t *comp = json_object_get(root, "compressions");
    if (comp && (!json_is_array(comp) || json_array_size(comp) == 0))
        return cpet_fail(err, "%s: compressions: expected a non-empty list of chains or {\"chain\", \"label\", options} objects", path);
    s->n_compressions = comp ? (int)json_array_size(comp) : 1;
    s->compressions = calloc((size_t)s->n_compressions, sizeof *s->compressions);
    if (!s->compressions) return cpet_fail(err, "out of memory");
    for (int i = 0; i < s->n_compressions; i++) {
        spec_compression *c = &s->compressions[i];
        *c = (spec_compression){.group = s->group, .sparsity = s->sparsity, .lm_head = s->lm_head, .embeddings = s->embeddings, .train = s->train};
        json_t *e = comp ? json_array_get(comp, (size_t)i) : NULL;
        char where[64];
        snprintf(where, sizeof where, "compressions[%d].", i);
        if (!e) snprintf(c->chain, sizeof c->chain, "none");
        else if (json_is_string(e)) snprintf(c->chain, sizeof c->chain, "%s", json_string_value(e));
        else if (json_is_object(e)) {
            static const char *const keys[] = {"chain", "label", "group", "sparsity", "lm_head", "embeddings", "train", NULL};
            if (check_keys(e, keys, path, where, err) != 0) return -1;
            json_t *chain = json_object_get(e, "chain"), *label = json_object_get(e, "label");
            if (!json_is_string(chain)) return cpet_fail(err, "%s: %schain: expected a string (a cpet compress chain)", path, where);
            if (label && !json_is_string(label)) return cpet_fail(err, "%s: %slabel: expected a string", path, where);
            snprintf(c->chain, sizeof c->chain, "%s", json_string_value(chain));
            if (label) snprintf(c->label, sizeof c->label, "%s", json_string_value(label));
            if (compression_overrides(e, c, path, where, err) != 0) return -1;
            c->custom = 1;
        } else return cpet_fail(err, "%s: compressions[%d]: expected a chain or an object", path, i);
        if (!c->label[0]) snprintf(c->label, sizeof c->label, "%s", c->chain);
        for (int j = 0; j < i; j++)
            if (!strcmp(c->label, s->compressions[j].label))
                return cpet_fail(err, "%s: compressions[%d]: label '%s' is used twice (give \"label\")", path, i, c->label);
        if (!strcmp(c->chain, "none")) continue;
        compress_options o = {.group = c->group, .sparsity = c->sparsity, .damp = 0.01, .lm_head = c->lm_head,
                              .embeddings = c->embeddings};
        if (compress_check_chain(c->chain, &o, s->calib[0] != 0, err) != 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return cpet_fail(err, "%s: compressions[%d]: %s", path, i, msg);
        }
    }
    json_t *held = json_object_get(root, "heldout");
    if (held && !json_is_string(held)) return cpet_fail(err, "%s: heldout: expected a string", path);
    if (held) snprintf(s->heldout, sizeof s->heldout, "%s", json_string_value(held));
    json_t *held_limit = json_object_get(root, "heldout_limit"); /* a profile may set its own */
    if (held_limit && (!json_is_integer(held_limit) || json_integer_value(held_limit) < 1))
        return cpet_fail(err, "%s: heldout_limit: expected a positive integer", path);
    if (held_limit) s->heldout_limit = (int)json_integer_value(held_limit);
    json_t *methods = json_object_get(root, "methods"), *tasks = json_object_get(root, "tasks"),
           *seeds = json_object_get(root, "seeds"), *threads = json_object_get(root, "threads");
    if (!json_is_array(methods) || json_array_size(methods) == 0) return cpet_fail(err, "%s: methods: expected a non-empty list", path);
    if (!json_is_array(tasks) || json_array_size(tasks) == 0) return cpet_fail(err, "%s: tasks: expected a non-empty list", path);
    s->n_methods = (int)json_array_size(methods);
    s->methods = calloc((size_t)s->n_methods, sizeof *s->methods);
    for (int i = 0; i < s->n_methods; i++)
        if (parse_method(&s->methods[i], json_array_get(methods, (size_t)i), i, path, err) != 0) return -1;
    for (int i = 0; i < s->n_methods; i++)
        for (size_t j = 0; s->methods[i].only && j < json_array_size(s->methods[i].only); j++) {
            const char *want = json_string_value(json_array_get(s->methods[i].only, j));
            int found = 0;
            for (int k = 0; k < s->n_compressions && !found; k++) found = !strcmp(want, s->compressions[k].label);
            if (!found) return cpet_fail(err, "%s: methods[%d].compressions[%zu]: no compression is labelled '%s'", path, i, j, want);
        }
    for (int i = 0; i < s->n_methods; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(s->methods[i].label, s->methods[j].label) == 0)
                return cpet_fail(err, "%s: methods[%d]: label '%s' is used twice (give \"label\")", path, i, s->methods[i].label);
    s->n_tasks = (int)json_array_size(tasks);
    s->tasks = calloc((size_t)s->n_tasks, sizeof *s->tasks);
    for (int i = 0; i < s->n_tasks; i++)
        if (parse_task(&s->tasks[i], json_array_get(tasks, (size_t)i), i, path, err) != 0) return -1;
    if (seeds) {
        if (!json_is_array(seeds) || json_array_size(seeds) == 0) return cpet_fail(err, "%s: seeds: expected a non-empty list of integers", path);
        s->n_seeds = (int)json_array_size(seeds);
        s->seeds = calloc((size_t)s->n_seeds, sizeof *s->seeds);
        for (int i = 0; i < s->n_seeds; i++) {
            json_t *x = json_array_get(seeds, (size_t)i);
            if (!json_is_integer(x) || json_integer_value(x) < 0) return cpet_fail(err, "%s: seeds[%d]: expected a non-negative integer", path, i);
            s->seeds[i] = json_integer_value(x);
        }
    } else {
        s->n_seeds = 1;
        s->seeds = calloc(1, sizeof *s->seeds);
    }
    if (threads) {
        if (!json_is_integer(threads) || json_integer_value(threads) < 1) return cpet_fail(err, "%s: threads: expected a positive integer", path);
        s->threads = (int)json_integer_value(threads);
    }
    if (profile) return apply_profile(s, root, json_string_value(profile), path, err);
    return 0;
}

int spec_load(spec *s, const char *path, cpet_err *err) { return spec_load_profile(s, path, NULL, err); }

int spec_load_profile(spec *s, const char *path, const char *profile, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    json_t *root = json_read_file(path, err);
    if (!root) return -1;
    if (profile && json_is_object(root)) json_object_set_new(root, "profile", json_string(profile));
    int rc = spec_parse(s, root, path, err);
    if (rc != 0) {
        json_decref(root);
        spec_free(s);
        return rc;
    }
    s->root = root;
    return 0;
}

void spec_free(spec *s)
{
    for (int i = 0; i < s->n_models; i++) free(s->models[i]);
    for (int i = 0; i < s->n_methods; i++) json_decref(s->methods[i].params), json_decref(s->methods[i].only);
    free(s->models);
    free(s->compressions);
    free(s->methods);
    free(s->tasks);
    free(s->seeds);
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}

void json_hash(const json_t *v, char out[17])
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; p && *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    free(text);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int cell_shard(const cell *c, int n)
{
    /* The config hash is FNV-1a, whose low bits depend only on the low bits of the input bytes (its low bit
     * is the parity of the text), so cells alike in those fell into one shard; a splitmix64 finalizer mixes
     * every bit into every bit before the modulo. */
    unsigned long long h = strtoull(c->config_hash, NULL, 16);
    h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27, h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return (int)(h % (unsigned long long)n) + 1;
}

int cells_by_hash(const cell *cells, int n, str_map *out)
{
    if (str_map_init(out, (size_t)n * 2 + 1) != 0) return -1;
    for (int k = 0; k < n; k++)
        if (str_map_put(out, cells[k].config_hash, strlen(cells[k].config_hash), k) != 0) return -1;
    return 0;
}

static int method_runs_on(const spec_method *m, const char *compression)
{
    for (size_t i = 0; m->only && i < json_array_size(m->only); i++)
        if (!strcmp(json_string_value(json_array_get(m->only, i)), compression)) return 1;
    return !m->only;
}

cell *spec_expand(const spec *s, int *n_cells)
{
    int n = s->n_models * s->n_compressions * s->n_methods * s->n_tasks * s->n_seeds, k = 0;
    cell *cells = calloc((size_t)n + 1, sizeof *cells);
    for (int a = 0; a < s->n_models; a++)
        for (int b = 0; b < s->n_compressions; b++)
            for (int c = 0; c < s->n_methods; c++)
                for (int d = 0; d < s->n_tasks && method_runs_on(&s->methods[c], s->compressions[b].label); d++)
                    for (int e = 0; e < s->n_seeds; e++, k++) {
                        cell *x = &cells[k];
                        x->index = k + 1;
                        x->model = s->models[a];
                        x->comp = &s->compressions[b];
                        x->compression = x->comp->label;
                        x->method = &s->methods[c];
                        x->task = &s->tasks[d];
                        x->seed = s->seeds[e];
                        snprintf(x->key, sizeof x->key, "model=%s compression=%s method=%s task=%s seed=%lld", x->model,
                                 x->compression, x->method->label, x->task->name, (long long)x->seed);
                        json_t *hashed = json_deep_copy(x->method->params);
                        for (int k = 0; k < x->method->info->n_params; k++) { /* method.h: hashed_only_when_set */
                            const method_param *p = &x->method->info->params[k];
                            json_t *dflt = json_loads(p->default_json, JSON_DECODE_ANY, NULL);
                            if (p->hashed_only_when_set && json_equal(json_object_get(hashed, p->key), dflt))
                                json_object_del(hashed, p->key);
                            json_decref(dflt);
                        }
                        x->config = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:s, s:s, s:s, s:i}, s:I}", "model",
                                              x->model, "compression", x->compression, "method", "name",
                                              x->method->info->name, "label", x->method->label, "params",
                                              hashed, "task", "name", x->task->name, "file", x->task->file,
                                              "train_split", x->task->train_split, "eval_split", x->task->eval_split,
                                              "limit", x->task->limit, "seed", (json_int_t)x->seed);
                        const spec_compression *co = x->comp;
                        json_t *opts = NULL;
                        if (strcmp(co->chain, "none") != 0) {
                            opts = json_pack("{s:i, s:f, s:s, s:i, s:i}", "group", co->group, "sparsity", co->sparsity, "calib",
                                             s->calib, "calib_rows", s->calib_rows, "calib_seq", s->calib_seq);
                            json_object_set_new(x->config, "compression_options", opts);
                            if (co->custom) json_object_set_new(opts, "chain", json_string(co->chain)); /* the label is the row */
                        }
                        if (s->heldout[0]) json_object_set_new(x->config, "heldout", json_string(s->heldout));
                        if (s->heldout_limit) json_object_set_new(x->config, "heldout_limit", json_integer(s->heldout_limit)); /* only when set */
                        if (opts && co->lm_head) json_object_set_new(opts, "lm_head", json_true()); /* only when set: other hashes stay */
                        if (opts && co->embeddings) json_object_set_new(opts, "embeddings", json_true());
                        if (opts && compress_chain_trains(co->chain)) /* only for chains that train: other hashes stay */
                            json_object_set_new(opts, "train", compress_training_json(&co->train));
                        json_hash(x->config, x->config_hash);
                    }
    *n_cells = k;
    return cells;
}

void cells_free(cell *c, int n)
{
    for (int i = 0; i < n; i++) json_decref(c[i].config);
    free(c);
}
