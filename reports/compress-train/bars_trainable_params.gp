# cpet report: trainable_params per task, one bar per row sorted by value (mean +- 95% CI over seeds), from bars_trainable_params.dat
set datafile separator "\t"
set style fill solid 0.9 border rgb '#444444'
set grid xtics lc rgb '#dddddd'
set ytics scale 0 font ',9'
set xtics nomirror
set border 3
set tmargin 2
set lmargin 29
set xlabel 'trainable_params (higher is better)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,2358 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 3,1
set title 'qa_two_hop: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 0 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 0 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 0 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'relation_type: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 1 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 1 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 1 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'entity_type: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 2 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 2 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 2 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
unset multiplot
unset output
set terminal svg size 960,2358 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 3,1
set title 'qa_two_hop: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 0 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 0 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 0 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'relation_type: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 1 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 1 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 1 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'entity_type: trainable_params (3 seeds); dashed: none / LoRA'
set xrange [0:451379.2]
set yrange [0.4:29.6]
unset arrow
unset label
set arrow from 311296, graph 0 to 311296, graph 1 nohead dt (6,4) lw 2 lc rgb 'black' front
set xtics autofreq
plot 'bars_trainable_params.dat' index 2 using (0):1:(0):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 2 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 2 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
unset multiplot
unset output
