#include "stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

double student_t975(int df) { return df < 1 ? NAN : gsl_cdf_tdist_Pinv(0.975, (double)df); }

void mean_ci95(const double *x, int n, double *mean, double *half_width)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : NAN;
    if (n < 2) {
        *half_width = 0;
        return;
    }
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *half_width = student_t975(n - 1) * sqrt(ss / (n - 1)) / sqrt((double)n);
}

static double finish(paired_kind kind, double num, double den) { return kind == PAIRED_EXP_RATIO ? exp(num / den) : num / den; }

/* The per-seed statistic over the examples idx[0..m) (all of them when idx is NULL). */
static double group_stat(const paired_group *g, paired_kind kind, const int *idx, int m)
{
    double na = 0, da = 0, nb = 0, db = 0;
    for (int k = 0; k < m; k++) {
        int i = idx ? idx[k] : k;
        na += g->num_a[i];
        nb += g->num_b[i];
        da += g->den_a ? g->den_a[i] : 1.0;
        db += g->den_b ? g->den_b[i] : 1.0;
    }
    return finish(kind, na, da) - finish(kind, nb, db);
}

int paired_bootstrap_columns(const paired_group *groups, int n_cols, int n_seeds, paired_kind kind, int resamples, uint64_t seed,
                             paired_ci *out)
{
    const int n_groups = n_cols * n_seeds;
    int max_n = 0;
    out->n = 0;
    if (n_cols < 1 || n_seeds < 1 || resamples < 1) return -1;
    for (int g = 0; g < n_groups; g++) {
        if (groups[g].n < 1) return -1;
        out->n += groups[g].n;
        if (groups[g].n > max_n) max_n = groups[g].n;
    }
    double d = 0;
    for (int g = 0; g < n_groups; g++) d += group_stat(&groups[g], kind, NULL, groups[g].n);
    out->diff = d / n_groups;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)seed);
    double *dist = malloc((size_t)resamples * sizeof *dist);
    int *idx = malloc((size_t)max_n * sizeof *idx), *drawn = malloc((size_t)n_seeds * sizeof *drawn);
    for (int r = 0; r < resamples; r++) {
        double sum = 0;
        if (n_cols > 1)
            for (int s = 0; s < n_seeds; s++) drawn[s] = n_seeds > 1 ? (int)gsl_rng_uniform_int(rng, (unsigned long)n_seeds) : 0;
        for (int c = 0; c < n_cols; c++)
            for (int s = 0; s < n_seeds; s++) {
                /* one column: the seed is drawn just before its examples (paired_bootstrap's order) */
                int which = n_cols > 1 ? drawn[s] : n_seeds > 1 ? (int)gsl_rng_uniform_int(rng, (unsigned long)n_seeds) : 0;
                const paired_group *g = &groups[c * n_seeds + which];
                for (int k = 0; k < g->n; k++) idx[k] = (int)gsl_rng_uniform_int(rng, (unsigned long)g->n);
                sum += group_stat(g, kind, idx, g->n);
            }
        dist[r] = sum / n_groups;
    }
    gsl_sort(dist, 1, (size_t)resamples);
    out->lo = gsl_stats_quantile_from_sorted_data(dist, 1, (size_t)resamples, 0.025);
    out->hi = gsl_stats_quantile_from_sorted_data(dist, 1, (size_t)resamples, 0.975);
    out->excludes_zero = out->lo > 0 || out->hi < 0;
    free(dist);
    free(idx);
    free(drawn);
    gsl_rng_free(rng);
    return 0;
}

int paired_bootstrap(const paired_group *groups, int n_groups, paired_kind kind, int resamples, uint64_t seed, paired_ci *out)
{
    return paired_bootstrap_columns(groups, 1, n_groups, kind, resamples, seed, out);
}

double mcnemar_exact_p(int b, int c)
{
    if (b + c == 0) return 1.0;
    int k = b < c ? b : c;
    double p = 2.0 * gsl_cdf_binomial_P((unsigned)k, 0.5, (unsigned)(b + c));
    return p < 1.0 ? p : 1.0;
}

static int by_p(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void holm_adjust(const double *p, int n, double *adjusted)
{
    /* (p, index) pairs of the tests, sorted by p; ties keep any order (they end up equal) */
    double (*order)[2] = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    int m = 0;
    for (int i = 0; i < n; i++) {
        adjusted[i] = NAN;
        if (!isnan(p[i])) order[m][0] = p[i], order[m][1] = i, m++;
    }
    qsort(order, (size_t)m, sizeof *order, by_p);
    double running = 0;
    for (int j = 0; j < m; j++) {
        double a = (double)(m - j) * order[j][0];
        if (a > 1) a = 1;
        if (a > running) running = a;
        adjusted[(int)order[j][1]] = running;
    }
    free(order);
}

static int by_abs(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return x < y ? -1 : x > y;
}

double wilcoxon_signed_rank_p_less(const double *d, int n)
{
    double x[64];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] == 0) continue;
        if (m == 64 || isnan(d[i])) return NAN;
        x[m++] = d[i];
    }
    if (m == 0) return 1.0;
    qsort(x, (size_t)m, sizeof *x, by_abs);
    /* twice the ranks, so that average ranks of ties stay integers */
    int rank2[64], w2 = 0;
    for (int i = 0; i < m;) {
        int j = i;
        while (j + 1 < m && fabs(x[j + 1]) == fabs(x[i])) j++;
        for (int k = i; k <= j; k++) rank2[k] = i + j + 2; /* 2 x the mean of ranks i+1 .. j+1 */
        i = j + 1;
    }
    for (int i = 0; i < m; i++) w2 += x[i] > 0 ? rank2[i] : 0;
    /* the null distribution: every sign pattern equally likely; count[s] = patterns with 2 W+ = s */
    const int max = m * (m + 1);
    double *count = calloc((size_t)max + 1, sizeof *count);
    count[0] = 1;
    for (int i = 0, top = 0; i < m; i++) {
        for (int s = top; s >= 0; s--)
            if (count[s] != 0) count[s + rank2[i]] += count[s];
        top += rank2[i];
    }
    double below = 0, total = 0;
    for (int s = 0; s <= max; s++) {
        total += count[s];
        if (s <= w2) below += count[s];
    }
    free(count);
    return below / total;
}
