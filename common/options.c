#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int opt_read_int(const char *what, const char *s, long lo, long hi, long *out, cpet_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return cpet_fail(err, "%s '%s' is not an integer in [%ld, %ld]", what, s, lo, hi);
    *out = v;
    return 0;
}

int opt_read_number(const char *what, const char *s, double lo, double hi, double *out, cpet_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v)) return cpet_fail(err, "%s '%s' is not a number", what, s);
    if (lo <= hi && isinf(hi) && v < lo) return cpet_fail(err, "%s %s must be >= %g", what, s, lo);
    if (lo <= hi && (v < lo || v > hi)) return cpet_fail(err, "%s %s is outside [%g, %g]", what, s, lo, hi);
    *out = v;
    return 0;
}

int opt_read_bool(const char *what, const char *s, int *out, cpet_err *err)
{
    static const char *const yes[] = {"on", "true", "1", "yes"}, *const no[] = {"off", "false", "0", "no"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, yes[i])) return *out = 1, 0;
        if (!strcmp(s, no[i])) return *out = 0, 0;
    }
    return cpet_fail(err, "%s '%s' is not on or off", what, s);
}

void opt_choices_text(const char *choices, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (const char *p = choices; *p && o < n;) {
        const size_t len = strcspn(p, "|");
        const int last = p[len] == 0, first = p == choices;
        o += (size_t)snprintf(buf + o, n - o, "%s%.*s", first ? "" : last ? " or " : ", ", (int)len, p);
        p += len + !last;
    }
}

/* the index of s in "a|b|c", or -1 */
int opt_choice_index(const char *choices, const char *s)
{
    const size_t n = strlen(s);
    int k = 0;
    for (const char *p = choices; *p; k++) {
        const size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, s, n)) return k;
        p += len + (p[len] == '|');
    }
    return -1;
}

static int matches(const opt *o, const char *arg) { return o->name[0] && (!strcmp(o->name, arg) || (o->alias && !strcmp(o->alias, arg))); }

static int store(const opt_command *cmd, const opt *o, const char *value, cpet_err *err)
{
    char what[128];
    snprintf(what, sizeof what, "%s: %s", cmd->name, o->name[0] ? o->name : (o->metavar ? o->metavar : "argument"));
    switch (o->type) {
    case OPT_T_INT: return opt_read_int(what, value, (long)o->lo, (long)o->hi, (long *)o->dst, err);
    case OPT_T_INT32: {
        long v = 0;
        if (opt_read_int(what, value, (long)o->lo, (long)o->hi, &v, err) != 0) return -1;
        *(int *)o->dst = (int)v;
        return 0;
    }
    case OPT_T_FLOAT: {
        double v = 0;
        if (opt_read_number(what, value, o->lo, o->hi, &v, err) != 0) return -1;
        *(float *)o->dst = (float)v;
        return 0;
    }
    case OPT_T_SHARE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || (*end && strcmp(end, "%") != 0) || !isfinite(v)) return cpet_fail(err, "%s '%s' is not like 10%% or 0.1", what, value);
        if (*end == '%') v /= 100.0;
        if (v < o->lo || v > o->hi) return cpet_fail(err, "%s %s is outside [%g, %g]", what, value, o->lo, o->hi);
        *(double *)o->dst = v;
        return 0;
    }
    case OPT_T_INTS: {
        int n = 0;
        for (const char *p = value; *p;) {
            char *end;
            const long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > (1 << 20) || n == (int)o->hi || (*end && *end != ','))
                return cpet_fail(err, "%s '%s': expected a list like 1,4 (at most %d values, each at least 1)", what, value, (int)o->hi);
            ((int *)o->dst)[n++] = (int)v;
            p = *end ? end + 1 : end;
        }
        if (!n) return cpet_fail(err, "%s '%s' is empty", what, value);
        *o->count = n;
        return 0;
    }
    case OPT_T_NUMBER: return opt_read_number(what, value, o->lo, o->hi, (double *)o->dst, err);
    case OPT_T_BOOL: return opt_read_bool(what, value, (int *)o->dst, err);
    case OPT_T_STRING: *(const char **)o->dst = value; return 0;
    case OPT_T_CHOICE: {
        const int k = opt_choice_index(o->choices, value);
        if (k < 0) {
            char list[256];
            opt_choices_text(o->choices, list, sizeof list);
            return cpet_fail(err, "%s '%s': %s", what, value, list);
        }
        *(int *)o->dst = k;
        return 0;
    }
    case OPT_T_REPEAT:
        if (*o->count >= (int)o->hi) return cpet_fail(err, "%s: at most %d of them", what, (int)o->hi);
        ((const char **)o->dst)[(*o->count)++] = value;
        return 0;
    case OPT_T_SWITCH:
    case OPT_T_END: break;
    }
    return cpet_fail(err, "%s: an option of no known type", what);
}

