#include "prosparse_schedule.h"

#include <math.h>
#include <string.h>

#include "fileio.h"

int prosparse_schedule_parse(prosparse_schedule *s, const json_t *root, const char *where, cpet_err *err)
{
    memset(s, 0, sizeof *s);
    const json_t *stages = json_is_object(root) ? json_object_get(root, "stages") : NULL;
    if (!json_is_array(stages) || json_array_size(stages) == 0)
        return cpet_fail(err, "%s: expected {\"stages\": [{\"lambda\": L, \"until_step\": T}, ...]} with at least one stage", where);
    if (json_array_size(stages) > PROSPARSE_MAX_STAGES)
        return cpet_fail(err, "%s: %zu stages; at most %d", where, json_array_size(stages), PROSPARSE_MAX_STAGES);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) if (strcmp(key, "stages") != 0 && strcmp(key, "comment") != 0)
        return cpet_fail(err, "%s: %s: unknown key (allowed: stages, comment)", where, key);
    for (size_t i = 0; i < json_array_size(stages); i++) {
        const json_t *st = json_array_get(stages, i), *l = json_object_get(st, "lambda"), *t = json_object_get(st, "until_step");
        if (!json_is_object(st) || !json_is_number(l) || !json_is_integer(t) || json_object_size(st) != 2)
            return cpet_fail(err, "%s: stages[%zu]: expected {\"lambda\": number, \"until_step\": integer} and nothing else", where, i);
        const double lambda = json_number_value(l);
        const long until = (long)json_integer_value(t);
        if (!(lambda >= 0) || !isfinite(lambda))
            return cpet_fail(err, "%s: stages[%zu].lambda is %g: the regularisation weight must be >= 0", where, i, lambda);
        if (until < 1) return cpet_fail(err, "%s: stages[%zu].until_step is %ld: steps count from 1", where, i, until);
        if (i > 0 && until <= s->until[i - 1])
            return cpet_fail(err, "%s: stages[%zu].until_step %ld is not after stages[%zu].until_step %ld: T must increase", where, i, until,
                             i - 1, s->until[i - 1]);
        s->lambda[i] = lambda;
        s->until[i] = until;
        s->n++;
    }
    return 0;
}

int prosparse_schedule_load(prosparse_schedule *s, const char *path, cpet_err *err)
{
    json_t *root = json_read_file(path, err);
    if (!root) return -1;
    int rc = prosparse_schedule_parse(s, root, path, err);
    json_decref(root);
    return rc;
}

double prosparse_lambda(const prosparse_schedule *s, long t)
{
    if (s->n == 0) return 0.0;
    if (t <= s->until[0]) return s->lambda[0];
    for (int i = 1; i < s->n; i++)
        if (t <= s->until[i]) {
            const double span = (double)(s->until[i] - s->until[i - 1]), eta = 0.5 * (sin(-M_PI / 2 + M_PI * (double)(t - s->until[i - 1]) / span) + 1.0);
            return s->lambda[i - 1] + eta * (s->lambda[i] - s->lambda[i - 1]);
        }
    return s->lambda[s->n - 1];
}

void prosparse_schedule_scale(prosparse_schedule *s, double k)
{
    for (int i = 0; i < s->n; i++) s->lambda[i] *= k;
}

prosparse_schedule prosparse_constant(double lambda, long steps)
{
    prosparse_schedule s = {.n = 1};
    s.lambda[0] = lambda;
    s.until[0] = steps > 0 ? steps : 1;
    return s;
}
