/* capmetric COMMAND --help: what each command takes (the commands whose own
 * code prints usage — predict, fit, validate, quantize — answer themselves). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *cmd, *text;
} helps[] = {
    {"formats", "usage: capmetric formats [--json] [--plugin FILE.so]\n"
                "  every family with its keys (type, range, default, doc) and the aliases\n"},
    {"laws", "usage: capmetric laws [--json]\n"
             "  the capacity laws: form, inputs, source; 'file:PATH.json' laws come from fit --save\n"},
    {"eval", "usage: capmetric eval [SPEC...] [options]\n"
             "       capmetric eval SPEC... --data FILE.npy|FILE.safetensors [--tensor REGEX] [--pad]\n"
             "  GMSE, bits, eff_bits, rho, rho_per_bit per spec (no SPEC: a default set); with\n"
             "  --data the error on your tensors, blocks along the last dimension\n"
             "options: --samples N (2^24) --seed S (1) --threads T --method auto|exact|mc\n"
             "         --law NAME|file:PATH --dist gauss|laplace|logistic|student:nu=V|uniform\n"
             "         --sigma S --json|--csv --quiet --plugin FILE.so\n"
             "example: capmetric eval int4 mxfp4 nvfp4 \"rht:dim=32+mxfp4\" --dist student:nu=5\n"},
    {"rank", "usage: capmetric rank SPEC... [--by rho_per_bit|gmse|rho|bits|loss] [options]\n"
             "  eval's results sorted best first, the Pareto frontier, paired differences with\n"
             "  z-scores; --by loss needs --params N --tokens D and a law with an absolute loss\n"
             "options: those of eval, and --params --tokens --tensors --memory for --by loss\n"},
    {"bench", "usage: capmetric bench [SPEC...] [--samples N] [--threads T] [--json]\n"
              "  Monte-Carlo values/s per thread on each instruction set (scalar, avx2, avx512),\n"
              "  1 and all threads, wall and CPU time, against a plain scalar loop; with no SPEC\n"
              "  also the exact path, the QuEST fit and the array path (eval --data, quantize);\n"
              "  about 40 s. CAPMETRIC_ISA=scalar|avx2|avx512 forces an instruction set anywhere\n"
              "example: capmetric bench int4_g32 nvfp4 --samples 2^24\n"},
    {"grid", "usage: capmetric grid FILE.json|--default [-o DIR] [--resume] [--force] [--skip-invalid]\n"
             "                      [--shard I/N] [--samples N] [--seed S] [--method M] [--law L]\n"
             "                      [--dist D] [--sigma S] [--by KEY]\n"
             "  sweep a grid of formats; results.json, results.csv, summary.md and plots in\n"
             "  results/NAME/ (or -o DIR); see the README for the file's keys (ranges\n"
             "  {from, to, step|times}, where conditions such as \"bits >= 3 and block == 32\");\n"
             "  --skip-invalid runs the valid points and lists the others with their reasons\n"
             "example: capmetric grid --default -o results/default\n"},
    {"merge", "usage: capmetric merge DIR... -o OUT\n"
              "  the shards of one grid (grid --shard I/N) into one report\n"},
};

int cli_command_help(const char *cmd, int argc, char **argv)
{
    int asked = 0;
    for (int i = 0; i < argc; i++)
        asked |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    if (!asked)
        return 0;
    for (size_t i = 0; i < sizeof helps / sizeof *helps; i++)
        if (!strcmp(helps[i].cmd, cmd)) {
            fputs(helps[i].text, stdout);
            return 1;
        }
    return 0;
}
