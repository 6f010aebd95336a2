# cpet report: train_loss on qa_facts (mean over seeds), from curve_train_loss_qa_facts.dat
array titles[6] = ['SiLU (dense)', 'ReLU', 'ReLU + constant lambda (final)', 'ReLU + constant lambda (mean)', 'ProSparse', 'ProSparse + FATReLU 0.01']
array colours[6] = [2062260, 16744206, 2924588, 14034728, 9725885, 9197131]
set xlabel 'step'
set ylabel "train_loss"
set key outside right top
set grid
if (!exists("outbase")) outbase = "plot"
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outbase.".png"
plot for [i=1:6] 'curve_train_loss_qa_facts.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
set terminal svg size 960,540 noenhanced font ",10"
set output outbase.".svg"
plot for [i=1:6] 'curve_train_loss_qa_facts.dat' index i-1 using 1:2 with lines lw 2 lc rgb colours[i] title titles[i]
unset output
