/* Multiple-choice task JSONL (generated or a user's own). */
#include "fuzz.h"
#include "tasks.h"

FUZZ_TARGET(fuzz_tasks)
{
    const char *path = fuzz_path("tasks.jsonl", 0);
    fuzz_write(path, data, size);
    task_set s = {0};
    cpet_err err;
    if (tasks_read(&s, path, NULL, &err) == 0) tasks_free(&s);
    task_set t = {0};
    if (tasks_read(&t, path, "test", &err) == 0) tasks_free(&t);
    return 0;
}
