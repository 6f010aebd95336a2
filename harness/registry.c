/* The method registry: every harness method, in listing order. Adding a method: one file in
 * harness/methods/ and one line here (docs/extending.md). */
#include <string.h>

#include "method.h"

extern const method method_zero_shot, method_lora, method_lora_fa, method_calora, method_prosparse, method_conpet, method_eren,
    method_loretta;

const method *const method_registry[] = {
    &method_zero_shot,
    &method_lora,
    &method_lora_fa,
    &method_loretta,
    &method_calora,
    &method_prosparse,
    &method_conpet,
    &method_eren,
};
const int method_registry_size = (int)(sizeof method_registry / sizeof method_registry[0]);

const method *method_find(const char *name)
{
    for (int i = 0; i < method_registry_size; i++)
        if (strcmp(method_registry[i]->name, name) == 0) return method_registry[i];
    return NULL;
}
