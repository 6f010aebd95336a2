#include "facts.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "isa.h"

#ifndef CPET_VERSION
#define CPET_VERSION "0.0.0"
#endif
#ifndef CPET_GIT_REV
#define CPET_GIT_REV "unknown"
#endif

const char *cpet_git_revision(void) { return CPET_GIT_REV; }
const char *cpet_version(void) { return CPET_VERSION; }

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return;
    char line[512];
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                snprintf(buf, n, "%s", colon + 2);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    fclose(fp);
}

json_t *run_facts(void)
{
    char cpu[256], host[256] = "unknown";
    cpu_model(cpu, sizeof cpu);
    gethostname(host, sizeof host - 1);
    char *blas = openblas_get_config();
    char levels[128];
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:s, s:s}", "cpet_version", CPET_VERSION, "git_revision", CPET_GIT_REV,
                     "threads", engine_threads(), "blas", blas ? blas : "?", "cpu", cpu, "cores",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "host", host, "isa", isa_name(isa_active()), "cpu_isa",
                     isa_list_cpu(levels, sizeof levels));
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
