# cpet report: selector_accuracy on world_relation (mean over seeds), from curve_selector_accuracy_world_relation.dat
array titles[1] = ['dynamic ConPET (top-1)']
array colours[1] = [14034728]
set xlabel 'tasks seen'
set ylabel "selector_accuracy"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:1] 'curve_selector_accuracy_world_relation.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:1] 'curve_selector_accuracy_world_relation.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
