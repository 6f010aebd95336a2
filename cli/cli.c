#include "cli.h"

#include <errno.h>
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

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    if (!s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        cli_error("option %s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *opt, const char *s, double *out)
{
    if (!s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s) {
        cli_error("option %s: '%s' is not a number", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int stderr_is_tty(void) { return isatty(2); }

int cli_stage_model(const model *m, const tokenizer *tok, const char *out, char *staged, size_t n, cpet_err *err)
{
    char path[4400];
    snprintf(staged, n, "%s.partial", out);
    if (model_save(m, staged, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", staged);
    return tokenizer_save(tok, path, err);
}
