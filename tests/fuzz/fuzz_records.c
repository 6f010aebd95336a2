/* A run's records.jsonl in each reading mode (strict, repair a torn last line, skip it). */
#include <jansson.h>

#include "fuzz.h"
#include "records.h"

FUZZ_TARGET(fuzz_records)
{
    const char *path = fuzz_path("records.jsonl", 0);
    cpet_err err;
    static const records_mode modes[] = {RECORDS_STRICT, RECORDS_SKIP_TORN, RECORDS_REPAIR};
    for (int i = 0; i < 3; i++) {
        fuzz_write(path, data, size);
        json_t *r = records_read(path, modes[i], &err);
        json_decref(r);
    }
    return 0;
}
