/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): every loader under test reads a path, so an
 * input is written to a file in this process's scratch directory first (tmpfs when there is one).
 * Targets whose loader reads several files take one input cut at FUZZ_CUT lines into those files. */
#ifndef CPET_FUZZ_H
#define CPET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_CUT "\n--8<--\n"

/* A target is a function the Criterion suite also calls (tests/test_fuzz_inputs.c runs every seed and every
 * regression input through it); built with CPET_LIBFUZZER it is also libFuzzer's entry point. */
#ifdef CPET_LIBFUZZER
#define FUZZ_TARGET(name)                                                                                  \
    int name(const uint8_t *data, size_t size);                                                            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return name(data, size); }             \
    int name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int name(const uint8_t *data, size_t size)
#endif

/* dir/name in the scratch directory (created on first use); a static buffer per call slot (0..7). */
const char *fuzz_path(const char *name, int slot);
/* Writes data to path (truncating); aborts on an I/O error, which is the harness's fault, not the input's. */
void fuzz_write(const char *path, const uint8_t *data, size_t size);
/* Cuts data at FUZZ_CUT into at most n parts (the last part takes the rest); returns how many parts were
 * found; parts past that are empty. */
int fuzz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int n);

#endif
