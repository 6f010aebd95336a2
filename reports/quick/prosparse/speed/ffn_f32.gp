# cpet bench sparse-ffn: speedup over cpet's dense FFN against sparsity, from ffn_f32.dat
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set logscale y
set xrange [0:100]
set xlabel 'activation sparsity s (% of FFN neurons inactive)'
set ylabel 'speedup over the dense FFN (log scale)'
set key left top
set title 'Exact sparse FFN on f32 weights, d 4096 x d_{ff} 11008, 2 threads'
set arrow from 1.18, graph 0 to 1.18, graph 1 nohead lw 1 dt 4 lc rgb '#d62728'
set label 'crossover 1%' at 1.18, graph 0.06 offset 0.5,0 tc rgb '#d62728'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 900,560 noenhanced font ",10"
set output outbase.".png"
plot 'ffn_f32.dat' index 0 using 1:4 with lines lw 2 dt 2 lc rgb '#7f7f7f' title 'ideal 1/(1-s) (gate skipped too)', \
  '' index 0 using 1:5 with lines lw 2 dt 3 lc rgb '#000000' title 'Amdahl with the dense gate: 3/(1+2(1-s))', \
  '' index 0 using 1:3 with linespoints lw 2 pt 6 lc rgb '#ff7f0e' title 'up+down only (1 row) vs dense up+down', \
  '' index 0 using 1:6 with linespoints lw 2 pt 4 lc rgb '#9467bd' title 'oracle predictor + its cost (1 row)', \
  '' index 0 using 1:2 with linespoints lw 3 pt 7 lc rgb '#1f77b4' title 'exact sparse FFN, 1 row (decode)', \
  '' index 1 using 1:2 with linespoints lw 2 pt 5 lc rgb '#2ca02c' title 'exact sparse FFN, 4 rows (union)', \
  1 with lines lw 1 lc rgb '#d62728' title 'dense (1x)'
unset output
set terminal svg size 900,560 noenhanced font ",10"
set output outbase.".svg"
plot 'ffn_f32.dat' index 0 using 1:4 with lines lw 2 dt 2 lc rgb '#7f7f7f' title 'ideal 1/(1-s) (gate skipped too)', \
  '' index 0 using 1:5 with lines lw 2 dt 3 lc rgb '#000000' title 'Amdahl with the dense gate: 3/(1+2(1-s))', \
  '' index 0 using 1:3 with linespoints lw 2 pt 6 lc rgb '#ff7f0e' title 'up+down only (1 row) vs dense up+down', \
  '' index 0 using 1:6 with linespoints lw 2 pt 4 lc rgb '#9467bd' title 'oracle predictor + its cost (1 row)', \
  '' index 0 using 1:2 with linespoints lw 3 pt 7 lc rgb '#1f77b4' title 'exact sparse FFN, 1 row (decode)', \
  '' index 1 using 1:2 with linespoints lw 2 pt 5 lc rgb '#2ca02c' title 'exact sparse FFN, 4 rows (union)', \
  1 with lines lw 1 lc rgb '#d62728' title 'dense (1x)'
unset output
