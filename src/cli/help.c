/* capmetric COMMAND --help (and capmetric help COMMAND): for every command its
 * usage, every option with its default, and two examples; answered before any
 * work is done. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define COMMON                                                                                \
    "  --samples N      Monte-Carlo samples (2^24; suffixes k M G and 2^K accepted)\n"       \
    "  --seed S         Monte-Carlo seed (1)\n"                                              \
    "  --threads T      threads (all cores); results do not depend on it\n"                  \
    "  --method M       auto (exact where it exists, else Monte Carlo), exact or mc (auto)\n" \
    "  --plugin F.so    load a format plugin (repeatable)\n"                                 \
    "  --quiet, --progress  no progress and warnings / progress lines off a terminal\n"

#define DATA                                                                                  \
    "  --dist D         gauss, laplace, logistic, student:nu=V (2 < V <= 1000), uniform "    \
    "(gauss)\n"                                                                               \
    "  --sigma S        the data's standard deviation (1)\n"

static const struct {
    const char *cmd, *text;
} helps[] = {
    {"formats", "usage: capmetric formats [--json] [--plugin FILE.so]\n"
                "  every family with its keys (type, range, default, doc) and the aliases\n"
                "options:\n"
                "  --json           the catalogue as JSON (results: families; aliases)\n"
                "  --plugin F.so    include a plugin's families\n"
                "examples:\n"
                "  capmetric formats\n"
                "  capmetric formats --json --plugin ./mulaw.so\n"},
    {"laws", "usage: capmetric laws [--json]\n"
             "  the capacity laws: form, inputs, source; 'file:PATH.json' laws come from fit --save\n"
             "options:\n"
             "  --json           the laws as JSON (results)\n"
             "examples:\n"
             "  capmetric laws\n"
             "  capmetric laws --json\n"},
    {"eval", "usage: capmetric eval [SPEC...] [options]\n"
             "       capmetric eval SPEC... --data FILE.npy|FILE.safetensors [--tensor REGEX] [--pad]\n"
             "  GMSE, bits, eff_bits, rho, rho_per_bit per spec (no SPEC: a default set); with\n"
             "  --data the error on your tensors, blocks along the last dimension\n"
             "options:\n" COMMON DATA
             "  --law L          the GMSE -> rho map: a law name or file:PATH (unified-llama-c4)\n"
             "  --data F         a .npy or .safetensors file instead of N(0,1) (none)\n"
             "  --tensor RE      with --data: the tensors whose names match (all)\n"
             "  --pad            with --data: pad rows to whole blocks with zeros (refuse)\n"
             "  --json | --csv   machine output (a table)\n"
             "examples:\n"
             "  capmetric eval int4 mxfp4 nvfp4 \"rht:dim=32+mxfp4\" --dist student:nu=5\n"
             "  capmetric eval nvfp4 mxfp4 --data model.safetensors --tensor 'mlp.*weight'\n"},
    {"rank", "usage: capmetric rank SPEC... [--by rho_per_bit|gmse|rho|bits|loss] [options]\n"
             "  eval's results sorted best first, the Pareto frontier, paired differences with\n"
             "  z-scores; --by loss needs --params N --tokens D and a law with an absolute loss\n"
             "options: those of eval, and\n"
             "  --by KEY         rho_per_bit, gmse, rho, bits or loss (rho_per_bit)\n"
             "  --params N --tokens D --tensors w,a,kv,g --memory BITS  for --by loss\n"
             "examples:\n"
             "  capmetric rank \"e2m1:block=16,scale_fmt=e4m3\" mxfp4 nvfp4 int4_g32 nf4\n"
             "  capmetric rank int4 nvfp4 mxfp4 --by loss --params 1e9 --tokens 2e10 --law quest\n"},
    {"predict", "usage: capmetric predict SPEC... --params N --tokens D [options]\n"
                "  what each law says of each format at N parameters and D tokens: rho, N_eff,\n"
                "  loss, the gap to the uncompressed model, and the best format at equal memory\n"
                "options: those of eval, and\n"
                "  --params N       parameters (required; suffixes k M B G T)\n"
                "  --tokens D       training tokens (required)\n"
                "  --law L          one law, or file:PATH from fit --save (every built-in law)\n"
                "  --tensors T      the tensors compressed: w, w,a, w,a,kv,g (w,a)\n"
                "  --memory BITS    the memory budget for the iso-memory columns (16 N)\n"
                "  --json           machine output (results; iso_memory_best)\n"
                "examples:\n"
                "  capmetric predict int4 mxfp4 nvfp4 --params 1e9 --tokens 2e10\n"
                "  capmetric predict nf4 --params 7B --tokens 1.5T --law file:my-law.json\n"},
    {"fit", "usage: capmetric fit FILE.csv [options]\n"
            "  fits a scaling law to training runs (one row per run): Huber loss on log\n"
            "  residuals, Levenberg-Marquardt from a grid of starts, SEs and bootstrap intervals\n"
            "options:\n"
            "  --mode M         decoupled, unified, map or quartet (decoupled)\n"
            "  --law NAME       fit the form of a built-in law (unified-*, quest, quartet)\n"
            "  --label --label2 --n --d --loss --rho --gmse --spec --family COL\n"
            "                   the columns (found by their usual names)\n"
            "  --specs MAP.csv  label -> spec map (none)\n"
            "  --baseline L1;L2 labels of uncompressed runs (16, bf16, baseline, ...)\n"
            "  --where COL=V1;V2  keep these rows (repeatable; all rows)\n"
            "  --preset P       quest, quartet, unified or chinchilla: a paper's robust loss\n"
            "  --huber D|none   Huber delta (1e-3); none = least squares\n"
            "  --residual-scale S  multiply residuals first (1)\n"
            "  --bootstrap K    bootstrap replicates for 95 %% intervals (0)\n"
            "  --starts K       the first K starts of the grid (all 1125)\n"
            "  --fixed A,a,B,b,E,g  quartet: hold the base law fixed\n"
            "  --save F.json --name NAME  write the fitted law (for --law file:F.json)\n"
            "  --seed S --threads T --json --quiet --progress\n"
            "examples:\n"
            "  capmetric fit data/runs/quest_runs.csv --preset quest\n"
            "  capmetric fit data/runs/quest_runs.csv --mode unified --specs data/runs/quest_specs.csv "
            "--save law.json\n"},
    {"validate", "usage: capmetric validate [options]\n"
                 "  the evidence for the GMSE -> capacity claim: published fits reproduced,\n"
                 "  leave-one-format-out, the capacity tables; 50 checks; exit 1 if one fails\n"
                 "options:\n"
                 "  --data DIR       the run tables (data/runs, or the installed copy)\n"
                 "  -o DIR           the report's folder (results/validation)\n"
                 "  --anchors F.json the capacity tables (data/capacity.json)\n"
                 "  --samples N --seed S --threads T --json --quiet --progress\n"
                 "examples:\n"
                 "  capmetric validate\n"
                 "  capmetric validate -o /tmp/val --json\n"},
    {"quantize", "usage: capmetric quantize SPEC IN OUT [options]\n"
                 "  IN is a .npy or .safetensors file; OUT gets the same kind, shape and order\n"
                 "  with every chosen tensor's values replaced by SPEC's dequantized values\n"
                 "  (blocks along the last dimension); OUT appears only when complete\n"
                 "options:\n"
                 "  --dtype T        float32, float16, bfloat16 or float64 (float32)\n"
                 "  --tensor RE      the tensors whose names match (all)\n"
                 "  --pad            pad rows to whole blocks with zeros (refuse)\n"
                 "  --codes F.npz    also each tensor's integer codes and block scales\n"
                 "  --seed S (1) --threads T --plugin F.so --quiet --progress\n"
                 "examples:\n"
                 "  capmetric quantize mxfp4 w.npy w_mxfp4.npy --codes w_mxfp4_codes.npz\n"
                 "  capmetric quantize nvfp4 model.safetensors q.safetensors --tensor 'mlp.*weight$'\n"},
    {"bench", "usage: capmetric bench [SPEC...] [--samples N] [--threads T] [--json]\n"
              "  Monte-Carlo values/s per thread on each instruction set (scalar, avx2, avx512),\n"
              "  1 and all threads, wall and CPU time, against a plain scalar loop; with no SPEC\n"
              "  also the exact path, the QuEST fit and the array path (eval --data, quantize);\n"
              "  about 40 s. CAPMETRIC_ISA=scalar|avx2|avx512 forces an instruction set anywhere\n"
              "options:\n"
              "  --samples N      values per timed run (2^26)\n"
              "  --threads T      the 'all' column's threads (all cores)\n"
              "  --seed S (1) --json\n"
              "examples:\n"
              "  capmetric bench\n"
              "  capmetric bench int4_g32 nvfp4 --samples 2^24\n"},
    {"grid", "usage: capmetric grid FILE.json|--default [options]\n"
             "  sweep a grid of formats; results.json, results.csv, summary.md and plots in\n"
             "  results/NAME/ (or -o DIR); see the README for the file's keys (ranges\n"
             "  {from, to, step|times}, where conditions such as \"bits >= 3 and block == 32\")\n"
             "options:\n" COMMON DATA
             "  -o DIR           the report's folder (results/NAME)\n"
             "  --default        the built-in default grid instead of a file\n"
             "  --resume         continue an interrupted run in DIR\n"
             "  --force          overwrite the results in DIR\n"
             "  --skip-invalid   run the valid points, list the others with their reasons\n"
             "  --shard I/N      run the points with index = I-1 (mod N)\n"
             "  --law L          the GMSE -> rho map (unified-llama-c4)\n"
             "  --by KEY         the summary's order: rho_per_bit, gmse, rho, bits (rho_per_bit)\n"
             "  --color-by K --marker-by K  plots: colour and marker by a swept key (none)\n"
             "  --x K            also plot GMSE against the numeric swept key K (none)\n"
             "examples:\n"
             "  capmetric grid --default -o results/default\n"
             "  capmetric grid blocks.json --skip-invalid --color-by sweep --x block\n"},
    {"merge", "usage: capmetric merge DIR... -o OUT [--color-by K] [--marker-by K] [--x K]\n"
              "  the shards of one grid (grid --shard I/N) into one report, equal to a single run\n"
              "options:\n"
              "  -o OUT           the merged report's folder (required)\n"
              "  --by --color-by --marker-by --x   as for grid\n"
              "examples:\n"
              "  capmetric merge shard1 shard2 -o results/all\n"
              "  capmetric merge results/blocks-* -o results/blocks --x block\n"},
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
