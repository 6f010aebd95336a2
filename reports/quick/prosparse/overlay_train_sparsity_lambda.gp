# cpet report: train_sparsity (solid, left axis) and lambda (dashed, right axis) per row, mean over seeds, from overlay_train_sparsity_lambda.dat (task entity_type)
set datafile separator "\t"
set xlabel "step"
set ylabel "train_sparsity (solid)"
set y2label "lambda (dashed)"
set ytics nomirror
set y2tics
set y2range [0:0.000105]
set key outside right top
set grid
set title "train_sparsity and lambda against the step"
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1100,560 noenhanced font ",10"
set output outbase.".png"
plot 'overlay_train_sparsity_lambda.dat' index 0 using 1:2 axes x1y1 with lines lw 2 lc rgb '#1f77b4' title 'SiLU (dense)', '' index 0 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#1f77b4' notitle, \
  'overlay_train_sparsity_lambda.dat' index 1 using 1:2 axes x1y1 with lines lw 2 lc rgb '#ff7f0e' title 'ReLU', '' index 1 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#ff7f0e' notitle, \
  'overlay_train_sparsity_lambda.dat' index 2 using 1:2 axes x1y1 with lines lw 2 lc rgb '#2ca02c' title 'ProSparse', '' index 2 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#2ca02c' notitle, \
  'overlay_train_sparsity_lambda.dat' index 3 using 1:2 axes x1y1 with lines lw 2 lc rgb '#d62728' title 'ProSparse + FATReLU 0.01', '' index 3 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#d62728' notitle
unset output
set terminal svg size 1100,560 noenhanced font ",10"
set output outbase.".svg"
plot 'overlay_train_sparsity_lambda.dat' index 0 using 1:2 axes x1y1 with lines lw 2 lc rgb '#1f77b4' title 'SiLU (dense)', '' index 0 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#1f77b4' notitle, \
  'overlay_train_sparsity_lambda.dat' index 1 using 1:2 axes x1y1 with lines lw 2 lc rgb '#ff7f0e' title 'ReLU', '' index 1 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#ff7f0e' notitle, \
  'overlay_train_sparsity_lambda.dat' index 2 using 1:2 axes x1y1 with lines lw 2 lc rgb '#2ca02c' title 'ProSparse', '' index 2 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#2ca02c' notitle, \
  'overlay_train_sparsity_lambda.dat' index 3 using 1:2 axes x1y1 with lines lw 2 lc rgb '#d62728' title 'ProSparse + FATReLU 0.01', '' index 3 using 1:3 axes x1y2 with lines lw 1.5 dt 2 lc rgb '#d62728' notitle
unset output
