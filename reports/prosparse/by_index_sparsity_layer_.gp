# cpet report: metrics sparsity_layer_<i> against i per row (mean over tasks and seeds), from by_index_sparsity_layer_.dat
set datafile separator "\t"
set xlabel "index (sparsity_layer_<i>)"
set ylabel "sparsity_layer_<i>"
set xtics 1
set xrange [-0.3:7.3]
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1000,520 noenhanced font ",10"
set output outbase.".png"
plot 'by_index_sparsity_layer_.dat' index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'SiLU (dense)', \
  'by_index_sparsity_layer_.dat' index 1 using 1:2 with linespoints lw 2 pt 7 lc rgb '#ff7f0e' title 'ReLU', \
  'by_index_sparsity_layer_.dat' index 2 using 1:2 with linespoints lw 2 pt 7 lc rgb '#2ca02c' title 'ReLU + constant lambda (final)', \
  'by_index_sparsity_layer_.dat' index 3 using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'ReLU + constant lambda (mean)', \
  'by_index_sparsity_layer_.dat' index 4 using 1:2 with linespoints lw 2 pt 7 lc rgb '#9467bd' title 'ProSparse', \
  'by_index_sparsity_layer_.dat' index 5 using 1:2 with linespoints lw 2 pt 7 lc rgb '#8c564b' title 'ProSparse + FATReLU 0.01'
unset output
set terminal svg size 1000,520 noenhanced font ",10"
set output outbase.".svg"
plot 'by_index_sparsity_layer_.dat' index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'SiLU (dense)', \
  'by_index_sparsity_layer_.dat' index 1 using 1:2 with linespoints lw 2 pt 7 lc rgb '#ff7f0e' title 'ReLU', \
  'by_index_sparsity_layer_.dat' index 2 using 1:2 with linespoints lw 2 pt 7 lc rgb '#2ca02c' title 'ReLU + constant lambda (final)', \
  'by_index_sparsity_layer_.dat' index 3 using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'ReLU + constant lambda (mean)', \
  'by_index_sparsity_layer_.dat' index 4 using 1:2 with linespoints lw 2 pt 7 lc rgb '#9467bd' title 'ProSparse', \
  'by_index_sparsity_layer_.dat' index 5 using 1:2 with linespoints lw 2 pt 7 lc rgb '#8c564b' title 'ProSparse + FATReLU 0.01'
unset output
