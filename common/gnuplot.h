/* Plots are gnuplot scripts kept beside their data (NAME.gp + NAME.dat), run as an external process;
 * PNG and SVG are written under temporary names and renamed into place, so a failed plot leaves no
 * half-written image. */
#ifndef CPET_GNUPLOT_H
#define CPET_GNUPLOT_H

#include <stdio.h>

#include "error.h"

int gnuplot_available(void);
/* Runs OUT_DIR/NAME.gp (which reads `outbase`, see gnuplot_terminals) and moves NAME.png/.svg into place. */
int gnuplot_run(const char *out_dir, const char *name, cpet_err *err);
/* src as a gnuplot single-quoted string (' doubled). */
void gnuplot_quote(char *dst, size_t n, const char *src);
/* Writes the PNG + SVG terminal settings around plot_cmd (which may span lines and use multiplot). */
void gnuplot_terminals(FILE *f, int width, int height, const char *plot_cmd);
/* A palette of 20 colours distinct to the eye (Tableau 20, dark and light alternating), as 0xRRGGBB. */
unsigned gnuplot_colour(int i);

#endif
