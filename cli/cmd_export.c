/* cpet export: a model into other runtimes' formats. */
#include "cli.h"

int cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("export: not built yet");
}
