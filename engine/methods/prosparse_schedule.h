/* ProSparse's progressive sparsity regularisation schedule (Song et al., arXiv 2402.13516, Algorithm 1):
 * stages (lambda_i, T_i) with T_i the cumulative step at which stage i ends.
 *   t <= T_1:                lambda = lambda_1
 *   T_{i-1} < t <= T_i:      eta = (sin(-pi/2 + pi (t - T_{i-1}) / (T_i - T_{i-1})) + 1) / 2,
 *                            lambda = lambda_{i-1} + eta (lambda_i - lambda_{i-1})
 *   t > T_n:                 lambda = lambda_n (training past the schedule keeps its last value)
 * Each stage after the first rises (or falls) along a half sine from the previous value, so lambda never
 * jumps. A schedule is a file, not code: JSON {"stages": [{"lambda": 0, "until_step": 5000}, ...]}
 * (reports/specs/schedules/ has the paper's 7B and 13B ones). */
#ifndef CPET_PROSPARSE_SCHEDULE_H
#define CPET_PROSPARSE_SCHEDULE_H

#include <jansson.h>

#include "error.h"

#define PROSPARSE_MAX_STAGES 32

typedef struct {
    int n;
    double lambda[PROSPARSE_MAX_STAGES];
    long until[PROSPARSE_MAX_STAGES]; /* T_i: strictly increasing, T_1 >= 1 */
} prosparse_schedule;

/* From a parsed {"stages": [...]} object; errors name `where` (the file) and the stage. */
int prosparse_schedule_parse(prosparse_schedule *s, const json_t *root, const char *where, cpet_err *err);
int prosparse_schedule_load(prosparse_schedule *s, const char *path, cpet_err *err);
/* lambda at step t (1-based, as Algorithm 1 counts) */
double prosparse_lambda(const prosparse_schedule *s, long t);
/* Every stage's lambda times k >= 0: the schedule's shape kept, its strength chosen (e.g. on dev text). */
void prosparse_schedule_scale(prosparse_schedule *s, double k);
/* A constant lambda over `steps` steps: the paper's ablation baseline, as a one-stage schedule. */
prosparse_schedule prosparse_constant(double lambda, long steps);

#endif
