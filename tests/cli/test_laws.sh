#!/usr/bin/env bash
# Laws, predict, rank --by loss, fit and validate from the command line: the
# numbers against the published ones (data/runs/README.md, anchors/capacity.json)
# and every bad input (exit 2, message on stderr, nothing on stdout, no file).
set -u
CM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
JQ=$2
SRC=$3
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
RUNS=$SRC/data/runs

# |a - b| <= tol * |b|
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= t * m) }'; }

# --- laws ------------------------------------------------------------------------
"$CM" laws >"$tmp/laws" || bad "laws"
for l in unified-llama-c4 unified-olmo2 unified-quest quest kumar chen-qat capybara quartet unified-quartet2 ouyang-qid; do
    grep -q "^$l\$" "$tmp/laws" && ok || bad "laws lacks $l"
done
"$CM" laws --json >"$tmp/laws.json" && [ "$("$JQ" "$tmp/laws.json" results.3.name)" = quest ] && ok || bad "laws --json"
[ "$("$JQ" "$tmp/laws.json" results.3.range.N.1)" = 822151168 ] && ok || bad "laws --json: quest's fitted range"
grep -A4 "^unified-olmo2" "$tmp/laws" | grep -q "runs:   not recorded" && ok || bad "laws: a range not recorded is said"

# --- predict ---------------------------------------------------------------------
# QuEST law, int4 at N = 1e9, D = 2e10: A/(N eff)^alpha + B/D^beta + E with the
# notebook's constants (anchors: capacity.json quest_eff)
"$CM" predict int4 --params 1e9 --tokens 2e10 --law quest --json >"$tmp/p.json" || bad "predict quest"
want=$(awk 'BEGIN { printf "%.17g", 8.134031011055859 * (1e9 * 0.691831718)^-0.062726522 + 86.41190623830154 * (2e10)^-0.241288351 + 0.0014232897805828435 }')
near "$("$JQ" "$tmp/p.json" results.0.loss)" "$want" 1e-12 && ok || bad "quest loss $("$JQ" "$tmp/p.json" results.0.loss) vs $want"
near "$("$JQ" "$tmp/p.json" results.0.rho)" 0.691831718 1e-12 && ok || bad "quest rho"
# weight-only column with --tensors w
"$CM" predict int4 --params 1e9 --tokens 2e10 --law quest --tensors w --json >"$tmp/pw.json" || bad "predict --tensors w"
near "$("$JQ" "$tmp/pw.json" results.0.rho)" 0.840434222 1e-12 && ok || bad "quest weight-only rho"
# Quartet: forward only and the full recipe
"$CM" predict mxfp4 --params 1e8 --tokens 1e10 --law quartet --tensors w,a,g --json >"$tmp/pq.json" || bad "predict quartet"
near "$("$JQ" "$tmp/pq.json" results.0.rho_d)" 0.82174 1e-12 && ok || bad "quartet effD"
want=$(awk 'BEGIN { printf "%.17g", (127444.7 * (1e8 * 0.65835)^-0.578520 + 465834.3 * (1e10 * 0.82174)^-0.538877)^0.276416 + 1.340846 }')
near "$("$JQ" "$tmp/pq.json" results.0.loss)" "$want" 1e-12 && ok || bad "quartet loss"
# Kumar: rho = prod (1 - e^(-4/gamma)) / prod (1 - e^(-16/gamma)) over w, a (kv at 16)
"$CM" predict int4 --params 1e9 --tokens 2e10 --law kumar --json >"$tmp/pk.json" || bad "predict kumar"
want=$(awk 'BEGIN { printf "%.17g", (1 - exp(-4/2.6745)) * (1 - exp(-4/2.2102)) / ((1 - exp(-16/2.6745)) * (1 - exp(-16/2.2102))) }')
near "$("$JQ" "$tmp/pk.json" results.0.rho)" "$want" 1e-12 && ok || bad "kumar rho"
# Chen: delta_p = k D^gD (log2 G)^gG / N^gN, W4A4, G = 128
"$CM" predict "int4:block=128" --params 1e9 --tokens 2e10 --law chen-qat --json >"$tmp/pc.json" || bad "predict chen"
want=$(awk 'BEGIN { printf "%.17g", 0.1582 * (2e10)^0.0745 * 7^0.7779 / (1e9)^0.2186 }')
near "$("$JQ" "$tmp/pc.json" results.0.gap)" "$want" 1e-12 && ok || bad "chen gap"
# Capybara: E2M1, block 32
"$CM" predict "e2m1:block=32" --params 1e9 --tokens 2e10 --law capybara --json >"$tmp/pb.json" || bad "predict capybara"
want=$(awk 'BEGIN { N = 1e9; D = 2e10; printf "%.17g", 69.2343 / N^0.2368 + 68973.0621 / D^0.5162 + 1.9061 + D^0.5162 / N^0.2368 * 5 / (11334.5197 * 2.5^3.1926 * 1.5^2.9543) }')
near "$("$JQ" "$tmp/pb.json" results.0.loss)" "$want" 1e-12 && ok || bad "capybara loss"
# all laws at once: refusals listed, not fatal
"$CM" predict int4 e2m1 --params 1e9 --tokens 2e10 >"$tmp/pall" || bad "predict all laws"
grep -q "at equal memory the best is" "$tmp/pall" && grep -q "^refused:" "$tmp/pall" && ok || bad "predict all: iso-memory and refusals"
# iso-memory: N_iso = 16 N / bits
"$CM" predict int4 mxfp4 --params 1e9 --tokens 2e10 --law unified-quest --json >"$tmp/pi.json" || bad "predict iso"
near "$("$JQ" "$tmp/pi.json" results.1.iso_params)" "$(awk 'BEGIN { printf "%.17g", 16e9 / 4.25 }')" 1e-12 && ok || bad "iso params"

