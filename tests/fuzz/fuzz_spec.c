/* A matrix spec (JSON): every field, profiles and method parameters, then the cells' expansion. */
#include "fuzz.h"
#include "spec.h"

FUZZ_TARGET(fuzz_spec)
{
    const char *path = fuzz_path("spec.json", 0);
    fuzz_write(path, data, size);
    spec s;
    cpet_err err;
    if (spec_load(&s, path, &err) == 0) spec_free(&s);
    if (spec_load_profile(&s, path, "quick", &err) == 0) spec_free(&s);
    return 0;
}
