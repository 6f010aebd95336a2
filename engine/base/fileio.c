#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
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

int copy_file(const char *src, const char *dst, cpet_err *err)
{
    FILE *in = fopen(src, "rb");
    if (!in) return cpet_fail(err, "%s: cannot open (%s)", src, strerror(errno));
    atomic_file af;
    if (atomic_open(&af, dst, err) != 0) {
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, af.fp) == n;
    fclose(in);
    if (!ok) {
        atomic_abort(&af);
        return cpet_fail(err, "%s: write failed", dst);
    }
    return atomic_commit(&af, err);
}

int remove_flat_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *ent;
    char file[4400];
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..")) {
            snprintf(file, sizeof file, "%s/%s", path, ent->d_name);
            unlink(file);
        }
    closedir(d);
    return rmdir(path);
}

int replace_dir(const char *staged, const char *dir, cpet_err *err)
{
    char old[4200];
    snprintf(old, sizeof old, "%s.previous", dir);
    remove_flat_dir(old);
    int had = path_exists(dir);
    if (had && rename(dir, old) != 0) return cpet_fail(err, "%s: cannot move aside (%s)", dir, strerror(errno));
    if (rename(staged, dir) != 0) {
        int e = errno;
        if (had) rename(old, dir);
        return cpet_fail(err, "%s: cannot install checkpoint (%s)", dir, strerror(e));
    }
    if (had) remove_flat_dir(old);
    return 0;
}

char *read_stream(FILE *fp, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *read_whole_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = read_stream(fp, len);
    fclose(fp);
    return buf;
}

const char *path_base(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/') p--;
    return p;
}
