#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

json_t *records_read(const char *path, records_mode mode, cpet_err *err)
{
    json_t *out = json_array();
    if (!path_exists(path)) return out;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        json_decref(out);
        cpet_fail(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, good_bytes = 0;
    int bad_line = 0;
    char reason[200] = "";
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        int complete = len > 0 && line[len - 1] == '\n';
        json_error_t jerr;
        json_t *rec = complete ? json_loadb(line, (size_t)len - 1, 0, &jerr) : NULL;
        if (!rec || !json_is_object(rec)) {
            json_decref(rec);
            bad_line = (int)lineno;
            snprintf(reason, sizeof reason, "%s", !complete ? "no newline at its end (torn write)" : rec ? "not an object" : jerr.text);
            break;
        }
        json_array_append_new(out, rec);
        good_bytes += len;
    }
    int more = bad_line && getline(&line, &cap, fp) >= 0; /* anything after the bad line? */
    fclose(fp);
    free(line);
    if (!bad_line || (mode == RECORDS_SKIP_TORN && !more)) return out;
    if (mode != RECORDS_REPAIR || more) {
        json_decref(out);
        cpet_fail(err, "%s:%d: corrupt record: %s%s", path, bad_line, reason,
                  more ? "" : " (the last line: run with --repair to set it aside and continue)");
        return NULL;
    }
    /* keep the good prefix; the torn line goes to records.jsonl.corrupt */
    char side[4200];
    snprintf(side, sizeof side, "%s.corrupt", path);
    size_t total;
    char *all = read_whole_file(path, &total);
    FILE *sf = fopen(side, "ab");
    if (sf && all) {
        fwrite(all + good_bytes, 1, total - (size_t)good_bytes, sf);
        fputc('\n', sf);
    }
    if (sf) fclose(sf);
    atomic_file af;
    int rc = all && atomic_open(&af, path, err) == 0 ? 0 : -1;
    if (rc == 0 && good_bytes && fwrite(all, 1, (size_t)good_bytes, af.fp) != (size_t)good_bytes) {
        atomic_abort(&af);
        rc = cpet_fail(err, "%s: write failed", path);
    } else if (rc == 0) {
        rc = atomic_commit(&af, err);
    }
    free(all);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int records_append(const char *path, const json_t *record, cpet_err *err)
{
    char *text = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) return cpet_fail(err, "%s: cannot serialise a record", path);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    text[n++] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
        free(text);
        return cpet_fail(err, "%s: cannot open for appending (%s)", path, strerror(errno));
    }
    /* one write(): a killed run leaves whole lines (or, at worst, a torn last line that records_read reports) */
    ssize_t w = write(fd, text, n);
    int ok = w == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    free(text);
    return ok ? 0 : cpet_fail(err, "%s: append failed (%s)", path, strerror(errno));
}
