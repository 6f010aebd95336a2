# cpet report --by compression: per compression (by bytes, largest first) the task-average accuracy, from by_compression.dat
set datafile separator "\t"
set grid ytics lc rgb '#dddddd'
set border 3
set xtics nomirror font ',8' rotate by 25 right
set ytics nomirror
set xrange [-0.6:9.6]
set ylabel 'accuracy, average over tasks'
set key outside right top font ',9'
set bmargin 7
set title 'Per compression: the adapter carried over untrained, retrained from scratch, and adapted'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1200,560 noenhanced font ",10"
set output outbase.".png"
plot 0.866941 with lines lw 2 dt 2 lc rgb '#1f77b4' title 'LLM+LoRA (none)', \
  'by_compression.dat' using 1:4:(0):($5-$4) with vectors nohead lw 3 lc rgb '#cccccc' notitle, \
  '' using 1:3:xtic(2) with points pt 6 ps 1.6 lw 2 lc rgb '#7f7f7f' title 'LoRA carried (no training)', \
  '' using 1:4 with points pt 7 ps 1.6 lc rgb '#ff7f0e' title 'CLM+LoRA (rd)', \
  '' using 1:5 with points pt 13 ps 1.9 lc rgb '#2ca02c' title 'CA-LoRA (i-rc-d)'
unset output
set terminal svg size 1200,560 noenhanced font ",10"
set output outbase.".svg"
plot 0.866941 with lines lw 2 dt 2 lc rgb '#1f77b4' title 'LLM+LoRA (none)', \
  'by_compression.dat' using 1:4:(0):($5-$4) with vectors nohead lw 3 lc rgb '#cccccc' notitle, \
  '' using 1:3:xtic(2) with points pt 6 ps 1.6 lw 2 lc rgb '#7f7f7f' title 'LoRA carried (no training)', \
  '' using 1:4 with points pt 7 ps 1.6 lc rgb '#ff7f0e' title 'CLM+LoRA (rd)', \
  '' using 1:5 with points pt 13 ps 1.9 lc rgb '#2ca02c' title 'CA-LoRA (i-rc-d)'
unset output
