/* capmetric validate: see below. */
#include "cli.h"
int cmd_validate(int argc, char **argv)
{
    (void)argc, (void)argv;
    return usage_error("%s", "validate: under construction");
}
