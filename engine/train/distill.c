#include "distill.h"

double distill_hidden_mse(model *student, const float *teacher_hidden, float w, float *grad)
{
    student->taps.d_final_hidden = NULL;
    if (w == 0.0f) return 0.0;
    const size_t n = (size_t)student->acts.B * student->acts.T * student->cfg.hidden_size;
    const float *h = model_final_hidden(student);
    double sum = 0;
    const float scale = 2.0f * w / (float)n;
    for (size_t i = 0; i < n; i++) {
        const float d = h[i] - teacher_hidden[i];
        sum += (double)d * d;
        grad[i] = scale * d;
    }
    student->taps.d_final_hidden = grad;
    return w * sum / (double)n;
}