expect_fail "cannot judge" predict mxfp4 --params 1e9 --tokens 2e10 --law quest
expect_fail "floating-point" predict int4 --params 1e9 --tokens 2e10 --law capybara
expect_fail "block=B" predict e2m1 --params 1e9 --tokens 2e10 --law capybara
expect_fail "group size" predict int4 --params 1e9 --tokens 2e10 --law chen-qat
expect_fail "--params N and --tokens D" predict int4 --params 1e9
expect_fail "--params: not a positive number" predict int4 --params abc --tokens 1e9
expect_fail "--tokens: not a positive number" predict int4 --params 1e9 --tokens -5
expect_fail "tensors" predict int4 --params 1e9 --tokens 1e9 --tensors w,x
expect_fail "unknown law" predict int4 --params 1e9 --tokens 1e9 --law nosuch
# far outside the runs: warnings; intervals from the bootstrap replicates; --vs; the old key
"$CM" predict nvfp4 --params 70B --tokens 15T --law unified-quartet2 --vs bf16 --json >"$tmp/p70.json" || bad "predict 70B"
"$JQ" "$tmp/p70.json" results.0.warnings.0 | grep -q "345x the largest N of its runs" && ok || bad "predict warns at 70B"
"$JQ" "$tmp/p70.json" results.0.warnings.1 | grep -q "188x the most tokens" && ok || bad "predict warns at 15T"
l=$("$JQ" "$tmp/p70.json" results.0.loss); lo=$("$JQ" "$tmp/p70.json" results.0.loss_lo); hi=$("$JQ" "$tmp/p70.json" results.0.loss_hi)
awk -v a="$lo" -v b="$l" -v c="$hi" 'BEGIN { exit !(a <= b && b <= c && a < c) }' && ok || bad "interval $lo..$hi around $l"
[ "$("$JQ" "$tmp/p70.json" predictions.0.loss)" = "$l" ] && ok || bad "predict --json: 'predictions' alias"
dl=$("$JQ" "$tmp/p70.json" results.0.loss_diff); dlo=$("$JQ" "$tmp/p70.json" results.0.loss_diff_lo)
awk -v a="$dl" -v b="$dlo" 'BEGIN { exit !(a > 0 && b > 0 && b <= a) }' && ok || bad "nvfp4 vs bf16 at equal N: $dl ($dlo)"
"$JQ" "$tmp/p70.json" vs_verdict | grep -q "at equal memory: nvfp4 better under unified-quartet2" && ok || bad "vs verdict"
"$CM" predict nvfp4 --params 70B --tokens 15T --law unified-quartet2 --ci 0.5 --json >"$tmp/p50.json" || bad "predict --ci"
awk -v a="$("$JQ" "$tmp/p50.json" results.0.loss_lo)" -v b="$lo" 'BEGIN { exit !(a > b) }' && ok || bad "a 50% interval is narrower"
"$CM" predict nvfp4 --params 70B --tokens 15T >"$tmp/p70.txt" || bad "predict 70B text"
grep -q "^warnings:" "$tmp/p70.txt" && grep -q "unified-quest: N = 7e+10 is 85.1x" "$tmp/p70.txt" && ok || bad "predict warnings under the table"
expect_fail "--ci '2' is not accepted" predict int4 --params 1e9 --tokens 1e9 --ci 2
expect_fail "unknown" predict int4 --params 1e9 --tokens 1e9 --vs nosuchformat
# ouyang-qid: k D^beta / (N^alpha P^gamma), arXiv 2411.17691 Eq. 8, at 7B / 10T / 3 bits
"$CM" predict int:bits=3 --params 7e9 --tokens 1e13 --law ouyang-qid --tensors w --json >"$tmp/po.json" || bad "predict ouyang"
want=$(awk 'BEGIN { printf "%.17g", 0.017 * (1e13)^0.5316 / ((7e9)^0.2261 * 3^5.4451) }')
near "$("$JQ" "$tmp/po.json" results.0.gap)" "$want" 1e-12 && ok || bad "ouyang gap"
expect_fail "does not map GMSE" eval int4 --law quest
expect_fail "option '--params' does not apply to 'eval'" eval int4 --params 1e9
expect_fail "option '-o' does not apply to 'predict'" predict int4 --params 1e9 --tokens 1e9 -o x
expect_fail "option '--by' does not apply to 'fit'" fit "$RUNS/quest_runs.csv" --by gmse

