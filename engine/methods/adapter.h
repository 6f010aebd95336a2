/* Any adapter directory cpet writes, attached for inference: a PEFT LoRA or MoSLoRA (with a CA-LoRA
 * adapter's recovery modules when the directory has them) or a LoRETTA adapter, told apart by
 * adapter_config.json's peft_type. The one loader the inference commands and benchmarks use. */
#ifndef CPET_ADAPTER_H
#define CPET_ADAPTER_H

#include "error.h"
#include "lora.h"
#include "loretta.h"
#include "model.h"
#include "recovery.h"

enum { ADAPTER_NONE, ADAPTER_LORA, ADAPTER_LORETTA };

typedef struct {
    int kind;
    lora_adapter lora;
    recovery_set recovery;
    loretta_adapter loretta;
} any_adapter;

/* Loads and attaches the adapter in dir; nothing attached on failure. */
int adapter_load(any_adapter *a, model *m, const char *dir, cpet_err *err);
/* Detaches and frees (a zeroed or failed one too). */
void adapter_free(any_adapter *a);

#endif
