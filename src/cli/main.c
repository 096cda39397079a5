/* capmetric — the command-line program. Uses the public API only; it is the
 * one place that prints and chooses exit codes:
 *   0 success, 1 runtime failure, 2 bad usage or bad input.
 * This file only dispatches to the commands (cmd_*.c). */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

/* ---- main ------------------------------------------------------------------------- */

static void help(FILE *f)
{
    fprintf(f,
            "capmetric %s — how much model capacity a compressed number format keeps\n\n"
            "usage:\n"
            "  capmetric formats [--json]          families, their keys and defaults, aliases\n"
            "  capmetric eval [SPEC...] [options]  GMSE, bits, eff_bits, rho, rho_per_bit\n"
            "  capmetric eval SPEC... --data FILE [--tensor REGEX] [--pad]\n"
            "                                      the error on your tensors (.npy, .safetensors)\n"
            "  capmetric quantize SPEC IN OUT [--dtype T]  dequantized values, same shape\n"
            "  capmetric rank SPEC... [--by KEY]   the same, sorted (rho_per_bit, gmse, rho, bits),\n"
            "                                      Pareto frontier, paired differences with z-scores\n"
            "  capmetric grid FILE.json|--default [-o DIR] [--resume] [--force] [--shard I/N]\n"
            "                                      sweep a grid; reports and plots in results/NAME/\n"
            "  capmetric merge DIR... -o OUT       shards of one grid into one report\n"
            "  capmetric bench [SPEC...]           Monte-Carlo samples/s and exact-path time\n"
            "  capmetric laws [--json]             the capacity laws, their inputs and sources\n"
            "  capmetric predict SPEC... --params N --tokens D [--law NAME] [--tensors w,a]\n"
            "                                      rho, N_eff, predicted loss, gap, iso-memory\n"
            "  capmetric rank SPEC... --by loss --params N --tokens D [--law NAME]\n"
            "  capmetric fit FILE.csv [--mode decoupled|unified|map|quartet] [--save law.json]\n"
            "                                      fit a law to training runs (see README)\n"
            "  capmetric validate [--data DIR] [-o DIR]  the GMSE -> capacity evidence report\n"
            "  capmetric help | version\n\n"
            "options:\n"
            "  --samples N    Monte-Carlo values per format (default 2^24; 2..2^40)\n"
            "  --seed S       random seed (default 1)\n"
            "  --threads T    worker threads (default: all cores); results do not depend on it\n"
            "  --method M     auto (exact where possible) | exact | mc\n"
            "  --law NAME     unified-llama-c4 (default) | unified-olmo2 | unified-quest |\n"
            "                 file:PATH.json; predict also quest, kumar, chen-qat, capybara, ...\n"
            "  --dist D       the data: gauss (default) | laplace | logistic | student:nu=V |\n"
            "                 uniform, each of unit variance\n"
            "  --sigma S      the data's standard deviation (default 1; gmse = MSE / S^2)\n"
            "  --plugin FILE  load formats from a plugin (repeatable)\n"
            "  --json | --csv output format (default: aligned table)\n"
            "  --quiet        no footer\n\n"
            "SPEC: FAMILY[:KEY=VALUE,...][+SPEC], e.g. int4, fp:e=3,m=2, lut:name=nf4,\n"
            "      lloydmax:levels=16, \"lut:values=-1;0;1\". See 'capmetric formats'.\n"
            "exit codes: 0 ok, 1 runtime failure, 2 bad usage or input\n",
            cm_version());
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    cli_cmd = cmd;
    if (cli_command_help(cmd, argc - 2, argv + 2)) /* before any work is done */
        return 0;
    if (!strcmp(cmd, "formats"))
        return cmd_formats(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "rank"))
        return cmd_rank(argc - 2, argv + 2);
    if (!strcmp(cmd, "grid"))
        return cmd_grid(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge"))
        return cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        char *h[] = {(char *)"--help"}; /* capmetric help CMD = capmetric CMD --help */
        if (argc > 2 && cli_command_help(argv[2], 1, h))
            return 0;
        if (argc > 2) {
            fprintf(stderr, "%s: error: no command '%s' (accepted: formats, laws, eval, rank, "
                            "predict, fit, validate, quantize, bench, grid, merge)\n",
                    prog, argv[2]);
            return EXIT_USAGE;
        }
        help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("capmetric %s\n", cm_version());
        return 0;
    }
    if (!strcmp(cmd, "predict"))
        return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "fit"))
        return cmd_fit(argc - 2, argv + 2);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc - 2, argv + 2);
    if (!strcmp(cmd, "laws"))
        return cmd_laws(argc - 2, argv + 2);
    if (!strcmp(cmd, "quantize"))
        return cmd_quantize(argc - 2, argv + 2);
    static const char *const cmds[] = {"formats", "laws", "eval", "rank", "predict", "fit",
                                       "validate", "grid", "merge", "quantize", "bench", "help",
                                       "version"};
    char hint[96], what[256];
    snprintf(what, sizeof what, "'%.60s'%s", cmd,
             cm_did_you_mean(cm_suggest(cmd, cmds, sizeof cmds / sizeof *cmds), hint, sizeof hint));
    return usage_error("unknown command %s (commands: formats, laws, eval, rank, predict, fit, "
                       "validate, grid, merge, quantize, bench, help, version)",
                       what);
}

int main(int argc, char **argv)
{
    cm_diag d;
    cm_diag_clear(&d);
    if (cm_isa_env_check(&d)) { /* a forced instruction set this machine cannot run */
        fprintf(stderr, "%s: error: %s\n", prog, d.msg);
        return EXIT_USAGE;
    }
    int rc = dispatch(argc, argv);
    cli_progress_stop();
    /* a full disk or a closed pipe is a failure, not a success (grid > /dev/full exited 0) */
    if ((fflush(stdout) || ferror(stdout)) && rc == 0) {
        fprintf(stderr, "%s: error: cannot write the output: %s\n", prog, strerror(errno));
        return EXIT_RUNTIME;
    }
    return rc;
}
