/* ConPET's reference files for one dataset: the class split, then the train, valid and test sets, cut at
 * FUZZ_CUT into {ds}_class_split_p1_tags.json and {ds}_split_{train,valid,test}_dataset_p1_key.json. */
#include "continual.h"
#include "fuzz.h"

FUZZ_TARGET(fuzz_continual)
{
    static const char *const names[4] = {"ds_class_split_p1_tags.json", "ds_split_train_dataset_p1_key.json",
                                         "ds_split_valid_dataset_p1_key.json", "ds_split_test_dataset_p1_key.json"};
    const uint8_t *part[4];
    size_t len[4];
    if (fuzz_split(data, size, part, len, 4) < 4) return 0;
    for (int i = 0; i < 4; i++) fuzz_write(fuzz_path(names[i], i), part[i], len[i]);
    continual_data d;
    cpet_err err;
    if (continual_read(&d, fuzz_path("", 4), "ds", 1, 50, &err) == 0) {
        continual_limit_test(&d, 2);
        continual_free(&d);
    }
    return 0;
}
