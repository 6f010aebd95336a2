/* cpet isa: which instruction-set levels this binary has, which this CPU runs, and the one in use. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "isa.h"

int cmd_isa(int argc, char **argv)
{
    int list = 0;
    const opt opts[] = {OPT_SWITCH("--list", &list, "print the levels this binary and CPU share, best first, one a line"), OPT_END};
    const opt_command cmd = {
        .name = "isa",
        .about = "The kernels' instruction-set levels (scalar, avx2, avx2-vnni, avx512, avx512-vnni, neon,\n"
                 "neon-dotprod): whether this binary has each, whether this CPU runs it, and the one in use (the\n"
                 "best both have, or CPET_ISA's; `cpet bench ... --isa LEVEL` sets it for one benchmark). Every\n"
                 "result JSON records the level in use as facts.isa.\n"};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return p == OPT_HELP ? 0 : 2;
    const cpu_isa active = isa_active();
    if (!list) printf("| level | in this binary | this CPU runs it | in use |\n|---|---|---|---|\n");
    for (int i = 0; i < ISA_COUNT; i++) {
        const cpu_isa l = isa_best_first[i];
        if (list) {
            if (isa_compiled(l) && isa_cpu_has(l)) printf("%s\n", isa_name(l));
        } else
            printf("| %s | %s | %s | %s |\n", isa_name(l), isa_compiled(l) ? "yes" : "no", isa_cpu_has(l) ? "yes" : "no",
                   l == active ? "**yes**" : "");
    }
    return 0;
}
