/* bench-ab: the regression gate's judge. Two builds (base and head) ran the same benchmarks in alternating
 * rounds on one machine; each judged figure's head/base ratio per round is tested, one-sided, against a
 * minimum effect, with Holm's correction over the judged figures. Interleaving cancels what drifts on a
 * shared host (load, memory bandwidth) between rounds; the per-round pairing cancels it within one. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "fileio.h"
#include "stats.h"

#define AB_MAX_ROUNDS 64
#define AB_MAX_FIGURES 32

typedef struct {
    char stem[64];  /* result file: <round>/<side>/<stem>.json */
    char path[256]; /* rows[test=tg64,n_threads=1].median_ts */
    int higher;     /* 1: higher is better, 0: lower */
} ab_figure;

/* figures file: "stem path higher|lower" per line; '#' starts a comment */
static int read_figures(const char *path, ab_figure *f, int *n, cpet_err *err)
{
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return cpet_fail(err, "%s: cannot read (%s)", path, strerror(errno));
    *n = 0;
    int line_no = 0, rc = 0;
    for (char *line = strtok(text, "\n"); line && rc == 0; line = strtok(NULL, "\n")) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char stem[64], fpath[256], dir[16], extra[2];
        int k = sscanf(line, "%63s %255s %15s %1s", stem, fpath, dir, extra);
        if (k <= 0) continue;
        if (k != 3 || (strcmp(dir, "higher") && strcmp(dir, "lower")))
            rc = cpet_fail(err, "%s: line %d: expected 'RESULT PATH higher|lower'", path, line_no);
        else if (*n == AB_MAX_FIGURES) rc = cpet_fail(err, "%s: more than %d figures", path, AB_MAX_FIGURES);
        else {
            snprintf(f[*n].stem, sizeof f[*n].stem, "%s", stem);
            snprintf(f[*n].path, sizeof f[*n].path, "%s", fpath);
            f[*n].higher = !strcmp(dir, "higher");
            (*n)++;
        }
    }
    free(text);
    if (rc == 0 && *n == 0) rc = cpet_fail(err, "%s: no figures", path);
    return rc;
}

/* does array element e match "k=v,k=v"? (string fields by text, numbers by value) */
static int element_matches(const json_t *e, const char *conds)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", conds);
    char *save = NULL;
    for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(c, '=');
        if (!eq) return 0;
        *eq = 0;
        const json_t *v = json_object_get(e, c);
        if (json_is_string(v)) {
            if (strcmp(json_string_value(v), eq + 1) != 0) return 0;
        } else if (json_is_number(v)) {
            char *end;
            double want = strtod(eq + 1, &end);
            if (*end || json_number_value(v) != want) return 0;
        } else
            return 0;
    }
    return 1;
}

