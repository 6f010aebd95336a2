# cpet bench history: the pretrain figures across revisions (x: runs in history order), from history_pretrain.dat
set datafile separator "\t"
set grid
set xrange [-0.5:6.5]
set xtics rotate by 45 right ('c971633' 0, '8ec939f' 1, '4890226' 2, '3691ea8' 3, 'c28ea3e' 4, 'c702948' 5, '377de59' 6)
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1120,380 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 1,2 title 'pretrain'." across revisions (history order)"
set title 'step.mean_s'
unset key
set yrange [0.452789851:0.564223449]
plot  'history_pretrain.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'step'
set title 'tokens_per_s'
unset key
set yrange [3616.34046:4506.33794]
plot  'history_pretrain.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'tokens_per_s'
unset multiplot

unset output
set terminal svg size 1120,380 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 1,2 title 'pretrain'." across revisions (history order)"
set title 'step.mean_s'
unset key
set yrange [0.452789851:0.564223449]
plot  'history_pretrain.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'step'
set title 'tokens_per_s'
unset key
set yrange [3616.34046:4506.33794]
plot  'history_pretrain.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'tokens_per_s'
unset multiplot

unset output