# --- rank --by loss ----------------------------------------------------------------
"$CM" rank int2 int8 int4 --by loss --params 1e9 --tokens 2e10 --json >"$tmp/r.json" || bad "rank --by loss"
[ "$("$JQ" "$tmp/r.json" results.0.input)" = int8 ] && [ "$("$JQ" "$tmp/r.json" results.2.input)" = int2 ] && ok || bad "rank --by loss order"
expect_fail "--params N and --tokens D" rank int4 int8 --by loss
expect_fail "no absolute loss" rank "int4:block=32" --by loss --params 1e9 --tokens 1e9 --law chen-qat

# --- fit ---------------------------------------------------------------------------
# QuEST's published fit (notebook settings): every eff within 0.1 %, alpha, beta 0.5 %
"$CM" fit "$RUNS/quest_runs.csv" --huber 1 --residual-scale 1e-3 --json >"$tmp/fq.json" || bad "fit quest"
for pv in "eff[1] 0.0205046859" "eff[2] 0.151870911" "eff[3] 0.433126203" "eff[4] 0.691831718" \
          "eff[8] 1.01619263" "eff[fp4] 0.629639028" "eff[4WO] 0.840434222" \
          "eff[3NOH] 0.322107861"; do
    set -- $pv
    near "$("$JQ" "$tmp/fq.json" "fit.values.$1")" "$2" 1e-3 && ok || bad "fit $1 $("$JQ" "$tmp/fq.json" "fit.values.$1") vs $2"
