# cpet report: paired difference of forward_tokens_per_s to the baseline, from paired_forward_tokens_per_s.dat (green: better, red: worse, grey: CI holds 0)
set datafile separator "\t"
set grid xtics lc rgb '#dddddd'
set ytics scale 0 font ',9'
set xtics nomirror
set border 3
set tmargin 2
set lmargin 29
set xlabel 'difference in forward_tokens_per_s (higher is better)'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,2286 noenhanced font ",10"
set output outbase.".png"
set multiplot layout 3,1
set title 'qa_two_hop: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-3920.44269:14262.4788]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 0 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 0 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'relation_type: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-4177.28168:15645.7551]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 1 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 1 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'entity_type: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-3472.82587:14369.0515]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 2 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 2 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
unset multiplot
unset output
set terminal svg size 960,2286 noenhanced font ",10"
set output outbase.".svg"
set multiplot layout 3,1
set title 'qa_two_hop: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-3920.44269:14262.4788]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 0 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 0 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'relation_type: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-4177.28168:15645.7551]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 1 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 1 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
set title 'entity_type: forward_tokens_per_s minus none / LoRA, paired bootstrap 95% CI (* = excludes 0)'
set xrange [-3472.82587:14369.0515]
set yrange [0.4:28.6]
unset arrow
set arrow from 0, graph 0 to 0, graph 1 nohead lw 1.5 lc rgb 'black' back
plot 'paired_forward_tokens_per_s.dat' index 2 using 3:1:4:5:6:ytic(2) with xerrorbars pt 7 ps 1.2 lc rgb variable notitle, \
  '' index 2 using 5:1:7 with labels left offset 0.8,0 font ',9' notitle
unset multiplot
unset output
