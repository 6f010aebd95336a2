/* tokenizer.json, byte-level BPE and SentencePiece-style: loading, then a round trip of a fixed text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

FUZZ_TARGET(fuzz_tokenizer)
{
    const char *path = fuzz_path("tokenizer.json", 0);
    fuzz_write(path, data, size);
    tokenizer t;
    cpet_err err;
    if (tokenizer_load(&t, path, &err) != 0) return 0;
    static const char text[] = "The river city, founded in 1203 -- caf\xc3\xa9 \xe2\x96\x81 <s> tab\there\n";
    int *ids = NULL, n = 0;
    if (tokenizer_encode(&t, text, sizeof text - 1, &ids, &n, &err) == 0) {
        char *out = NULL;
        size_t out_len = 0;
        if (tokenizer_decode(&t, ids, n, &out, &out_len, &err) == 0) free(out);
        free(ids);
    }
    tokenizer_free(&t);
    return 0;
}
