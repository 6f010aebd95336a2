/* Shared by the CLI's subcommand files: argument helpers and the run facts every JSON records. */
#ifndef CPET_CLI_H
#define CPET_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"
#include "facts.h"
#include "model.h"
#include "tokenizer.h"

typedef int (*command_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    command_fn fn;
    const char *summary;
} command;

/* Prints "cpet: <msg>" on stderr and returns 1 (the exit status for errors). */
int cli_error(const char *fmt, ...);
int cli_report(const cpet_err *err);
/* Option value after argv[*i] (advances *i); NULL with an error if missing. */
const char *cli_value(int argc, char **argv, int *i);
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *opt, const char *s, double *out);
int cli_is_help(const char *arg);

int stderr_is_tty(void);

/* A model and its tokenizer written into OUT.partial (staged, named there), for the caller to add its log to
 * and then replace_dir(staged, OUT): readers never see a half-written model directory. */
int cli_stage_model(const model *m, const tokenizer *tok, const char *out, char *staged, size_t n, cpet_err *err);

/* subcommands */
int cmd_info(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_train_lora(int argc, char **argv);
int cmd_calora(int argc, char **argv);
int cmd_sparsify(int argc, char **argv);
int cmd_predictor(int argc, char **argv);
int cmd_conpet(int argc, char **argv);
int cmd_edit_reader(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_notebook(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_world(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench_compare(int argc, char **argv);
int cmd_bench_ab(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_tokenizer_train(int argc, char **argv);


#endif
