/* Shared by the CLI's subcommand files: argument helpers and the run facts every JSON records. */
#ifndef CPET_CLI_H
#define CPET_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"
#include "facts.h"
#include "model.h"
#include "options.h"
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
int cli_is_help(const char *arg);
/* opt_parse (common/options.h) with its error printed; returns OPT_OK, OPT_HELP or OPT_ERROR. The usual
 * ending: `if (p != OPT_OK) return cli_exit_status(p);` (0 after help, 1 after an error). */
int cli_options(const opt_command *cmd, const opt *opts, int argc, char **argv);
int cli_exit_status(int parse_result);

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
int cmd_isa(int argc, char **argv);
int cmd_world(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_method(int argc, char **argv);
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