int opt_parse(const opt_command *cmd, const opt *opts, int argc, char **argv, cpet_err *err)
{
    int n = 0;
    while (opts[n].type != OPT_T_END) n++;
    char *given = calloc((size_t)n + 1, 1);
    if (!given) return cpet_fail(err, "%s: out of memory", cmd->name), OPT_ERROR;
    int rc = OPT_OK, next_positional = 0;
    for (int i = 1; i < argc && rc == OPT_OK; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            opt_print_help(stdout, cmd, opts);
            rc = OPT_HELP;
            break;
        }
        int k = -1;
        if (a[0] == '-' && a[1]) { /* "-" alone is a value (stdin), and so is a negative number after an option */
            for (int j = 0; j < n && k < 0; j++)
                if (matches(&opts[j], a)) k = j;
            if (k < 0) rc = cpet_fail(err, "%s: unknown option %s (cpet %s --help)", cmd->name, a, cmd->name); /* -1: OPT_ERROR */
        } else {
            for (int j = next_positional; j < n && k < 0; j++) /* positionals fill in table order; a repeated one takes the rest */
                if (!opts[j].name[0]) k = j, next_positional = opts[j].type == OPT_T_REPEAT ? j : j + 1;
            if (k < 0) rc = cpet_fail(err, "%s: unexpected argument '%s'", cmd->name, a); /* -1: OPT_ERROR */
        }
        if (rc != OPT_OK) break;
        const opt *o = &opts[k];
        given[k] = 1;
        if (o->type == OPT_T_SWITCH) {
            *(int *)o->dst = 1;
            continue;
        }
        if (o->type == OPT_T_BOOL) { /* "--flag on|off", or "--flag" alone for on */
            int v = 1;
            cpet_err ignored;
            if (i + 1 < argc && opt_read_bool("", argv[i + 1], &v, &ignored) == 0) i++;
            else v = 1;
            *(int *)o->dst = v;
            continue;
        }
        const char *value = a;
        if (o->name[0]) {
            if (i + 1 >= argc) {
                rc = cpet_fail(err, "%s: option %s needs a value", cmd->name, a); /* -1: OPT_ERROR */
                break;
            }
            value = argv[++i];
        }
        if (store(cmd, o, value, err) != 0) rc = OPT_ERROR;
    }
    for (int j = 0; j < n && rc == OPT_OK; j++)
        if (opts[j].required && !given[j]) {
            if (opts[j].name[0]) rc = cpet_fail(err, "%s: %s is required (cpet %s --help)", cmd->name, opts[j].name, cmd->name);
            else rc = cpet_fail(err, "%s: %s is required (cpet %s --help)", cmd->name, opts[j].metavar ? opts[j].metavar : "an argument", cmd->name);
            rc = OPT_ERROR;
        }
    free(given);
    return rc;
}

/* the value's form in the help */
static const char *metavar(const opt *o)
{
    if (o->metavar) return o->metavar;
    switch (o->type) {
    case OPT_T_INT:
    case OPT_T_INT32: return "N";
    case OPT_T_FLOAT:
    case OPT_T_NUMBER: return "X";
    case OPT_T_BOOL: return "[on|off]";
    case OPT_T_CHOICE: return o->choices;
    case OPT_T_SWITCH: return "";
    default: return "S";
    }
}

/* the current value of dst, which before parsing is the default; empty when there is none */
static void default_text(const opt *o, char *buf, size_t n)
{
    buf[0] = 0;
    switch (o->type) {
    case OPT_T_INT: snprintf(buf, n, "%ld", *(const long *)o->dst); break;
    case OPT_T_INT32: snprintf(buf, n, "%d", *(const int *)o->dst); break;
    case OPT_T_FLOAT: snprintf(buf, n, "%g", (double)*(const float *)o->dst); break;
    case OPT_T_INTS: {
        size_t used = 0;
        for (int i = 0; i < *o->count && used < n; i++) used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", ((const int *)o->dst)[i]);
        break;
    }
    case OPT_T_NUMBER: snprintf(buf, n, "%g", *(const double *)o->dst); break;
    case OPT_T_SHARE: snprintf(buf, n, "%g%%", 100 * *(const double *)o->dst); break;
    case OPT_T_BOOL: snprintf(buf, n, "%s", *(const int *)o->dst ? "on" : "off"); break;
    case OPT_T_STRING:
        if (*(const char *const *)o->dst) snprintf(buf, n, "%s", *(const char *const *)o->dst);
        break;
    case OPT_T_CHOICE: {
        const char *p = o->choices;
        for (int k = 0; k < *(const int *)o->dst && *p; k++) p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|');
        snprintf(buf, n, "%.*s", (int)strcspn(p, "|"), p);
        break;
    }
    default: break;
    }
}

void opt_print_help(FILE *f, const opt_command *cmd, const opt *opts)
{
    fprintf(f, "usage: cpet %s", cmd->name);
    if (cmd->usage) fprintf(f, " %s\n", cmd->usage);
    else {
        for (const opt *o = opts; o->type != OPT_T_END; o++)
            if (!o->name[0]) fprintf(f, " %s", metavar(o));
        for (const opt *o = opts; o->type != OPT_T_END; o++)
            if (o->name[0] && o->required) fprintf(f, " %s %s", o->name, metavar(o));
        fputs(" [options]\n", f);
    }
    if (cmd->about) fprintf(f, "\n%s", cmd->about);
    fputc('\n', f);
    for (const opt *o = opts; o->type != OPT_T_END; o++) {
        char head[96], def[96];
        if (o->name[0]) snprintf(head, sizeof head, "%s%s%s", o->name, o->type == OPT_T_SWITCH ? "" : " ", metavar(o));
        else snprintf(head, sizeof head, "%s", metavar(o));
        if (o->default_text) snprintf(def, sizeof def, "%s", o->default_text);
        else default_text(o, def, sizeof def);
        fprintf(f, "  %-28s %s", head, o->help ? o->help : "");
        if (o->required) fputs(" (required)", f);
        else if (def[0] && o->type != OPT_T_SWITCH) fprintf(f, " (default %s)", def);
        if (o->type == OPT_T_REPEAT) fputs(" (repeatable)", f);
        if (o->alias) fprintf(f, " (also %s)", o->alias);
        fputc('\n', f);
    }
    if (cmd->after) fprintf(f, "\n%s", cmd->after);
}
