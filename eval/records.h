/* runs/NAME/records.jsonl: one JSON record per finished cell, appended with a single write + fsync. */
#ifndef CPET_RECORDS_H
#define CPET_RECORDS_H

#include <jansson.h>

#include "error.h"

/* Reads every record into a JSON array. A line that is not a complete JSON object is an error naming
 * file:line; with repair, a corrupt *last* line (a torn append) is moved to records.jsonl.corrupt and the
 * rest is kept. A missing file gives an empty array. */
json_t *records_read(const char *path, int repair, cpet_err *err);
int records_append(const char *path, const json_t *record, cpet_err *err);

#endif
