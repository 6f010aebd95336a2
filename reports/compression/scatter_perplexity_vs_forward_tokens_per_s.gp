# cpet report: perplexity against forward_tokens_per_s per row (average over tasks), Pareto front drawn and labelled, from scatter_perplexity_vs_forward_tokens_per_s.dat
array titles[18] = ['none (front)', 'rtn-int8 (front)', 'w8a8 (front)', 'q8_0 (front)', 'rtn-int4', 'gptq-int4', 'nf4', 'q4_0', 'rtn-int3', 'gptq-int3', 'magnitude', 'wanda (front)', 'nm-2:4', 'wanda+gptq-int4', 'struct-ffn (front)', 'struct-heads', 'moefication', 'moefication+rtn-int4']
array colours[18] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186, 1556175, 11454440, 16759672, 10018698, 16750742, 12955861, 12885140, 16234194, 13092807]
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set xlabel 'forward_tokens_per_s (higher is better)'
set ylabel 'perplexity (lower is better)'
set key outside right top font ',8' spacing 1.1
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set title 'Pareto front (dashed, labelled): rows no other row beats on both forward_tokens_per_s and perplexity'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1100,640 noenhanced font ",10"
set output outbase.".png"
plot 'scatter_perplexity_vs_forward_tokens_per_s.dat' index 1 using 2:3 with steps lw 2 lc rgb '#555555' dt 2 title 'Pareto front', \
  for [i=0:17] '' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1], \
  '' index 1 using 2:3:1 with labels left offset 1,0.6 font ',9' notitle
unset output
set terminal svg size 1100,640 noenhanced font ",10"
set output outbase.".svg"
plot 'scatter_perplexity_vs_forward_tokens_per_s.dat' index 1 using 2:3 with steps lw 2 lc rgb '#555555' dt 2 title 'Pareto front', \
  for [i=0:17] '' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1], \
  '' index 1 using 2:3:1 with labels left offset 1,0.6 font ',9' notitle
unset output
