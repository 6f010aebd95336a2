# cpet report: acc against decode_tokens_per_s per row (average over tasks), Pareto front drawn and labelled, from scatter_acc_vs_decode_tokens_per_s.dat
array titles[29] = ['none / LoRA', 'none / LoRETTA rep', 'none / LoRETTA adp', 'q8_0 (PTQ) / LoRA', 'q8_0 (PTQ) / LoRETTA rep', 'QAT q8_0 +cd +ds / LoRA', 'QAT q8_0 +cd +ds / LoRETTA rep', 'SIMPLE 60% / LoRA (front)', 'SIMPLE 60% / LoRETTA rep (front)', 'WID 60% / LoRA (front)', 'WID 60% / LoRETTA rep (front)', 'q4_0 (PTQ) / LoRA', 'q4_0 (PTQ) / LoRETTA rep', 'q4_0 (PTQ) / LoRETTA adp', 'gptq-int4 (PTQ) / LoRA', 'gptq-int4 (PTQ) / LoRETTA rep', 'QAT q4_0 / LoRA', 'QAT q4_0 / LoRETTA rep', 'QAT q4_0 +ds / LoRA', 'QAT q4_0 +ds / LoRETTA rep', 'QAT q4_0 +cd / LoRA', 'QAT q4_0 +cd / LoRETTA rep', 'QAT q4_0 +cd +ds / LoRA', 'QAT q4_0 +cd +ds / LoRETTA rep', 'QAT q4_0 +cd +ds / LoRETTA adp', 'SIMPLE 25% + q8_0 / LoRA', 'SIMPLE 25% + q8_0 / LoRETTA rep', 'WID 25% + q8_0 / LoRA (front)', 'WID 25% + q8_0 / LoRETTA rep']
array colours[29] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186, 1556175, 11454440, 16759672, 10018698, 16750742, 12955861, 12885140, 16234194, 13092807, 14408589, 10410725, 2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186]
set datafile separator "\t"
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set xlabel 'decode_tokens_per_s (higher is better)'
set ylabel 'acc (higher is better)'
set key outside right top font ',8' spacing 1.1
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set title 'Pareto front (dashed, labelled): rows no other row beats on both decode_tokens_per_s and acc'
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 1100,640 noenhanced font ",10"
set output outbase.".png"
plot 'scatter_acc_vs_decode_tokens_per_s.dat' index 1 using 2:3 with steps lw 2 lc rgb '#555555' dt 2 title 'Pareto front', \
  for [i=0:28] '' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1], \
  '' index 1 using 2:3:1 with labels left offset 1,0.6 font ',9' notitle
unset output
set terminal svg size 1100,640 noenhanced font ",10"
set output outbase.".svg"
plot 'scatter_acc_vs_decode_tokens_per_s.dat' index 1 using 2:3 with steps lw 2 lc rgb '#555555' dt 2 title 'Pareto front', \
  for [i=0:28] '' index 0 every ::i::i using 2:3 with points pt 7 ps 1.8 lc rgb colours[i+1] title titles[i+1], \
  '' index 1 using 2:3:1 with labels left offset 1,0.6 font ',9' notitle
unset output
