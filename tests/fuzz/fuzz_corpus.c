/* A corpus: JSONL ({"text": ...} per line) and plain text (one document per line). */
#include "corpus.h"
#include "fuzz.h"

FUZZ_TARGET(fuzz_corpus)
{
    cpet_err err;
    const char *paths[2] = {fuzz_path("corpus.jsonl", 0), fuzz_path("corpus.txt", 1)};
    for (int i = 0; i < 2; i++) {
        fuzz_write(paths[i], data, size);
        corpus c;
        if (corpus_read(&c, paths[i], &err) == 0) {
            corpus_keep_evenly(&c, 3);
            corpus_free(&c);
        }
    }
    return 0;
}
