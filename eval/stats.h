/* Summary statistics for reports. */
#ifndef CPET_STATS_H
#define CPET_STATS_H

/* Mean and the half-width of its 95% confidence interval, t(0.975, n-1) * s / sqrt(n) with the sample
 * standard deviation s; the half-width is 0 for n < 2. */
void mean_ci95(const double *x, int n, double *mean, double *half_width);
double student_t975(int df);

#endif
