#include "stats.h"

#include <math.h>

double student_t975(int df)
{
    static const double t[31] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                                 2.074,  2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1) return NAN;
    if (df <= 30) return t[df];
    return 1.959964 + 2.4 / df; /* within 0.002 of the exact value beyond 30 */
}

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
