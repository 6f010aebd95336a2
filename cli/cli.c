#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cpet: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_report(const cpet_err *err) { return cli_error("%s", err->msg); }

int cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int cli_options(const opt_command *cmd, const opt *opts, int argc, char **argv)
{
    cpet_err err;
    const int p = opt_parse(cmd, opts, argc, argv, &err);
    if (p == OPT_ERROR) cli_report(&err);
    return p;
}

int cli_exit_status(int parse_result) { return parse_result == OPT_HELP ? 0 : 1; }

int stderr_is_tty(void) { return isatty(2); }

int cli_stage_model(const model *m, const tokenizer *tok, const char *out, char *staged, size_t n, cpet_err *err)
{
    char path[4400];
    snprintf(staged, n, "%s.partial", out);
    if (model_save(m, staged, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", staged);
    return tokenizer_save(tok, path, err);
}
