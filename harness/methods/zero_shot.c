/* zero-shot: the model as it is (after the cell's compression), scored on the eval split. */
#include "method.h"

static int run(const method_cell *c, method_result *r, cpet_err *err) { return method_score_multiple_choice(c, r, err); }

const method method_zero_shot = {
    .name = "zero-shot",
    .doc = "the model as it is, scored on the eval split",
    .run = run,
};
