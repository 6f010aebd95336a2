/* What a figure's name says about it: whether it is a within-run ratio and which way is better. One
 * definition for bench-compare, the bench history and its plots (see `cpet bench-compare --help`). */
#ifndef CPET_FIGURES_H
#define CPET_FIGURES_H

typedef enum { FIGURE_UNJUDGED, FIGURE_HIGHER_IS_BETTER, FIGURE_LOWER_IS_BETTER } figure_direction;

/* The last component of a dotted figure name: "gemv.formats.int8.gb_s" -> "gb_s". */
const char *figure_leaf(const char *name);
/* 1 when the name's last component holds fraction, ratio or speedup: a ratio measured within one run
 * (against a peer, or the bandwidth of the same round), robust to the machine's load. */
int figure_is_ratio(const char *name);
/* From the name's last component: ratios, *per_s, gflops, acc, throughput, gb_s are higher-is-better;
 * perplexity, ppl, loss, us_per*, bytes, rss, seconds and *_s lower-is-better; spreads (stddev, stderr,
 * ci95) and chance levels, and anything else, are not judged. */
figure_direction figure_direction_of(const char *name);

#endif