done
near "$("$JQ" "$tmp/fq.json" fit.values.alpha)" 0.062726522 5e-3 && ok || bad "fit alpha"
near "$("$JQ" "$tmp/fq.json" fit.values.beta)" 0.241288351 5e-3 && ok || bad "fit beta"
[ "$("$JQ" "$tmp/fq.json" fit.not_determined.0)" = E ] && ok || bad "E must be reported as not determined"
# the best start, not the last: below the notebook's cost 7.384314e-10
awk -v c="$("$JQ" "$tmp/fq.json" fit.cost)" 'BEGIN { exit !(c <= 7.384314e-10) }' && ok || bad "cost above the notebook's"
# the same result on one thread, with the settings named by --preset
"$CM" fit "$RUNS/quest_runs.csv" --mode decoupled --preset quest --threads 1 --json >"$tmp/fq1.json" || bad "fit 1 thread"
[ "$("$JQ" "$tmp/fq1.json" fit.values.alpha)" = "$("$JQ" "$tmp/fq.json" fit.values.alpha)" ] && ok || bad "fit depends on threads"

# unified fit, saved and used by predict and eval
"$CM" fit "$RUNS/quest_runs.csv" --mode unified --specs "$RUNS/quest_specs.csv" \
    --where "fit_group=wa_hadamard;wa_fp4_hadamard;bf16_baseline" --bootstrap 20 \
    --save "$tmp/u.json" --json >"$tmp/fu.json" || bad "fit unified --save"
"$JQ" "$tmp/fu.json" fit.params.5.boot_lo >/dev/null && ok || bad "bootstrap interval"
"$CM" predict int4 --params 1e9 --tokens 2e10 --law "file:$tmp/u.json" --json >"$tmp/pu.json" || bad "predict file law"
"$CM" predict int4 --params 1e9 --tokens 2e10 --law unified-quest --json >"$tmp/pu2.json" || bad "predict unified-quest"
near "$("$JQ" "$tmp/pu.json" results.0.loss)" "$("$JQ" "$tmp/pu2.json" results.0.loss)" 1e-6 && ok || bad "saved unified law != built-in unified-quest"
"$CM" eval int4 --law "file:$tmp/u.json" >/dev/null && ok || bad "eval with a fitted map law"
# the saved law keeps its runs' range and its replicates: predict warns and gives an interval
l=$("$JQ" "$tmp/pu.json" results.0.loss); lo=$("$JQ" "$tmp/pu.json" results.0.loss_lo); hi=$("$JQ" "$tmp/pu.json" results.0.loss_hi)
awk -v a="$lo" -v b="$l" -v c="$hi" 'BEGIN { exit !(a <= b && b <= c && a < c) }' && ok || bad "file law interval $lo..$hi around $l"
[ "$("$JQ" "$tmp/u.json" range.N.1)" = 822151168 ] && ok || bad "law file range"
"$CM" predict int4 --params 70B --tokens 2e10 --law "file:$tmp/u.json" --json >"$tmp/pu3.json" || bad "predict file law at 70B"
"$JQ" "$tmp/pu3.json" results.0.warnings.0 | grep -q "85.1x the largest N" && ok || bad "file law warns outside its runs"
# decoupled law file: judged by spec
"$CM" fit "$RUNS/quest_runs.csv" --specs "$RUNS/quest_specs.csv" --where "fit_group=wa_hadamard;bf16_baseline" --save "$tmp/d.json" >/dev/null || bad "fit decoupled --save"
"$CM" predict int3 --params 1e9 --tokens 2e10 --law "file:$tmp/d.json" >/dev/null && ok || bad "predict decoupled file law"
expect_fail "not in the law's table" predict e2m1 --params 1e9 --tokens 2e10 --law "file:$tmp/d.json"

# map mode on (GMSE, rho) pairs: the QuEST Gaussian MSE table
"$CM" fit "$RUNS/quest_gaussian_mse.csv" --mode map --gmse gaussian_mse --rho eff_wa_published \
    --where "format=INT1;INT2;INT3;INT4;INT8;FP4_E2M1" --huber none --json >"$tmp/fm.json" || bad "fit map"
"$JQ" "$tmp/fm.json" fit.values.F >/dev/null && ok || bad "map F"

# Quartet base law, then effN with the base fixed
"$CM" fit "$RUNS/quartet_runs.csv" --mode quartet --label forward --where group=main_grid \
    --where forward=BF16 --where backward=BF16 --huber 1e-4 --json >"$tmp/fqt.json" || bad "fit quartet"
