# cpet bench history: the tokenizer figures across revisions (x: runs in history order), from history_tokenizer.dat
set datafile separator "\t"
set grid
set xrange [-0.5:6.5]
set xtics rotate by 45 right ('c971633' 0, '8ec939f' 1, '4890226' 2, '3691ea8' 3, 'c28ea3e' 4, 'c702948' 5, '377de59' 6)
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1680,720 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 2,3 title 'tokenizer'." across revisions (history order)"
set title 'bytes'
unset key
set yrange [112894.896:118447.104]
plot  'history_tokenizer.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'bytes'
set title 'bytes_per_token'
unset key
set yrange [5.0915481:5.3419521]
plot  'history_tokenizer.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'bytes_per_token'
set title 'decode_mb_per_s'
unset key
set yrange [142.324608:223.939712]
plot  'history_tokenizer.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'decode_mb_per_s'
set title 'encode_mb_per_s'
unset key
set yrange [21.3115861:24.7878536]
plot  'history_tokenizer.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'encode_mb_per_s'
set title 'mean_s'
set key outside right top font ",7" spacing 0.9
set yrange [5.04945389e-05:0.00583703445]
plot  'history_tokenizer.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'decode', \
     'history_tokenizer.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'encode'
unset multiplot

unset output
set terminal svg size 1680,720 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 2,3 title 'tokenizer'." across revisions (history order)"
set title 'bytes'
unset key
set yrange [112894.896:118447.104]
plot  'history_tokenizer.dat' index 0 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'bytes'
set title 'bytes_per_token'
unset key
set yrange [5.0915481:5.3419521]
plot  'history_tokenizer.dat' index 1 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'bytes_per_token'
set title 'decode_mb_per_s'
unset key
set yrange [142.324608:223.939712]
plot  'history_tokenizer.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'decode_mb_per_s'
set title 'encode_mb_per_s'
unset key
set yrange [21.3115861:24.7878536]
plot  'history_tokenizer.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#1f77b4' dt 1 pt 4 ps 0.8 title 'encode_mb_per_s'
set title 'mean_s'
set key outside right top font ",7" spacing 0.9
set yrange [5.04945389e-05:0.00583703445]
plot  'history_tokenizer.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' dt 1 pt 5 ps 0.8 title 'decode', \
     'history_tokenizer.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' dt 1 pt 6 ps 0.8 title 'encode'
unset multiplot

unset output
