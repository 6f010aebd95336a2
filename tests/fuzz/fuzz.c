#include "fuzz.h"
#include "fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

/* the scratch directory goes when the fuzzer exits (its files are the last inputs, nothing to keep) */
static void remove_scratch(void) { remove_flat_dir(dir); }

const char *fuzz_path(const char *name, int slot)
{
    static char buf[8][512];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/cpet-fuzz-%d", base, (int)getpid());
        if (mkdir(dir, 0700) != 0) {
            perror(dir);
            abort();
        }
        atexit(remove_scratch);
    }
    snprintf(buf[slot & 7], sizeof buf[0], "%s/%s", dir, name);
    return buf[slot & 7];
}

void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
}

int fuzz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int n)
{
    const size_t cut = strlen(FUZZ_CUT);
    int found = 0;
    size_t start = 0;
    for (int i = 0; i < n; i++) {
        part[i] = data + start;
        len[i] = 0;
    }
    while (found < n) {
        const uint8_t *hit = NULL;
        if (found < n - 1 && size - start >= cut)
            hit = memmem(data + start, size - start, FUZZ_CUT, cut);
        part[found] = data + start;
        if (!hit) {
            len[found++] = size - start;
            break;
        }
        len[found++] = (size_t)(hit - (data + start));
        start = (size_t)(hit - data) + cut;
    }
    return found;
}
