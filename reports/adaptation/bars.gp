# cpet report: acc per task and method (mean +- 95% CI over seeds), from bars.dat
set datafile separator "\t"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set yrange [0:*]
set ylabel "acc"
set key outside right top
set grid ytics
set xtics nomirror
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot 'bars.dat' using 2:3:xtic(1) title 'zero-shot', 'bars.dat' using 4:5 title 'lora r8'
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
replot
unset output
