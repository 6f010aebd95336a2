/* LD_PRELOAD shim for the kill tests (tests/test_killed.c). It counts the process's fclose(3) and rename(2)
 * calls as one sequence of events: a writer's data is all in the file (or its stdio buffer) at fclose, and
 * an atomic writer publishes at rename, so "killed just before event N", for every N, catches both a
 * file killed mid-write and one written whole but not yet published.
 *   CPET_KILL_AT=N    SIGKILL before the process's N-th event
 *   CPET_EVENT_LOG=F  append each event ("PID N close" or "PID N rename DEST") to F (to count them)
 *   CPET_KILL_IN=child  only a process forked from this one dies (cpet run's cell processes), never this one
 *   CPET_KILL_ONCE=F  only the first process to get there dies (it creates F; the others find it)
 * Both are read once and removed from the environment, so the commands the process runs (gnuplot) are
 * neither counted nor killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int events, kill_at, only_children, settings_read;
static pid_t first_pid;
static char log_path[4096], once_path[4096];

/* Read at load, or at the first event if another library's constructor closes a file before ours runs
 * (constructor order is the loader's choice), so every process counts from its first event. */
__attribute__((constructor)) static void read_settings(void)
{
    if (__atomic_exchange_n(&settings_read, 1, __ATOMIC_SEQ_CST)) return;
    const char *at = getenv("CPET_KILL_AT"), *log = getenv("CPET_EVENT_LOG"), *in = getenv("CPET_KILL_IN");
    kill_at = at ? atoi(at) : 0;
    only_children = in && !strcmp(in, "child");
    const char *once = getenv("CPET_KILL_ONCE");
    if (once) snprintf(once_path, sizeof once_path, "%s", once);
    first_pid = getpid();
    if (log) snprintf(log_path, sizeof log_path, "%s", log);
    unsetenv("CPET_KILL_AT");
    unsetenv("CPET_EVENT_LOG");
    unsetenv("CPET_KILL_IN");
    unsetenv("CPET_KILL_ONCE");
}

/* logs with the real fclose, so logging is not an event itself */
static void event(const char *what, const char *path)
{
    static int (*real_fclose)(FILE *);
    if (!real_fclose) real_fclose = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    read_settings();
    /* one atomic step: two threads closing at once must not both see the later count */
    const int event_number = __atomic_add_fetch(&events, 1, __ATOMIC_SEQ_CST);
    if (kill_at == event_number && (!only_children || getpid() != first_pid)) {
        int fd = once_path[0] ? open(once_path, O_CREAT | O_EXCL | O_WRONLY, 0600) : 0;
        if (fd >= 0) raise(SIGKILL);
    }
    if (log_path[0]) {
        FILE *f = fopen(log_path, "a");
        if (f) {
            fprintf(f, "%d %d %s %s\n", (int)getpid(), event_number, what, path ? path : "");
            real_fclose(f);
        }
    }
}

int fclose(FILE *fp)
{
    static int (*real_fclose)(FILE *);
    if (!real_fclose) real_fclose = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    event("close", NULL);
    return real_fclose(fp);
}

int rename(const char *from, const char *to)
{
    static int (*real_rename)(const char *, const char *);
    if (!real_rename) real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    event("rename", to);
    return real_rename(from, to);
}
