# cpet report: train_loss on entity_type (mean over seeds), from curve_train_loss_entity_type.dat
array titles[2] = ['lora r8', 'lora-fa r8']
array colours[2] = [16744206, 2924588]
set xlabel 'step'
set ylabel "train_loss"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:2] 'curve_train_loss_entity_type.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:2] 'curve_train_loss_entity_type.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
