# cpet bench history: the gemv figures across revisions (x: runs in history order), from history_gemv.dat
set datafile separator "\t"
set grid
set xrange [-0.5:6.5]
set xtics rotate by 45 right ('c971633' 0, '8ec939f' 1, '4890226' 2, '3691ea8' 3, 'c28ea3e' 4, 'c702948' 5, '377de59' 6)
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1680,1060 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 3,3 title 'gemv'." across revisions (history order)"
set title 'fraction_of_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.0332118697:1.18151445]
plot  'history_gemv.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 8 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 9 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 10 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 11 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'fraction_of_read_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [-0.043638457:1.62598377]
plot  'history_gemv.dat' index 12 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 13 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 14 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 15 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 16 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 17 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 18 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 19 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 20 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 21 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 22 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 23 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'speedup_vs_f32 (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.303897924:7.82990633]
plot  'history_gemv.dat' index 24 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 25 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 26 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 27 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 28 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 29 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 30 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 31 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 32 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 33 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 34 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'target_fraction (within-run ratio)'
unset key
set yrange [0.5856:0.6144]
plot  'history_gemv.dat' index 35 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'target_fraction'
set title 'bytes'
set key outside right top font ",7" spacing 0.9
set yrange [22475575.6:583634124]
plot  'history_gemv.dat' index 36 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 37 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 38 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 39 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 40 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 41 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 42 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 43 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 44 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 45 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 46 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 47 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'gb_s'
set key outside right top font ",7" spacing 0.9
set yrange [-0.499120163:29.3063575]
plot  'history_gemv.dat' index 48 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 49 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 50 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 51 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 52 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 53 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 54 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 55 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 56 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 57 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 58 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 59 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'median_gb_s'
set key outside right top font ",7" spacing 0.9
set yrange [-1.09595156:28.8783957]
plot  'history_gemv.dat' index 60 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 61 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 62 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 63 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 64 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 65 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 66 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 67 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 68 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 69 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 70 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 71 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'stream_copy_gb_s'
unset key
set yrange [6.47676997:29.6533914]
plot  'history_gemv.dat' index 72 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'stream_copy_gb_s'
set title 'stream_read_gb_s'
unset key
set yrange [3.301989:44.2873042]
plot  'history_gemv.dat' index 73 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'stream_read_gb_s'
unset multiplot

unset output
set terminal svg size 1680,1060 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 3,3 title 'gemv'." across revisions (history order)"
set title 'fraction_of_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.0332118697:1.18151445]
plot  'history_gemv.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 8 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 9 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 10 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 11 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'fraction_of_read_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [-0.043638457:1.62598377]
plot  'history_gemv.dat' index 12 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 13 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 14 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 15 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 16 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 17 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 18 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 19 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 20 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 21 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 22 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 23 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'speedup_vs_f32 (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.303897924:7.82990633]
plot  'history_gemv.dat' index 24 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 25 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 26 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 27 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 28 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 29 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 30 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 31 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 32 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 33 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 34 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'target_fraction (within-run ratio)'
unset key
set yrange [0.5856:0.6144]
plot  'history_gemv.dat' index 35 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'target_fraction'
set title 'bytes'
set key outside right top font ",7" spacing 0.9
set yrange [22475575.6:583634124]
plot  'history_gemv.dat' index 36 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 37 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 38 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 39 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 40 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 41 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 42 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 43 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 44 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 45 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 46 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 47 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'gb_s'
set key outside right top font ",7" spacing 0.9
set yrange [-0.499120163:29.3063575]
plot  'history_gemv.dat' index 48 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 49 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 50 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 51 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 52 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 53 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 54 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 55 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 56 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 57 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 58 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 59 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'median_gb_s'
set key outside right top font ",7" spacing 0.9
set yrange [-1.09595156:28.8783957]
plot  'history_gemv.dat' index 60 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'f32', \
     'history_gemv.dat' index 61 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'int4+q8act-rowwise', \
     'history_gemv.dat' index 62 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'int4+q8act', \
     'history_gemv.dat' index 63 using 1:2 with linespoints lw 2 lc rgb '#d62728' dt 1 pt 7 ps 0.8 title 'int4', \
     'history_gemv.dat' index 64 using 1:2 with linespoints lw 2 lc rgb '#9467bd' dt 1 pt 8 ps 0.8 title 'int8+q8act', \
     'history_gemv.dat' index 65 using 1:2 with linespoints lw 2 lc rgb '#8c564b' dt 1 pt 9 ps 0.8 title 'int8', \
     'history_gemv.dat' index 66 using 1:2 with linespoints lw 2 lc rgb '#e377c2' dt 1 pt 4 ps 0.8 title 'nf4', \
     'history_gemv.dat' index 67 using 1:2 with linespoints lw 2 lc rgb '#7f7f7f' dt 1 pt 5 ps 0.8 title 'q4_0+q8act-rowwise', \
     'history_gemv.dat' index 68 using 1:2 with linespoints lw 2 lc rgb '#bcbd22' dt 1 pt 6 ps 0.8 title 'q4_0+q8act', \
     'history_gemv.dat' index 69 using 1:2 with linespoints lw 2 lc rgb '#17becf' dt 1 pt 7 ps 0.8 title 'q4_0', \
     'history_gemv.dat' index 70 using 1:2 with linespoints lw 2 lc rgb '#aec7e8' dt 1 pt 8 ps 0.8 title 'q8_0+q8act', \
     'history_gemv.dat' index 71 using 1:2 with linespoints lw 2 lc rgb '#ffbb78' dt 1 pt 9 ps 0.8 title 'q8_0'
set title 'stream_copy_gb_s'
unset key
set yrange [6.47676997:29.6533914]
plot  'history_gemv.dat' index 72 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'stream_copy_gb_s'
set title 'stream_read_gb_s'
unset key
set yrange [3.301989:44.2873042]
plot  'history_gemv.dat' index 73 using 1:2 with linespoints lw 2 lc rgb '#98df8a' dt 1 pt 4 ps 0.8 title 'stream_read_gb_s'
unset multiplot

unset output