near "$("$JQ" "$tmp/fqt.json" fit.values.gamma)" 0.276416 1e-4 && ok || bad "quartet gamma"

# bad input: clear message, exit 2, nothing on stdout, nothing written
printf 'label,N,D,loss\nbf16,1e8,1e9,3.1\nint4,1e8,1e9,abc\n' >"$tmp/nonnum.csv"
printf 'label,N,D,loss\nbf16,1e8,1e9,3.1\nint4,-1e8,1e9,3.2\n' >"$tmp/neg.csv"
printf 'label,N,D,loss\nbf16,1e8,1e9,3.1\nint4,1e8,1e9\n' >"$tmp/ragged.csv"
printf 'label,params,D\nbf16,1e8,1e9\n' >"$tmp/noloss.csv"
printf 'label,N,D,loss\nbf16,1e8,1e9,3.1\nint4,1e8,1e9,3.3\nint4,2e8,1e9,3.2\n' >"$tmp/few.csv"
printf 'label,N,D,loss\nbf16,1e8,1e9,3.1\nmystery,1e8,1e9,3.3\n' >"$tmp/nospec.csv"
printf '' >"$tmp/empty.csv"
printf 'label,N,D,loss\n"bf16,1e8,1e9,3.1\n' >"$tmp/quote.csv"
expect_fail "cannot read" fit "$tmp/nosuch.csv"
expect_fail "Is a directory" fit "$tmp"
expect_fail "is not a positive number" fit "$tmp/nonnum.csv"
expect_fail ":3: column 'N'" fit "$tmp/neg.csv"
expect_fail ":3: 3 fields, the header has 4" fit "$tmp/ragged.csv"
expect_fail "no column for the loss" fit "$tmp/noloss.csv"
expect_fail "at least as many points as parameters" fit "$tmp/few.csv"
expect_fail "format label 'mystery' has no spec" fit "$tmp/nospec.csv" --mode unified
expect_fail "empty" fit "$tmp/empty.csv"
expect_fail "unterminated quote" fit "$tmp/quote.csv"
expect_fail "fit mode 'cubic' not accepted" fit "$tmp/few.csv" --mode cubic
expect_fail "--huber" fit "$tmp/few.csv" --huber -1
expect_fail "--preset 'scipy' is not accepted" fit "$tmp/few.csv" --preset scipy
expect_fail "--fixed" fit "$tmp/few.csv" --fixed 1,2,3,4,5,6
expect_fail "COLUMN=VALUE" fit "$RUNS/quest_runs.csv" --where nonsense
expect_fail "no column 'nosuchcol'" fit "$RUNS/quest_runs.csv" --where nosuchcol=1
expect_fail "fit refits the forms" fit "$RUNS/quest_runs.csv" --law kumar
# families: one (F, C, L) per family, none for the baselines
"$CM" fit "$RUNS/quest_runs.csv" --mode unified --specs "$RUNS/quest_specs.csv" --family fit_group \
    --where "fit_group=wa_hadamard;weight_only_hadamard;bf16_baseline" --json >"$tmp/ff.json" || bad "fit --family"
"$JQ" "$tmp/ff.json" "fit.values.C[weight_only_hadamard]" >/dev/null && ok || bad "family parameters"
"$JQ" "$tmp/ff.json" "fit.values.C[bf16_baseline]" >/dev/null 2>&1 && bad "a family for the baselines" || ok
expect_fail "exactly one FILE.csv" fit
expect_fail "cannot write" fit "$RUNS/quest_runs.csv" --starts 20 --save /nonexistent/dir/law.json
[ ! -e /nonexistent/dir/law.json ] && ok || bad "half-written law file"
# a fit that does not converge: exit 1 and the best cost found
"$CM" fit "$RUNS/quest_runs.csv" --starts 1 >"$tmp/nc.out" 2>"$tmp/nc.err"
[ $? -eq 1 ] && grep -q "did not converge" "$tmp/nc.err" && grep -q "best cost found" "$tmp/nc.err" && ok || bad "non-convergence: $(cat "$tmp/nc.err")"
# broken law files
printf '{"capmetric_law": 1, "name": "x", "kind": "unified"}' >"$tmp/broken.json"
printf 'not json' >"$tmp/notjson.json"
expect_fail "missing or bad 'constants" predict int4 --params 1e9 --tokens 1e9 --law "file:$tmp/broken.json"
expect_fail "is not valid JSON (line 1" predict int4 --params 1e9 --tokens 1e9 --law "file:$tmp/notjson.json"
expect_fail "cannot read law file" predict int4 --params 1e9 --tokens 1e9 --law "file:$tmp/none.json"

