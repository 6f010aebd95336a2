# cpet report: steps_per_task on world_typing (mean over seeds), from curve_steps_per_task_world_typing.dat
array titles[5] = ['sequential', 'EMR (K-means memory, 5 per class)', 'static ConPET (dynamic replay)', 'dynamic ConPET (top-1)', 'joint (upper bound)']
array colours[5] = [2062260, 16744206, 2924588, 14034728, 9725885]
set xlabel 'tasks seen'
set ylabel "steps_per_task"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:5] 'curve_steps_per_task_world_typing.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:5] 'curve_steps_per_task_world_typing.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
