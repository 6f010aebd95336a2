# cpet report: train_loss on qa_two_hop (mean over seeds), from curve_train_loss_qa_two_hop.dat
array titles[29] = ['none / LoRA', 'none / LoRETTA rep', 'none / LoRETTA adp', 'q8_0 (PTQ) / LoRA', 'q8_0 (PTQ) / LoRETTA rep', 'QAT q8_0 +cd +ds / LoRA', 'QAT q8_0 +cd +ds / LoRETTA rep', 'SIMPLE 60% / LoRA', 'SIMPLE 60% / LoRETTA rep', 'WID 60% / LoRA', 'WID 60% / LoRETTA rep', 'q4_0 (PTQ) / LoRA', 'q4_0 (PTQ) / LoRETTA rep', 'q4_0 (PTQ) / LoRETTA adp', 'gptq-int4 (PTQ) / LoRA', 'gptq-int4 (PTQ) / LoRETTA rep', 'QAT q4_0 / LoRA', 'QAT q4_0 / LoRETTA rep', 'QAT q4_0 +ds / LoRA', 'QAT q4_0 +ds / LoRETTA rep', 'QAT q4_0 +cd / LoRA', 'QAT q4_0 +cd / LoRETTA rep', 'QAT q4_0 +cd +ds / LoRA', 'QAT q4_0 +cd +ds / LoRETTA rep', 'QAT q4_0 +cd +ds / LoRETTA adp', 'SIMPLE 25% + q8_0 / LoRA', 'SIMPLE 25% + q8_0 / LoRETTA rep', 'WID 25% + q8_0 / LoRA', 'WID 25% + q8_0 / LoRETTA rep']
array colours[29] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186, 1556175, 11454440, 16759672, 10018698, 16750742, 12955861, 12885140, 16234194, 13092807, 14408589, 10410725, 2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186]
set xlabel 'step'
set ylabel "train_loss"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:29] 'curve_train_loss_qa_two_hop.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:29] 'curve_train_loss_qa_two_hop.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
