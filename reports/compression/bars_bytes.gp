# cpet report: bytes per task and method (mean +- 95% CI over seeds), from bars_bytes.dat
set datafile separator "\t"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set yrange [0:*]
set ylabel "bytes"
set key outside right top
set grid ytics
set xtics nomirror
set logscale y
set yrange [*:*]
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot 'bars_bytes.dat' using 2:3:xtic(1) title 'none / zero-shot', 'bars_bytes.dat' using 4:5 title 'rtn-int8 / zero-shot', 'bars_bytes.dat' using 6:7 title 'w8a8 / zero-shot', 'bars_bytes.dat' using 8:9 title 'q8_0 / zero-shot', 'bars_bytes.dat' using 10:11 title 'rtn-int4 / zero-shot', 'bars_bytes.dat' using 12:13 title 'gptq-int4 / zero-shot', 'bars_bytes.dat' using 14:15 title 'nf4 / zero-shot', 'bars_bytes.dat' using 16:17 title 'q4_0 / zero-shot', 'bars_bytes.dat' using 18:19 title 'rtn-int3 / zero-shot', 'bars_bytes.dat' using 20:21 title 'gptq-int3 / zero-shot', 'bars_bytes.dat' using 22:23 title 'magnitude / zero-shot', 'bars_bytes.dat' using 24:25 title 'wanda / zero-shot', 'bars_bytes.dat' using 26:27 title 'nm-2:4 / zero-shot', 'bars_bytes.dat' using 28:29 title 'wanda+gptq-int4 / zero-shot', 'bars_bytes.dat' using 30:31 title 'struct-ffn / zero-shot', 'bars_bytes.dat' using 32:33 title 'struct-heads / zero-shot', 'bars_bytes.dat' using 34:35 title 'moefication / zero-shot', 'bars_bytes.dat' using 36:37 title 'moefication+rtn-int4 / zero-shot'
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
replot
unset output
