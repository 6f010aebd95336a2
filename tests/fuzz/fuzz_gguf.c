/* GGUF: the header, metadata and tensor infos, then loading a model and a tokenizer from it. */
#include "fuzz.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

FUZZ_TARGET(fuzz_gguf)
{
    const char *path = fuzz_path("model.gguf", 0);
    fuzz_write(path, data, size);
    cpet_err err;
    gguf_file g;
    if (gguf_open(&g, path, &err) != 0) return 0;
    gguf_close(&g);
    model m;
    if (gguf_load_model(&m, path, &err) == 0) model_free(&m);
    tokenizer t;
    if (gguf_load_tokenizer(&t, path, &err) == 0) tokenizer_free(&t);
    return 0;
}
