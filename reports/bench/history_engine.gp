# cpet bench history: the engine figures across revisions (x: runs in history order), from history_engine.dat
set datafile separator "\t"
set grid
set xrange [-0.5:6.5]
set xtics rotate by 45 right ('c971633' 0, '8ec939f' 1, '4890226' 2, '3691ea8' 3, 'c28ea3e' 4, 'c702948' 5, '377de59' 6)
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1680,720 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 2,3 title 'engine'." across revisions (history order)"
set title 'fraction_of_sgemm (within-run ratio)'
unset key
set yrange [0.504115484:0.758806499]
plot  'history_engine.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'fraction_of_sgemm'
set title 'mean_s'
set key outside right top font ",7" spacing 0.9
set yrange [-0.16416664:5.1701841]
plot  'history_engine.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'forward', \
     'history_engine.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'forward_backward', \
     'history_engine.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'sgemm_same_shapes'
set title 'sgemm_gflops'
unset key
set yrange [56.4037571:329.353835]
plot  'history_engine.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'sgemm_gflops'
set title 'step_gflops'
unset key
set yrange [24.0630342:234.271764]
plot  'history_engine.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'step_gflops'
set title 'tokens_per_s_fwd_bwd'
unset key
set yrange [125.400534:1220.86866]
plot  'history_engine.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'tokens_per_s_fwd_bwd'
set title 'us_per_token_fwd_bwd'
unset key
set yrange [512.323847:4987.85856]
plot  'history_engine.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'us_per_token_fwd_bwd'
unset multiplot

unset output
set terminal svg size 1680,720 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 2,3 title 'engine'." across revisions (history order)"
set title 'fraction_of_sgemm (within-run ratio)'
unset key
set yrange [0.504115484:0.758806499]
plot  'history_engine.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'fraction_of_sgemm'
set title 'mean_s'
set key outside right top font ",7" spacing 0.9
set yrange [-0.16416664:5.1701841]
plot  'history_engine.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'forward', \
     'history_engine.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'forward_backward', \
     'history_engine.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'sgemm_same_shapes'
set title 'sgemm_gflops'
unset key
set yrange [56.4037571:329.353835]
plot  'history_engine.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'sgemm_gflops'
set title 'step_gflops'
unset key
set yrange [24.0630342:234.271764]
plot  'history_engine.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'step_gflops'
set title 'tokens_per_s_fwd_bwd'
unset key
set yrange [125.400534:1220.86866]
plot  'history_engine.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'tokens_per_s_fwd_bwd'
set title 'us_per_token_fwd_bwd'
unset key
set yrange [512.323847:4987.85856]
plot  'history_engine.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'us_per_token_fwd_bwd'
unset multiplot

unset output
