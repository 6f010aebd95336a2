# cpet bench adapters: bytes on the device against the number of task adapters, from bytes_nf4.dat
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set logscale xy
set xlabel 'tasks N'
set ylabel 'MB (log scale)'
set key left top
set title 'Storage for N tasks: one base + N adapters against N models'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 900,560 noenhanced font ",10"
set output outbase.".png"
plot 'bytes_nf4.dat' using 1:5 with lines lw 2 lc rgb '#d62728' title 'N full models (one fine-tuned per task)', \
  '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title 'N compressed models', \
  '' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'uncompressed base + N adapters', \
  '' using 1:2 with lines lw 3 lc rgb '#2ca02c' title 'compressed base + N CA-LoRA adapters'
unset output
set terminal svg size 900,560 noenhanced font ",10"
set output outbase.".svg"
plot 'bytes_nf4.dat' using 1:5 with lines lw 2 lc rgb '#d62728' title 'N full models (one fine-tuned per task)', \
  '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title 'N compressed models', \
  '' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'uncompressed base + N adapters', \
  '' using 1:2 with lines lw 3 lc rgb '#2ca02c' title 'compressed base + N CA-LoRA adapters'
unset output
