/* runs/NAME/records.jsonl: one JSON record per finished cell, appended with a single write + fsync. */
#ifndef CPET_RECORDS_H
#define CPET_RECORDS_H

#include <jansson.h>

#include "error.h"

typedef enum {
    RECORDS_STRICT,     /* a corrupt line is an error naming file:line */
    RECORDS_REPAIR,     /* a corrupt *last* line (a torn append) moves to FILE.corrupt; the rest is kept */
    RECORDS_SKIP_TORN,  /* a corrupt last line is left where it is and not returned (another writer's file) */
} records_mode;

/* Reads every record into a JSON array. A corrupt line before the last is always an error naming
 * file:line. A missing file gives an empty array. */
json_t *records_read(const char *path, records_mode mode, cpet_err *err);
int records_append(const char *path, const json_t *record, cpet_err *err);

#endif
