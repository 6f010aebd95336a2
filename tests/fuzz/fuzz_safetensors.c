/* safetensors: the header (JSON, offsets that must tile the data) and every tensor's conversion. */
#include <stdlib.h>

#include "fuzz.h"
#include "safetensors.h"

FUZZ_TARGET(fuzz_safetensors)
{
    const char *path = fuzz_path("model.safetensors", 0);
    fuzz_write(path, data, size);
    st_file f;
    cpet_err err;
    if (st_open(&f, path, &err) != 0) return 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        if (st_find(&f, t->name) == NULL) abort(); /* every listed tensor is found by its name */
        if (t->numel > (1u << 20)) continue;
        float *fb = malloc((t->numel ? t->numel : 1) * sizeof *fb);
        int *ib = malloc((t->numel ? t->numel : 1) * sizeof *ib);
        (void)st_to_f32(&f, t, fb, &err);
        (void)st_to_int(&f, t, ib, &err);
        free(fb);
        free(ib);
    }
    (void)st_meta(&f, "format");
    st_close(&f);
    return 0;
}