# --- hardening of the readers ------------------------------------------------------------
printf '\xef\xbb\xbflabel,N,D,loss\nint4,1e6,1e9,3.1\n' >"$tmp/bom.csv"
expect_fail "1 points for 6 parameters" fit "$tmp/bom.csv"   # the label column is found behind a BOM
printf '{"capmetric_law": 1,\n "name": x}' >"$tmp/bl.json"
expect_fail "is not valid JSON (line 2, column 10)" predict int4 --params 1e9 --tokens 1e10 --law "file:$tmp/bl.json"
python3 -c "
n = 100000
print(','.join('c%d' % i for i in range(n)) + ',c7')
print(','.join('1' for i in range(n + 1)))" >"$tmp/wide.csv"
expect_fail "column name 'c7' appears twice" fit "$tmp/wide.csv"   # sorted, not pairwise: instant
expect_fail "Is a directory" fit "$tmp"

# --- validate ------------------------------------------------------------------------
(cd "$SRC" && "$CM" validate -q -o "$tmp/val") || bad "validate: $?"
[ "$("$JQ" "$tmp/val/report.json" failed)" = 0 ] && [ "$("$JQ" "$tmp/val/report.json" checks)" -ge 40 ] && ok || bad "validate checks"
grep -q "^## Leave one format out" "$tmp/val/report.md" && ok || bad "validate markdown"
# evidence apart from reproduction, a verdict, the Quartet II plot
[ "$("$JQ" "$tmp/val/report.json" reproduction.failed)" = 0 ] && ok || bad "validate reproduction"
for k in name metric value baseline criterion pass; do
    "$JQ" "$tmp/val/report.json" "evidence.0.$k" >/dev/null && ok || bad "evidence lacks $k"
done
"$JQ" "$tmp/val/report.json" verdict | grep -q "claims that the data could refute" && ok || bad "verdict"
head -8 "$tmp/val/report.md" | grep -q "^## Verdict" && ok || bad "report.md opens with the verdict"
grep -q "<svg" "$tmp/val/quartet2_pred_vs_obs.svg" && ok || bad "Quartet II plot"
# a broken Quartet II spec map is refused before the work, and nothing is written
mkdir -p "$tmp/runs2" && cp "$RUNS"/*.csv "$tmp/runs2/" && cp "$SRC/data/capacity.json" "$tmp/"
grep -v "^tetrajetv2" "$RUNS/quartet2_specs.csv" >"$tmp/runs2/quartet2_specs.csv"
expect_fail "no scheme of quartet2_specs.csv has this run's quantizer columns" validate --data "$tmp/runs2" -o "$tmp/v3"
sed 's/^tetrajetv2\(.*\),nvfp4,/tetrajetv2\1,nvfp4:nosuchkey=1,/' "$RUNS/quartet2_specs.csv" >"$tmp/runs2/quartet2_specs.csv"
expect_fail "nosuchkey" validate --data "$tmp/runs2" -o "$tmp/v3"
[ ! -e "$tmp/v3" ] && ok || bad "a refused validate left its report folder"
expect_fail "no run data" validate --data "$tmp/nowhere"
expect_fail "cannot create the report folder" validate --data "$RUNS" -o /proc/capmetric-validation
# bad inputs are refused before the work, and nothing is created
expect_fail "--anchors '$tmp/none.json'" validate --data "$RUNS" --anchors "$tmp/none.json" -o "$tmp/v2"
[ ! -e "$tmp/v2" ] && ok || bad "a refused validate left its report folder"

finish laws
