# cpet report: train_loss on entity_type (mean over seeds), from curve_train_loss_entity_type.dat
array titles[5] = ['LLM+LoRA continued', 'CLM+LoRA (rd)', 'CLM+MoSLoRA', 'CA-LoRA (i-rc-d)', 'i']
array colours[5] = [16744206, 9197131, 14907330, 8355711, 12369186]
set xlabel 'step'
set ylabel "train_loss"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:5] 'curve_train_loss_entity_type.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:5] 'curve_train_loss_entity_type.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
