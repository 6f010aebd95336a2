# cpet report: selector_accuracy per task, one bar per row sorted by value (mean +- 95% CI over seeds), from bars_selector_accuracy.dat
set datafile separator "\t"
set style fill solid 0.9 border rgb '#444444'
set grid xtics lc rgb '#dddddd'
set ytics scale 0 font ',9'
set xtics nomirror
set border 3
set tmargin 2
set lmargin 31
set xlabel 'selector_accuracy (higher is better)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,248 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 2,1
set title 'world_typing: selector_accuracy (1 seed); axis zoomed, not from 0'
set xrange [0.326027778:0.351236111]
set yrange [0.4:1.6]
unset arrow
unset label
set xtics autofreq
plot 'bars_selector_accuracy.dat' index 0 using (0.326027778):1:(0.326027778):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 0 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 0 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'world_relation: selector_accuracy (1 seed); axis zoomed, not from 0'
set xrange [0.695166667:0.748916667]
set yrange [0.4:1.6]
unset arrow
unset label
set xtics autofreq
plot 'bars_selector_accuracy.dat' index 1 using (0.695166667):1:(0.695166667):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 1 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 1 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
unset multiplot
unset output
set terminal svg size 960,248 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 2,1
set title 'world_typing: selector_accuracy (1 seed); axis zoomed, not from 0'
set xrange [0.326027778:0.351236111]
set yrange [0.4:1.6]
unset arrow
unset label
set xtics autofreq
plot 'bars_selector_accuracy.dat' index 0 using (0.326027778):1:(0.326027778):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 0 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 0 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
set title 'world_relation: selector_accuracy (1 seed); axis zoomed, not from 0'
set xrange [0.695166667:0.748916667]
set yrange [0.4:1.6]
unset arrow
unset label
set xtics autofreq
plot 'bars_selector_accuracy.dat' index 1 using (0.695166667):1:(0.695166667):3:($1-0.38):($1+0.38):5:ytic(2) with boxxyerror lc rgb variable notitle, \
  '' index 1 using 3:1:($3-$4):($3+$4) with xerrorbars pt 0 lc rgb 'black' notitle, \
  '' index 1 using ($3+$4):1:6 with labels left offset 0.6,0 font ',9' notitle
unset multiplot
unset output
