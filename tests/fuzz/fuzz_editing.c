/* Every editing file cpet reads: its own JSONL, EREN's CFH / HotpotQA / FEVER, ROME's CounterFact, MEND's zsRE,
 * and the recognition of a JSON list by its fields ("auto"). */
#include "editing.h"
#include "fuzz.h"

FUZZ_TARGET(fuzz_editing)
{
    static const char *const formats[] = {"auto", "cpet", "eren-cfh", "eren-hotpot", "counterfact", "zsre", "eren-fever"};
    const char *path = fuzz_path("edits.json", 0);
    fuzz_write(path, data, size);
    cpet_err err;
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        edit_set s;
        int unaligned = 0;
        if (editing_read_any(&s, path, formats[i], &unaligned, &err) == 0) edit_set_free(&s);
    }
    return 0;
}
