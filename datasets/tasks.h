/* Multiple-choice task examples, one JSON object per line (the schema is in datasets/README.md):
 *   {"id", "task", "split", "prompt", "choices": [...], "label", "subject", "relation"}
 * The same reader takes generated files and users' own JSONL. */
#ifndef CPET_TASKS_H
#define CPET_TASKS_H

#include <stddef.h>

#include "error.h"

typedef struct {
    char *id, *task, *split, *prompt, *subject, *relation;
    char **choices;
    int n_choices;
    int label;
} task_example;

typedef struct {
    task_example *items;
    int n, cap;
} task_set;

/* Reads a JSONL file; split_filter (NULL = all) keeps only examples of that split. Errors name file:line. */
int tasks_read(task_set *s, const char *path, const char *split_filter, cpet_err *err);
void tasks_free(task_set *s);
/* Appends a copy of ex. */
void tasks_add(task_set *s, const task_example *ex);
/* Writes the set as JSONL, atomically. */
int tasks_write(const task_set *s, const char *path, cpet_err *err);

#endif
