/* The embedded default's pretraining summary, rendered from the pretrain.json `cpet pretrain` writes
 * (so docs/embedded-default.md's table is regenerated from the committed JSON, never typed in). */
#ifndef CPET_PRETRAIN_REPORT_H
#define CPET_PRETRAIN_REPORT_H

#include "error.h"

/* Writes OUT_DIR/pretrain.md: the model, training time and rate, and every evaluation recorded. */
int pretrain_report(const char *pretrain_json, const char *out_dir, cpet_err *err);

#endif
