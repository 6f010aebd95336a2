#include "figures.h"

#include <string.h>

const char *figure_leaf(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static int has_any(const char *s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (strstr(s, words[i])) return 1;
    return 0;
}

int figure_is_ratio(const char *name)
{
    static const char *const ratio[] = {"fraction", "ratio", "speedup", NULL};
    return has_any(figure_leaf(name), ratio);
}

figure_direction figure_direction_of(const char *name)
{
    static const char *const unjudged[] = {"stddev", "stderr", "chance", "ci95", NULL};
    static const char *const higher[] = {"per_s", "gflops", "acc", "throughput", "gb_s", NULL};
    static const char *const lower[] = {"perplexity", "ppl", "loss", "us_per", "bytes", "rss", NULL};
    const char *leaf = figure_leaf(name);
    if (figure_is_ratio(leaf)) return FIGURE_HIGHER_IS_BETTER;
    if (has_any(leaf, unjudged)) return FIGURE_UNJUDGED;
    if (has_any(leaf, higher)) return FIGURE_HIGHER_IS_BETTER;
    if (has_any(leaf, lower)) return FIGURE_LOWER_IS_BETTER;
    size_t n = strlen(leaf);
    if ((n > 2 && !strcmp(leaf + n - 2, "_s")) || !strcmp(leaf, "seconds") || (n > 8 && !strcmp(leaf + n - 8, "_seconds")))
        return FIGURE_LOWER_IS_BETTER;
    return FIGURE_UNJUDGED;
}
