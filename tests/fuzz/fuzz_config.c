/* config.json (HF LLaMA family): parsing and validation. */
#include "config.h"
#include "fuzz.h"

FUZZ_TARGET(fuzz_config)
{
    const char *path = fuzz_path("config.json", 0);
    fuzz_write(path, data, size);
    model_config c;
    cpet_err err;
    (void)config_load(&c, path, &err);
    return 0;
}
