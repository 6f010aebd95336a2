# cpet report --by compression: accuracy (task average) against the model's bytes, from pareto_acc_vs_bytes.dat
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set logscale x
set format x '%.1s %cB'
set xlabel 'model bytes (log scale; lower is better)'
set ylabel 'accuracy, average over tasks'
set key outside right top font ',9'
set offsets graph 0.03, graph 0.12, graph 0.06, graph 0.04
set title 'Accuracy against size: each arrow is one compression, from CLM+LoRA (rd) to CA-LoRA (i-rc-d)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1100,620 noenhanced font ",10"
set output outbase.".png"
plot 'pareto_acc_vs_bytes.dat' index 2 using 2:3 with steps lw 1.5 lc rgb '#777777' dt 2 title 'Pareto front', \
  '' index 0 using 2:3:(0):($4-$3) with vectors head filled size screen 0.008,25 lw 1.5 lc rgb '#aaaaaa' notitle, \
  '' index 0 using 2:3 with points pt 7 ps 1.4 lc rgb '#ff7f0e' title 'CLM+LoRA (rd)', \
  '' index 0 using 2:4 with points pt 13 ps 1.8 lc rgb '#2ca02c' title 'CA-LoRA (i-rc-d)', \
  '' index 1 using 2:3 with points pt 5 ps 1.8 lc rgb '#1f77b4' title 'LLM+LoRA (none)', \
  '' index 0 using 2:4:1 with labels left offset 0.9,0.3 font ',7' tc rgb '#2ca02c' notitle
unset output
set terminal svg size 1100,620 noenhanced font ",10"
set output outbase.".svg"
plot 'pareto_acc_vs_bytes.dat' index 2 using 2:3 with steps lw 1.5 lc rgb '#777777' dt 2 title 'Pareto front', \
  '' index 0 using 2:3:(0):($4-$3) with vectors head filled size screen 0.008,25 lw 1.5 lc rgb '#aaaaaa' notitle, \
  '' index 0 using 2:3 with points pt 7 ps 1.4 lc rgb '#ff7f0e' title 'CLM+LoRA (rd)', \
  '' index 0 using 2:4 with points pt 13 ps 1.8 lc rgb '#2ca02c' title 'CA-LoRA (i-rc-d)', \
  '' index 1 using 2:3 with points pt 5 ps 1.8 lc rgb '#1f77b4' title 'LLM+LoRA (none)', \
  '' index 0 using 2:4:1 with labels left offset 0.9,0.3 font ',7' tc rgb '#2ca02c' notitle
unset output
