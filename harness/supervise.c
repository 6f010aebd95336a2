#include "supervise.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facts.h"
#include "fileio.h"

void supervise_start(supervised_fn fn, void *ctx, const char *handoff_path, supervised_child *child)
{
    snprintf(child->handoff, sizeof child->handoff, "%s", handoff_path);
    unlink(handoff_path);
    child->t0 = now_seconds();
    fflush(NULL);
    pid_t pid = fork();
    child->pid = (int)pid;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed run takes its cell with it */
        json_t *res = json_object();
        cpet_err err;
        if (fn(ctx, res, &err) == 0) json_object_set_new(res, "status", json_string("ok"));
        else json_object_set_new(res, "status", json_string("failed")), json_object_set_new(res, "error", json_string(err.msg));
        json_write_file(handoff_path, res, &err);
        json_decref(res);
        _exit(0);
    }
}

json_t *supervise_end(const supervised_child *child, int status, const struct rusage *ru, supervised_usage *usage)
{
    memset(usage, 0, sizeof *usage);
    if (child->pid < 0) return json_pack("{s:s, s:s}", "status", "failed", "error", "could not start the cell process");
    usage->wall_s = now_seconds() - child->t0;
    usage->peak_rss_mb = (double)ru->ru_maxrss / 1024.0;
    cpet_err err;
    json_t *res = path_exists(child->handoff) ? json_read_file(child->handoff, &err) : NULL;
    unlink(child->handoff);
    if (res) return res;
    char why[128];
    if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the cell crashed (signal %d: %s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(why, sizeof why, "the cell exited with status %d and no result", WEXITSTATUS(status));
    return json_pack("{s:s, s:s}", "status", "failed", "error", why);
}

json_t *supervise(supervised_fn fn, void *ctx, const char *handoff_path, supervised_usage *usage)
{
    supervised_child child;
    supervise_start(fn, ctx, handoff_path, &child);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (child.pid >= 0 && wait4(child.pid, &status, 0, &ru) < 0) child.pid = -1;
    return supervise_end(&child, status, &ru, usage);
}
