#include "adapter.h"

#include <jansson.h>
#include <string.h>

#include "fileio.h"

int adapter_load(any_adapter *a, model *m, const char *dir, cpet_err *err)
{
    memset(a, 0, sizeof *a);
    char path[4200];
    if (path_join(path, sizeof path, dir, "adapter_config.json") != 0) return cpet_fail(err, "%s: path too long", dir);
    if (!path_exists(path)) return cpet_fail(err, "%s: missing file", path);
    json_t *cfg = json_read_file(path, err);
    if (!cfg) return -1;
    const char *type = json_string_value(json_object_get(cfg, "peft_type"));
    const int loretta = type && !strncmp(type, "LORETTA_", 8);
    json_decref(cfg);
    int rc;
    if (loretta) {
        a->kind = ADAPTER_LORETTA;
        rc = loretta_load(&a->loretta, m, dir, err);
    } else {
        a->kind = ADAPTER_LORA;
        rc = lora_load(&a->lora, m, dir, err);
        if (rc == 0) rc = recovery_load_if_present(&a->recovery, m, dir, err);
    }
    if (rc != 0) adapter_free(a);
    return rc;
}

void adapter_free(any_adapter *a)
{
    if (a->kind == ADAPTER_LORA) recovery_free(&a->recovery), lora_free(&a->lora);
    if (a->kind == ADAPTER_LORETTA) loretta_free(&a->loretta);
    memset(a, 0, sizeof *a);
}
