/* Statistics for reports: Student-t intervals over seeds, a paired bootstrap over examples and seeds,
 * and McNemar's exact test. Quantiles and tails come from GSL, not from typed-in tables. */
#ifndef CPET_STATS_H
#define CPET_STATS_H

#include <stdint.h>

/* Mean and the half-width of its 95% confidence interval, t(0.975, n-1) * s / sqrt(n) with the sample
 * standard deviation s; the half-width is 0 for n < 2. */
void mean_ci95(const double *x, int n, double *mean, double *half_width);
double student_t975(int df);

/* One seed's paired per-example values of a row (a) and its baseline (b), matched by example id. The
 * per-seed statistic is f(sum num_a / sum den_a) - f(sum num_b / sum den_b) over the examples, with
 * den = 1 where the den arrays are NULL: accuracy is num = correct (0/1); perplexity is num = a
 * document's NLL, den = its tokens, f = exp. */
typedef struct {
    int n;
    const double *num_a, *den_a, *num_b, *den_b;
} paired_group;

typedef enum { PAIRED_MEAN, PAIRED_EXP_RATIO } paired_kind;

typedef struct {
    double diff;   /* the statistic on all the data: mean over seeds of the per-seed difference */
    double lo, hi; /* 2.5% and 97.5% percentiles of the bootstrap distribution */
    int n;         /* examples summed over seeds */
    int excludes_zero;
} paired_ci;

#define BOOTSTRAP_RESAMPLES 10000
#define BOOTSTRAP_SEED 20240527u

/* Two-level paired bootstrap: each resample draws the seeds with replacement, then within each drawn
 * seed its examples with replacement (the same indices for a and b: that is the pairing), and averages
 * the per-seed statistics. gsl_rng mt19937 seeded with `seed`, so a report is reproducible. */
int paired_bootstrap(const paired_group *groups, int n_groups, paired_kind kind, int resamples, uint64_t seed,
                     paired_ci *out);

/* The same for an average over columns (tasks, weighted equally): groups[c * n_seeds + s] is column c's
 * seed s (the same seeds in every column). Each resample draws the seeds once with replacement (shared by
 * the columns: a seed is one run of every task) and then, per column, that seed's examples with
 * replacement; the statistic is the mean over columns of the per-column difference. With one column it
 * is paired_bootstrap, draw for draw. */
int paired_bootstrap_columns(const paired_group *groups, int n_cols, int n_seeds, paired_kind kind, int resamples, uint64_t seed,
                             paired_ci *out);

/* McNemar's exact test: b = pairs where only a is correct, c = pairs where only b is; two-sided p =
 * min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c = 0. */
double mcnemar_exact_p(int b, int c);

/* Wilcoxon's signed-rank test, one-sided, exact: p = P(W+ <= w) under H0 (the d symmetric about 0), w the
 * sum of the ranks of |d| over the positive d. Small when the d tend to be negative. Zeros are dropped;
 * tied |d| share their average rank and the null distribution is taken over those ranks. 1 when every d
 * is 0; at most 64 nonzero d (NaN otherwise). */
double wilcoxon_signed_rank_p_less(const double *d, int n);

/* Holm's step-down adjustment of the n p-values p (a family of tests judged together; NaN entries are not
 * tests and stay NaN): sorted ascending, p_(j) becomes max over i <= j of min(1, (m - i + 1) p_(i)), m the
 * number of tests. Rejecting where adjusted < alpha keeps the family-wise error rate at alpha. */
void holm_adjust(const double *p, int n, double *adjusted);

#endif
