# cpet report: bp against notebook_size per row (average over tasks), from scatter_bp_vs_notebook_size.dat
array titles[6] = ['EREN, 10 notes', 'EREN, 100 notes', 'EREN, 1000 notes', 'one-step MRC, 10 notes', 'one-step MRC, 100 notes', 'one-step MRC, 1000 notes']
array colours[6] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131]
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set xlabel 'notebook_size'
set ylabel 'bp (higher is better)'
set key outside right top font ',8' spacing 1.1
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set title 'bp against notebook_size, one point per row (the average over tasks)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1100,640 noenhanced font ",10"
set output outbase.".png"
plot for [i=0:5] 'scatter_bp_vs_notebook_size.dat' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1]
unset output
set terminal svg size 1100,640 noenhanced font ",10"
set output outbase.".svg"
plot for [i=0:5] 'scatter_bp_vs_notebook_size.dat' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1]
unset output
