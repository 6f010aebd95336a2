#include "table_format.h"

#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void csv_row(FILE *fp, const char *const *fields, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', fp);
        csv_fwrite(fp, fields[i], strlen(fields[i]));
    }
    fputc('\n', fp);
}

const char *format_grouped(char *buf, size_t n, double v, int decimals)
{
    char raw[64];
    snprintf(raw, sizeof raw, "%.*f", decimals, v);
    const char *digits = raw + (raw[0] == '-');
    size_t int_len = strcspn(digits, ".");
    size_t o = 0;
    if (raw[0] == '-' && o + 1 < n) buf[o++] = '-';
    for (size_t i = 0; digits[i] && o + 1 < n; i++) {
        if (i > 0 && i < int_len && (int_len - i) % 3 == 0 && o + 2 < n) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

int metric_is_setting(const char *metric)
{
    const size_t n = strlen(metric);
    return !strcmp(metric, "edits") || (n >= 5 && !strcmp(metric + n - 5, "_size"));
}

int metric_lower_is_better(const char *metric)
{
    static const char *const lower[] = {"perplexity", "ppl", "bytes", "loss", "seconds", "rss", "forgetting", "tunable", NULL};
    if (strstr(metric, "per_s")) return 0; /* a rate */
    for (int i = 0; lower[i]; i++)
        if (strstr(metric, lower[i])) return 1;
    const size_t n = strlen(metric); /* a time in seconds: "wall_s", not "oracle_selector" */
    return n >= 2 && !strcmp(metric + n - 2, "_s");
}

void format_value(char *buf, size_t n, double v)
{
    double a = fabs(v);
    if (isnan(v)) snprintf(buf, n, "–");
    else if (a < 1e-12) snprintf(buf, n, "0");
    else if (a >= 1e9) snprintf(buf, n, "%.3gG", v / 1e9);
    else if (a >= 1e6) snprintf(buf, n, "%.3gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, n, "%.3gk", v / 1e3);
    else if (a >= 100) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.4g", v);
}