/* the number at path ("a.b[k=v].c") in root; NaN when absent, null or not a number */
double bench_ab_lookup(const json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *x = root;
    char *save = NULL;
    for (char *seg = strtok_r(buf, ".", &save); seg && x; seg = strtok_r(NULL, ".", &save)) {
        char *br = strchr(seg, '[');
        if (br) {
            char *close = strchr(br, ']');
            if (!close) return NAN;
            *br = 0;
            *close = 0;
            const json_t *arr = json_object_get(x, seg), *hit = NULL;
            size_t i;
            const json_t *e;
            json_array_foreach(arr, i, e) if (element_matches(e, br + 1)) { hit = e; break; }
            x = hit;
        } else
            x = json_object_get(x, seg);
    }
    return x && json_is_number(x) ? json_number_value(x) : NAN;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int bench_ab(const bench_ab_options *o, bench_ab_summary *sum, cpet_err *err)
{
    memset(sum, 0, sizeof *sum);
    ab_figure fig[AB_MAX_FIGURES];
    int n_fig;
    if (read_figures(o->figures, fig, &n_fig, err) != 0) return -1;
    DIR *d = opendir(o->rounds_dir);
    if (!d) return cpet_fail(err, "%s: cannot open (%s)", o->rounds_dir, strerror(errno));
    char *rounds[AB_MAX_ROUNDS];
    int n_rounds = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "round-", 6) && n_rounds < AB_MAX_ROUNDS) rounds[n_rounds++] = strdup(e->d_name);
    closedir(d);
    qsort(rounds, (size_t)n_rounds, sizeof *rounds, by_name);
    int rc = 0;
    if (n_rounds < 2) rc = cpet_fail(err, "%s: %d rounds (round-*/base, round-*/head); the gate needs at least 2", o->rounds_dir, n_rounds);
    /* log(head/base) per figure and round, signed so that negative is worse */
    static double lr[AB_MAX_FIGURES][AB_MAX_ROUNDS];
    for (int r = 0; r < n_rounds && rc == 0; r++)
        for (int f = 0; f < n_fig && rc == 0; f++) {
            double v[2];
            for (int side = 0; side < 2 && rc == 0; side++) {
                char path[1200];
                snprintf(path, sizeof path, "%s/%s/%s/%s.json", o->rounds_dir, rounds[r], side ? "head" : "base", fig[f].stem);
                json_t *j = bench_read_result(path, err);
                if (!j) {
                    rc = -1;
                    break;
                }
                v[side] = bench_ab_lookup(j, fig[f].path);
                json_decref(j);
                if (!isfinite(v[side]) || v[side] <= 0)
                    rc = cpet_fail(err, "%s: judged figure %s is missing, null, NaN or not positive", path, fig[f].path);
            }
            if (rc == 0) lr[f][r] = (fig[f].higher ? 1 : -1) * log(v[1] / v[0]);
        }
    for (int r = 0; r < n_rounds; r++) free(rounds[r]);
    if (rc != 0) return -1;

    /* the smallest p Wilcoxon can give over n rounds is 2^-n: with Holm over the figures, too few rounds can
     * never find a regression, however large */
    if (ldexp((double)n_fig, -n_rounds) >= o->alpha) {
        int need = n_rounds;
        while (ldexp((double)n_fig, -need) >= o->alpha) need++;
        return cpet_fail(err, "%s: %d rounds cannot show a regression in %d figures at alpha %g (the smallest p is 2^-%d, times %d); run at least %d",
                         o->rounds_dir, n_rounds, n_fig, o->alpha, n_rounds, n_fig, need);
    }
    /* H0: head is at most `effect` worse (median log ratio >= log(1 - effect)); one-sided against worse */
    const double tau = log(1.0 - o->effect);
    double p[AB_MAX_FIGURES], p_holm[AB_MAX_FIGURES];
    for (int f = 0; f < n_fig; f++) {
        double dshift[AB_MAX_ROUNDS];
        for (int r = 0; r < n_rounds; r++) dshift[r] = lr[f][r] - tau;
        p[f] = wilcoxon_signed_rank_p_less(dshift, n_rounds);
    }
    holm_adjust(p, n_fig, p_holm);
    json_t *figs = json_array();
    if (o->out)
        fprintf(o->out, "%-52s %6s %9s %9s %9s %9s %9s  %s\n", "figure (head/base, >1 = better)", "rounds", "median", "min", "max", "p", "p (Holm)",
                "verdict");
    for (int f = 0; f < n_fig; f++) {
        double ratio[AB_MAX_ROUNDS];
        for (int r = 0; r < n_rounds; r++) ratio[r] = exp(lr[f][r]);
        const double med = bench_median(ratio, n_rounds);
        double lo = ratio[0], hi = ratio[0];
        for (int r = 1; r < n_rounds; r++) lo = fmin(lo, ratio[r]), hi = fmax(hi, ratio[r]);
        const int regressed = p_holm[f] < o->alpha;
        sum->regressed += regressed;
        char name[340];
        snprintf(name, sizeof name, "%.63s:%.255s", fig[f].stem, fig[f].path);
        if (o->out)
            fprintf(o->out, "%-52s %6d %9.4f %9.4f %9.4f %9.4f %9.4f  %s\n", name, n_rounds, med, lo, hi, p[f], p_holm[f],
                    regressed ? "REGRESSED" : "ok");
        json_t *rs = json_array();
        for (int r = 0; r < n_rounds; r++) json_array_append_new(rs, json_real(ratio[r]));
        json_array_append_new(figs, json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:b, s:o}", "result", fig[f].stem, "path", fig[f].path,
                                              "better", fig[f].higher ? "higher" : "lower", "median_ratio", med, "min_ratio", lo, "max_ratio",
                                              hi, "p", p[f], "p_holm", p_holm[f], "regressed", regressed, "ratios", rs));
    }
    sum->figures = n_fig;
    sum->rounds = n_rounds;
    if (o->out)
        fprintf(o->out,
                "%d figures over %d rounds; a figure regresses when Wilcoxon's signed-rank test (one-sided) finds head more than %.1f%% "
                "worse than base, Holm-adjusted p < %g: %d regressed\n",
                n_fig, n_rounds, 100 * o->effect, o->alpha, sum->regressed);
    if (o->verdict_path) {
        json_t *v = json_pack("{s:s, s:i, s:f, s:f, s:s, s:o, s:i}", "rounds_dir", o->rounds_dir, "rounds", n_rounds, "min_effect", o->effect, "alpha",
                              o->alpha, "test", "Wilcoxon signed-rank, one-sided, exact; Holm over the figures", "figures", figs,
                              "regressed", sum->regressed);
        rc = json_write_file(o->verdict_path, v, err);
        json_decref(v);
        return rc;
    }
    json_decref(figs);
    return 0;
}
