#include "gnuplot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gnuplot_available(void)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char exe[4200];
        snprintf(exe, sizeof exe, "%s/gnuplot", dir);
        found = access(exe, X_OK) == 0;
    }
    free(copy);
    return found;
}

int gnuplot_run(const char *out_dir, const char *name, cpet_err *err)
{
    char cmd[9000], tmp_png[4300], tmp_svg[4300], png[4300], svg[4300];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot -e \"outbase='%s.partial'\" '%s.gp' 2>&1", out_dir, name, name);
    FILE *p = popen(cmd, "r");
    char msg[512] = "";
    size_t got = p ? fread(msg, 1, sizeof msg - 1, p) : 0;
    msg[got] = 0;
    int status = p ? pclose(p) : -1;
    snprintf(tmp_png, sizeof tmp_png, "%s/%s.partial.png", out_dir, name);
    snprintf(tmp_svg, sizeof tmp_svg, "%s/%s.partial.svg", out_dir, name);
    snprintf(png, sizeof png, "%s/%s.png", out_dir, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", out_dir, name);
    if (status != 0 || rename(tmp_png, png) != 0 || rename(tmp_svg, svg) != 0) {
        unlink(tmp_png);
        unlink(tmp_svg);
        msg[strcspn(msg, "\n")] = 0;
        return cpet_fail(err, "%s/%s.gp: gnuplot failed: %s", out_dir, name, msg);
    }
    return 0;
}

void gnuplot_quote(char *dst, size_t n, const char *src)
{
    size_t k = 0;
    if (n < 3) return;
    dst[k++] = '\'';
    for (; *src && k + 3 < n; src++) {
        if (*src == '\'') dst[k++] = '\'';
        dst[k++] = *src;
    }
    dst[k++] = '\'';
    dst[k] = 0;
}

void gnuplot_terminals(FILE *f, int width, int height, const char *plot_cmd)
{
    fprintf(f, "if (!exists(\"outbase\")) outbase = \"plot\"\n");
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font \",10\"\nset output outbase.\".png\"\n%s\nunset output\n", width,
            height, plot_cmd);
    fprintf(f, "set terminal svg size %d,%d noenhanced font \",10\"\nset output outbase.\".svg\"\n%s\nunset output\n", width, height,
            plot_cmd);
}

unsigned gnuplot_colour(int i)
{
    static const unsigned tableau20[20] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2,
                                           0x7f7f7f, 0xbcbd22, 0x17becf, 0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896,
                                           0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d, 0x9edae5};
    return tableau20[((i % 20) + 20) % 20];
}
