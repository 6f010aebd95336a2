/* EREN's notebook file. */
#include "eren.h"
#include "fuzz.h"

FUZZ_TARGET(fuzz_notebook)
{
    const char *path = fuzz_path("notebook.jsonl", 0);
    fuzz_write(path, data, size);
    eren_notebook nb;
    notebook_init(&nb);
    cpet_err err;
    if (notebook_load(&nb, path, &err) == 0) {
        eren_index x;
        if (eren_index_bm25(&x, &nb, &err) == 0) {
            int ids[3];
            double scores[3];
            (void)eren_retrieve(&x, &nb, "Where was the river city founded?", 3, ids, scores, &err);
            eren_index_free(&x);
        }
    }
    notebook_free(&nb);
    return 0;
}
