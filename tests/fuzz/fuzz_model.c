/* A model directory: config.json, then model.safetensors, cut at FUZZ_CUT. The config must agree with the
 * tensors' names and shapes; a config that claims more than the file holds must fail before allocating it. */
#include "fuzz.h"
#include "model.h"

FUZZ_TARGET(fuzz_model)
{
    const uint8_t *part[2];
    size_t len[2];
    if (fuzz_split(data, size, part, len, 2) < 2) return 0;
    fuzz_write(fuzz_path("config.json", 0), part[0], len[0]);
    fuzz_write(fuzz_path("model.safetensors", 0), part[1], len[1]);
    const char *dir = fuzz_path("", 0);
    model m;
    cpet_err err;
    if (model_load(&m, dir, &err) == 0) model_free(&m);
    if (model_load_mapped(&m, dir, &err) == 0) model_free(&m);
    return 0;
}
