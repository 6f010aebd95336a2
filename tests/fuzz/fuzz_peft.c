/* An adapter (adapter_config.json, then adapter_model.safetensors, cut at FUZZ_CUT) loaded onto the test
 * fixture's model by the one adapter loader: PEFT LoRA with CA-LoRA recovery modules when the config says
 * so, or LoRETTA when its peft_type does. */
#include <stdio.h>
#include <stdlib.h>

#include "adapter.h"
#include "fuzz.h"
#include "lora.h"
#include "model.h"
#include "recovery.h"

/* loaded once per process (libFuzzer calls a target many times; it stays for the process's life) */
static model *fixture_model(void)
{
    static model base;
    static int loaded;
    if (!loaded) {
        cpet_err err;
        if (model_load(&base, CPET_FIXTURES "/hf/llama_gqa_silu", &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
        loaded = 1;
    }
    return &base;
}

FUZZ_TARGET(fuzz_peft)
{
    const uint8_t *part[2];
    size_t len[2];
    if (fuzz_split(data, size, part, len, 2) < 2) return 0;
    fuzz_write(fuzz_path("adapter_config.json", 0), part[0], len[0]);
    fuzz_write(fuzz_path("adapter_model.safetensors", 0), part[1], len[1]);
    fuzz_write(fuzz_path("recovery_config.json", 0), part[0], len[0]);
    const char *dir = fuzz_path("", 0);
    cpet_err err;
    model *base = fixture_model();
    any_adapter a;
    if (adapter_load(&a, base, dir, &err) == 0) {
        recovery_set r;
        if (a.kind == ADAPTER_LORA && recovery_load(&r, base, dir, &err) == 0) recovery_free(&r);
        adapter_free(&a);
    }
    return 0;
}
