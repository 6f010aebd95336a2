/* File helpers: atomic writes (temp file + rename, so readers never see half a file), JSON loading
 * with errors that name the file and line, directory creation. */
#ifndef CPET_FILEIO_H
#define CPET_FILEIO_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"

typedef struct {
    FILE *fp;
    char path[4096];
    char tmp[4096 + 32];
} atomic_file;

int atomic_open(atomic_file *af, const char *path, cpet_err *err);
int atomic_commit(atomic_file *af, cpet_err *err); /* fflush + fsync + rename */
void atomic_abort(atomic_file *af);

/* Writes `json` to path atomically, indented, with a trailing newline. */
int json_write_file(const char *path, const json_t *json, cpet_err *err);
/* Loads a JSON file; on failure the error names the file, line and column. */
json_t *json_read_file(const char *path, cpet_err *err);

int make_dirs(const char *path, cpet_err *err); /* mkdir -p */
int path_exists(const char *path);
/* The last component of a path ("runs/default/model" -> "model"), pointing into path (trailing slashes
 * are skipped over but stay in the text). */
const char *path_base(const char *path);
/* dst = dir + "/" + name; fails (returns -1) if it does not fit */
int path_join(char *dst, size_t n, const char *dir, const char *name);

/* The whole stream, NUL-terminated (caller frees). */
char *read_stream(FILE *fp, size_t *len);
/* The whole file, NUL-terminated (caller frees); NULL if unreadable. */
char *read_whole_file(const char *path, size_t *len);
int copy_file(const char *src, const char *dst, cpet_err *err); /* atomic at dst */
/* Removes a directory that holds only files. */
int remove_flat_dir(const char *path);
/* Installs the fully written directory `staged` as `dir`: the old dir is moved aside, then removed, so a
 * crash leaves either the old or the new checkpoint, never a mix. */
int replace_dir(const char *staged, const char *dir, cpet_err *err);

#endif
