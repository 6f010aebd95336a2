/* The fuzz targets (tests/fuzz/) as ordinary tests: every seed input and every input a fuzzer once crashed
 * on goes through its target, so the sanitizer builds of this suite re-check them on every run; and the
 * crashes found, each as a test of the error the loader now gives. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gguf.h"
#include "helpers.h"
#include "model.h"

int fuzz_config(const uint8_t *, size_t);
int fuzz_continual(const uint8_t *, size_t);
int fuzz_corpus(const uint8_t *, size_t);
int fuzz_editing(const uint8_t *, size_t);
int fuzz_gguf(const uint8_t *, size_t);
int fuzz_model(const uint8_t *, size_t);
int fuzz_notebook(const uint8_t *, size_t);
int fuzz_peft(const uint8_t *, size_t);
int fuzz_records(const uint8_t *, size_t);
int fuzz_safetensors(const uint8_t *, size_t);
int fuzz_schedule(const uint8_t *, size_t);
int fuzz_spec(const uint8_t *, size_t);
int fuzz_tasks(const uint8_t *, size_t);
int fuzz_tokenizer(const uint8_t *, size_t);

static const struct {
    const char *name;
    int (*run)(const uint8_t *, size_t);
} targets[] = {
    {"config", fuzz_config},       {"continual", fuzz_continual}, {"corpus", fuzz_corpus},
    {"editing", fuzz_editing},     {"gguf", fuzz_gguf},           {"model", fuzz_model},
    {"notebook", fuzz_notebook},   {"peft", fuzz_peft},           {"records", fuzz_records},
    {"safetensors", fuzz_safetensors}, {"schedule", fuzz_schedule}, {"spec", fuzz_spec},
    {"tasks", fuzz_tasks},         {"tokenizer", fuzz_tokenizer},
};

/* runs every file of dir through run; returns how many */
static int run_dir(const char *dir, int (*run)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *bytes = read_all(path, &len);
        cr_assert_not_null(bytes, "%s", path);
        cr_assert_eq(run((const uint8_t *)bytes, len), 0, "%s", path);
        free(bytes);
        n++;
    }
    closedir(d);
    return n;
}

Test(fuzz_inputs, every_target_has_seeds_and_runs_them_and_its_regressions, .timeout = 300)
{
    char dir[1024];
    /* the targets are the corpus's directories: a target without seeds, or seeds without a target, fail */
    int dirs = 0;
    DIR *d = opendir(CPET_SOURCE_DIR "/tests/fuzz/corpus");
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') dirs++;
    closedir(d);
    cr_assert_eq(dirs, (int)(sizeof targets / sizeof *targets), "tests/fuzz/corpus has %d directories", dirs);
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", CPET_SOURCE_DIR, targets[i].name);
        cr_assert_gt(run_dir(dir, targets[i].run), 0, "no seed inputs in %s", dir);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", CPET_SOURCE_DIR, targets[i].name);
        run_dir(dir, targets[i].run);
    }
}

/* Found by fuzz_gguf: a float metadata value of NaN was cast to an integer (undefined behaviour), and a NaN
 * or infinite rope theta or norm epsilon was accepted into the config. */
Test(fuzz_inputs, gguf_nonfinite_float_metadata_is_an_error_naming_the_key)
{
    size_t len;
    char *bytes = read_all(CPET_SOURCE_DIR "/tests/fuzz/corpus/gguf/tiny_f32.gguf", &len);
    cr_assert_not_null(bytes);
    static const char key[] = "llama.rope.freq_base";
    char *at = memmem(bytes, len, key, sizeof key - 1);
    cr_assert_not_null(at);
    uint32_t type;
    memcpy(&type, at + sizeof key - 1, 4);
    cr_assert_eq(type, GGUF_VT_F32);
    char dir[256], path[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    const float bad[] = {NAN, INFINITY};
    for (int i = 0; i < 2; i++) {
        memcpy(at + sizeof key - 1 + 4, &bad[i], 4);
        write_bytes(path, bytes, len);
        model m;
        cpet_err err;
        gguf_file g;
        cr_assert_eq(gguf_open(&g, path, &err), 0, "%s", err.msg); /* the file itself is well formed */
        gguf_close(&g);
        cr_assert_neq(gguf_load_model(&m, path, &err), 0, "a rope theta of %g was accepted", bad[i]);
        cr_assert(strstr(err.msg, key) && strstr(err.msg, "finite"), "%s", err.msg);
    }
    free(bytes);
}
