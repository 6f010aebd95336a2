# cpet bench history: the decode_f32 figures across revisions (x: runs in history order), from history_decode_f32.dat
set datafile separator "\t"
set grid
set xrange [-0.5:6.5]
set xtics rotate by 45 right ('c971633' 0, '8ec939f' 1, '4890226' 2, '3691ea8' 3, 'c28ea3e' 4, 'c702948' 5, '377de59' 6)
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1680,1400 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 4,3 title 'decode_f32'." across revisions (history order)"
set title 'pp_fraction_of_sgemm (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.839768674:0.915976532]
plot  'history_decode_f32.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'tg_fraction_of_copy_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.964099897:1.99020103]
plot  'history_decode_f32.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'tg_fraction_of_read_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.771412996:0.845909367]
plot  'history_decode_f32.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'bytes_per_token'
unset key
set yrange [445992960:467927040]
plot  'history_decode_f32.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'bytes_per_token'
set title 'model_bytes'
unset key
set yrange [523549262:549297586]
plot  'history_decode_f32.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'model_bytes'
set title 'peak_rss_mb'
unset key
set yrange [521.335156:619.969531]
plot  'history_decode_f32.dat' index 8 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'peak_rss_mb'
set title 'pp_tokens_per_s'
set key outside right top font ",7" spacing 0.9
set yrange [451.498948:1007.92452]
plot  'history_decode_f32.dat' index 9 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 10 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'rss_over_size_plus_kv'
unset key
set yrange [0.959808812:1.00701252]
plot  'history_decode_f32.dat' index 11 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'rss_over_size_plus_kv'
set title 'tg_tokens_per_s'
set key outside right top font ",7" spacing 0.9
set yrange [20.6549302:55.9860842]
plot  'history_decode_f32.dat' index 12 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 13 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'weight_bytes_per_token'
unset key
set yrange [427607556:448637436]
plot  'history_decode_f32.dat' index 14 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'weight_bytes_per_token'
unset multiplot

unset output
set terminal svg size 1680,1400 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 4,3 title 'decode_f32'." across revisions (history order)"
set title 'pp_fraction_of_sgemm (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.839768674:0.915976532]
plot  'history_decode_f32.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'tg_fraction_of_copy_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.964099897:1.99020103]
plot  'history_decode_f32.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'tg_fraction_of_read_bandwidth (within-run ratio)'
set key outside right top font ",7" spacing 0.9
set yrange [0.771412996:0.845909367]
plot  'history_decode_f32.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'bytes_per_token'
unset key
set yrange [445992960:467927040]
plot  'history_decode_f32.dat' index 6 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'bytes_per_token'
set title 'model_bytes'
unset key
set yrange [523549262:549297586]
plot  'history_decode_f32.dat' index 7 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'model_bytes'
set title 'peak_rss_mb'
unset key
set yrange [521.335156:619.969531]
plot  'history_decode_f32.dat' index 8 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'peak_rss_mb'
set title 'pp_tokens_per_s'
set key outside right top font ",7" spacing 0.9
set yrange [451.498948:1007.92452]
plot  'history_decode_f32.dat' index 9 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 10 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'rss_over_size_plus_kv'
unset key
set yrange [0.959808812:1.00701252]
plot  'history_decode_f32.dat' index 11 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'rss_over_size_plus_kv'
set title 'tg_tokens_per_s'
set key outside right top font ",7" spacing 0.9
set yrange [20.6549302:55.9860842]
plot  'history_decode_f32.dat' index 12 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 't1', \
     'history_decode_f32.dat' index 13 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 't2'
set title 'weight_bytes_per_token'
unset key
set yrange [427607556:448637436]
plot  'history_decode_f32.dat' index 14 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'weight_bytes_per_token'
unset multiplot

unset output
