#include "tasks.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void tasks_add(task_set *s, const task_example *ex)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->items = realloc(s->items, (size_t)s->cap * sizeof *s->items);
    }
    task_example *d = &s->items[s->n++];
    d->id = dup_or_null(ex->id);
    d->task = dup_or_null(ex->task);
    d->split = dup_or_null(ex->split);
    d->prompt = dup_or_null(ex->prompt);
    d->subject = dup_or_null(ex->subject);
    d->relation = dup_or_null(ex->relation);
    d->n_choices = ex->n_choices;
    d->label = ex->label;
    d->choices = malloc((size_t)ex->n_choices * sizeof(char *));
    for (int i = 0; i < ex->n_choices; i++) d->choices[i] = strdup(ex->choices[i]);
}

void tasks_free(task_set *s)
{
    for (int i = 0; i < s->n; i++) {
        task_example *e = &s->items[i];
        free(e->id);
        free(e->task);
        free(e->split);
        free(e->prompt);
        free(e->subject);
        free(e->relation);
        for (int c = 0; c < e->n_choices; c++) free(e->choices[c]);
        free(e->choices);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}

static const char *opt_string(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

int tasks_read(task_set *s, const char *path, const char *split_filter, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) return cpet_fail(err, "%s: cannot open (missing file?)", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        if (!o) {
            rc = cpet_fail(err, "%s:%d: not valid JSON (%s)", path, lineno, jerr.text);
            break;
        }
        json_t *choices = json_object_get(o, "choices"), *label = json_object_get(o, "label");
        const char *prompt = opt_string(o, "prompt");
        if (!json_is_object(o) || !prompt || !json_is_array(choices) || json_array_size(choices) < 2 ||
            !json_is_integer(label)) {
            json_decref(o);
            rc = cpet_fail(err, "%s:%d: needs \"prompt\" (string), \"choices\" (2 or more strings) and \"label\" (integer)",
                           path, lineno);
            break;
        }
        int n_choices = (int)json_array_size(choices);
        long long label_value = json_integer_value(label);
        if (label_value < 0 || label_value >= n_choices) {
            json_decref(o);
            rc = cpet_fail(err, "%s:%d: label %lld is not an index into the %d choices", path, lineno, label_value,
                           n_choices);
            break;
        }
        const char *split = opt_string(o, "split");
        if (split_filter && (!split || strcmp(split, split_filter) != 0)) {
            json_decref(o);
            continue;
        }
        task_example ex = {0};
        char idbuf[64];
        snprintf(idbuf, sizeof idbuf, "line%d", lineno);
        ex.id = (char *)(opt_string(o, "id") ? opt_string(o, "id") : idbuf);
        ex.task = (char *)opt_string(o, "task");
        ex.split = (char *)split;
        ex.prompt = (char *)prompt;
        ex.subject = (char *)opt_string(o, "subject");
        ex.relation = (char *)opt_string(o, "relation");
        ex.label = (int)json_integer_value(label);
        ex.n_choices = n_choices;
        ex.choices = malloc((size_t)n_choices * sizeof(char *));
        int ok = 1;
        for (int c = 0; c < n_choices; c++) {
            ex.choices[c] = (char *)json_string_value(json_array_get(choices, (size_t)c));
            ok = ok && ex.choices[c];
        }
        if (ok) tasks_add(s, &ex);
        free(ex.choices);
        json_decref(o);
        if (!ok) {
            rc = cpet_fail(err, "%s:%d: every choice must be a string", path, lineno);
            break;
        }
    }
    free(line);
    fclose(fp);
    if (rc != 0) tasks_free(s);
    return rc;
}

int tasks_write(const task_set *s, const char *path, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    for (int i = 0; i < s->n; i++) {
        const task_example *e = &s->items[i];
        json_t *choices = json_array();
        for (int c = 0; c < e->n_choices; c++) json_array_append_new(choices, json_string(e->choices[c]));
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s, s:o, s:i, s:s?, s:s?}", "id", e->id, "task", e->task, "split",
                              e->split, "prompt", e->prompt, "choices", choices, "label", e->label, "subject",
                              e->subject, "relation", e->relation);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        json_decref(o);
        int ok = text && fputs(text, af.fp) >= 0 && fputc('\n', af.fp) != EOF;
        free(text);
        if (!ok) {
            atomic_abort(&af);
            return cpet_fail(err, "%s: write failed", path);
        }
    }
    return atomic_commit(&af, err);
}
