#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_open(atomic_file *af, const char *path, cpet_err *err)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) return cpet_fail(err, "%s: path too long", path);
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) return cpet_fail(err, "%s: cannot create temporary file (%s)", path, strerror(errno));
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        unlink(af->tmp);
        return cpet_fail(err, "%s: cannot open temporary file (%s)", path, strerror(errno));
    }
    return 0;
}

int atomic_commit(atomic_file *af, cpet_err *err)
{
    int ok = fflush(af->fp) == 0 && fsync(fileno(af->fp)) == 0;
    ok = (fclose(af->fp) == 0) && ok;
    af->fp = NULL;
    if (!ok || rename(af->tmp, af->path) != 0) {
        int e = errno;
        unlink(af->tmp);
        return cpet_fail(err, "%s: write failed (%s)", af->path, strerror(e));
    }
    return 0;
}

void atomic_abort(atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    unlink(af->tmp);
}

int json_write_file(const char *path, const json_t *json, cpet_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) != 0) return -1;
    if (json_dumpf(json, af.fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', af.fp) == EOF) {
        atomic_abort(&af);
        return cpet_fail(err, "%s: write failed", path);
    }
    return atomic_commit(&af, err);
}

json_t *json_read_file(const char *path, cpet_err *err)
{
    json_error_t jerr;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cpet_fail(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    json_t *j = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (!j) cpet_fail(err, "%s:%d:%d: malformed JSON: %s", path, jerr.line, jerr.column, jerr.text);
    return j;
}

int make_dirs(const char *path, cpet_err *err)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) return cpet_fail(err, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return cpet_fail(err, "%s: cannot create (%s)", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return cpet_fail(err, "%s: cannot create (%s)", buf, strerror(errno));
    return 0;
}

int path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int path_join(char *dst, size_t n, const char *dir, const char *name)
{
    int w = snprintf(dst, n, "%s/%s", dir, name);
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}
