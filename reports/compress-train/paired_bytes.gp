# cpet report: paired difference of bytes to the baseline, from paired_bytes.dat (green: better, red: worse, grey: CI holds 0)
set datafile separator "\t"
set grid xtics lc rgb '#dddddd'
set ytics scale 0 font ',9'
set xtics nomirror
set border 3
set tmargin 2
set lmargin 29
set xlabel 'difference in bytes (lower is better)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,2286 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 3,1
set title 'qa_two_hop: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 0 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 0 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'relation_type: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 1 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 1 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'entity_type: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 2 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 2 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
unset multiplot
unset output
set terminal svg size 960,2286 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 3,1
set title 'qa_two_hop: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 0 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 0 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'relation_type: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 1 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 1 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'entity_type: bytes minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-31935692.8:10161356.8]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_bytes.dat' index 2 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 2 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
unset multiplot
unset output
