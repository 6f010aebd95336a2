/* The one command-line parser: every command describes its options as a table (name, type, where the value
 * goes, help) and the parser reads argv against it, checks each value's type and range, and prints the
 * help from the same table. A default is written once, as the initial value of the variable an option
 * fills, and --help prints it from there.
 *
 *   long steps = 100; double lr = 1e-3; const char *out = NULL;
 *   const opt opts[] = {OPT_INT("--steps", &steps, 0, 1 << 24, "optimizer steps"),
 *                       OPT_NUMBER("--lr", &lr, "peak learning rate"), OPT_OUT(&out), OPT_END};
 *   switch (opt_parse(&cmd, opts, argc, argv, &err)) { case OPT_HELP: return 0; case OPT_ERROR: ... }
 *
 * Errors are one line in err naming the command and the option ("calora: --steps 'x' is not an integer in
 * [0, 16777216]"); nothing is printed but the help. */
#ifndef CPET_OPTIONS_H
#define CPET_OPTIONS_H

#include <stdio.h>

#include "error.h"

typedef enum {
    OPT_T_INT,    /* long *, in [lo, hi] */
    OPT_T_INT32,  /* int *, in [lo, hi] */
    OPT_T_INTS,   /* int *: a comma list like 1,4 (at most hi values, each in [1, 1 << 20]; *count holds how many) */
    OPT_T_FLOAT,  /* float *, finite, in [lo, hi] when lo <= hi */
    OPT_T_SHARE,  /* double *: "10%" or 0.1, in [lo, hi] */
    OPT_T_NUMBER, /* double *, finite, in [lo, hi] when lo <= hi (hi may be INFINITY: at least lo) */
    OPT_T_STRING, /* const char ** (argv's own text) */
    OPT_T_BOOL,   /* int *: on|off|true|false|1|0 after it, or the flag alone for on */
    OPT_T_SWITCH, /* int *: set to 1 by the flag alone, no value */
    OPT_T_CHOICE, /* int *: the index of the value in choices ("silu|relu") */
    OPT_T_REPEAT, /* const char **: each use appends (at most hi values; *count holds how many) */
    OPT_T_END
} opt_type;

typedef struct {
    const char *name; /* "--steps", "-o"; "" for a positional argument (type STRING, in table order) */
    opt_type type;
    void *dst;
    const char *help;
    double lo, hi;
    const char *choices;  /* CHOICE: "a|b|c" */
    int *count;           /* REPEAT: values so far */
    const char *metavar;  /* what the value is called in the help ("N", "DIR"); NULL: from the type */
    const char *alias;    /* a second accepted name (a renamed flag keeps its old one) */
    const char *default_text; /* the default as the help says it, when the variable's value does not ("200 per entity") */
    int required;
} opt;

#define OPT_INT(n, p, min, max, h) {.name = n, .type = OPT_T_INT, .dst = (p), .help = h, .lo = min, .hi = max}
#define OPT_INT32(n, p, min, max, h) {.name = n, .type = OPT_T_INT32, .dst = (p), .help = h, .lo = min, .hi = max}
#define OPT_INTS(n, arr, cnt, max, h) {.name = n, .type = OPT_T_INTS, .dst = (arr), .help = h, .hi = max, .count = (cnt), .metavar = "N,N,..."}
#define OPT_FLOAT(n, p, h) {.name = n, .type = OPT_T_FLOAT, .dst = (p), .help = h, .lo = 1, .hi = 0}
#define OPT_SHARE(n, p, min, max, h) {.name = n, .type = OPT_T_SHARE, .dst = (p), .help = h, .lo = min, .hi = max, .metavar = "P%"}
#define OPT_NUMBER(n, p, h) {.name = n, .type = OPT_T_NUMBER, .dst = (p), .help = h, .lo = 1, .hi = 0}
#define OPT_RANGE(n, p, min, max, h) {.name = n, .type = OPT_T_NUMBER, .dst = (p), .help = h, .lo = min, .hi = max}
#define OPT_STRING(n, p, meta, h) {.name = n, .type = OPT_T_STRING, .dst = (p), .help = h, .metavar = meta}
#define OPT_REQUIRED(n, p, meta, h) {.name = n, .type = OPT_T_STRING, .dst = (p), .help = h, .metavar = meta, .required = 1}
#define OPT_BOOL(n, p, h) {.name = n, .type = OPT_T_BOOL, .dst = (p), .help = h}
#define OPT_SWITCH(n, p, h) {.name = n, .type = OPT_T_SWITCH, .dst = (p), .help = h}
#define OPT_CHOICE(n, p, list, h) {.name = n, .type = OPT_T_CHOICE, .dst = (p), .help = h, .choices = list}
#define OPT_REPEAT(n, arr, cnt, max, meta, h) {.name = n, .type = OPT_T_REPEAT, .dst = (arr), .help = h, .hi = max, .count = (cnt), .metavar = meta}
#define OPT_POSITIONAL(p, meta, h) {.name = "", .type = OPT_T_STRING, .dst = (p), .help = h, .metavar = meta, .required = 1}
/* the options every command spells the same way */
#define OPT_SEED(p) OPT_INT("--seed", p, 0, 0x7fffffffL, "random seed (recorded in every output)")
#define OPT_THREADS(p) OPT_INT("--threads", p, 0, 1024, "threads (0: OpenBLAS / OpenMP's default)")
#define OPT_OUT(p) OPT_REQUIRED("-o", p, "OUT", "where the result goes (written whole or not at all)")
#define OPT_END {.type = OPT_T_END}
/* an option whose default the variable's initial value does not say (0 standing for "computed") */
#define OPT_INT_DEFAULT(n, p, min, max, h, dflt) {.name = n, .type = OPT_T_INT, .dst = (p), .help = h, .lo = min, .hi = max, .default_text = dflt}

typedef struct {
    const char *name;  /* "calora", "bench engine": errors and the usage line name it */
    const char *usage; /* what follows "usage: cpet NAME" (NULL: built from the table) */
    const char *about; /* the paragraph under the usage line (may be NULL) */
    const char *after; /* text after the option list (may be NULL) */
} opt_command;

enum { OPT_OK = 0, OPT_HELP = 1, OPT_ERROR = -1 };

/* Parses argv[1..argc) against opts. -h / --help prints the help on stdout and returns OPT_HELP; an
 * unknown option, a missing or bad value, or a required option left out returns OPT_ERROR with err set. */
int opt_parse(const opt_command *cmd, const opt *opts, int argc, char **argv, cpet_err *err);
/* The help: usage line, about, one line per option with its value's form, help and default, then after. */
void opt_print_help(FILE *f, const opt_command *cmd, const opt *opts);

/* Value checks the parser uses, for callers that read a value elsewhere (an environment variable, a
 * spec). 0 on success; -1 with err naming `what`. */
int opt_read_int(const char *what, const char *s, long lo, long hi, long *out, cpet_err *err);
int opt_read_number(const char *what, const char *s, double lo, double hi, double *out, cpet_err *err);
int opt_read_bool(const char *what, const char *s, int *out, cpet_err *err);
/* the index of s in "a|b|c", or -1 */
int opt_choice_index(const char *choices, const char *s);
/* "a|b|c" as "a, b or c", for messages */
void opt_choices_text(const char *choices, char *buf, size_t n);

#endif
