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

json_t *supervise(supervised_fn fn, void *ctx, const char *handoff_path, supervised_usage *usage)
{
    unlink(handoff_path);
    double t0 = now_seconds();
    fflush(NULL);
    pid_t pid = fork();
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
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    memset(usage, 0, sizeof *usage);
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return json_pack("{s:s, s:s}", "status", "failed", "error", "could not start the cell process");
    usage->wall_s = now_seconds() - t0;
    usage->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
    cpet_err err;
    json_t *res = path_exists(handoff_path) ? json_read_file(handoff_path, &err) : NULL;
    unlink(handoff_path);
    if (res) return res;
    char why[128];
    if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the cell crashed (signal %d: %s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(why, sizeof why, "the cell exited with status %d and no result", WEXITSTATUS(status));
    return json_pack("{s:s, s:s}", "status", "failed", "error", why);
}
