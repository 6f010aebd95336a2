# cpet report: train_loss on qa_two_hop (mean over seeds), from curve_train_loss_qa_two_hop.dat
array titles[10] = ['none / LoRA', 'none / LoRETTA rep', 'SIMPLE 60% / LoRA', 'SIMPLE 60% / LoRETTA rep', 'WID 60% / LoRA', 'WID 60% / LoRETTA rep', 'q4_0 (PTQ) / LoRA', 'q4_0 (PTQ) / LoRETTA rep', 'QAT q4_0 +cd +ds / LoRA', 'QAT q4_0 +cd +ds / LoRETTA rep']
array colours[10] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131, 14907330, 8355711, 12369186, 1556175]
set xlabel 'step'
set ylabel "train_loss"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:10] 'curve_train_loss_qa_two_hop.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:10] 'curve_train_loss_qa_two_hop.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
