#!/usr/bin/env bash
# CLI tests: good runs (table, JSON, CSV; exact vs Monte Carlo; thread-count
# independence) and every bad input: exit code 2, a message on stderr that
# names the problem, and nothing on stdout.
set -u
CM=$1
JQ=$2
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --- good runs -----------------------------------------------------------------
if "$CM" eval >"$tmp/t" 2>"$tmp/e" && grep -q "^spec .*gmse" "$tmp/t" && grep -q "^int4 " "$tmp/t"; then ok; else bad "default eval: $(cat "$tmp/e")"; fi
if "$CM" help | grep -q "capmetric eval"; then ok; else bad "help"; fi
if "$CM" version | grep -q "^capmetric [0-9]"; then ok; else bad "version"; fi
if "$CM" formats | grep -q "^lloydmax"; then ok; else bad "formats"; fi
"$CM" formats --json >"$tmp/f.json" && [ "$("$JQ" "$tmp/f.json" families.0.name)" = int ] && ok || bad "formats --json"
# a valid but surprising choice is warned of (stderr and the JSON's warnings), a usual one is not
"$CM" eval "int:bits=8,grid=twos,block=32,scale=floor" mxfp4 --json >"$tmp/w.json" 2>"$tmp/w.err" || bad "eval with a warning"
grep -q "int:bits=8,grid=twos,block=32,scale=floor: this power-of-two block scale rule more than doubles" "$tmp/w.err" &&
    ! grep -q "mxfp4:" "$tmp/w.err" && ok || bad "rule warning on stderr: $(cat "$tmp/w.err")"
[ "$("$JQ" "$tmp/w.json" results.0.warnings)" = 1 ] && [ "$("$JQ" "$tmp/w.json" results.1.warnings)" = 0 ] && ok ||
    bad "rule warning in JSON: $("$JQ" "$tmp/w.json" results.0.warnings) / $("$JQ" "$tmp/w.json" results.1.warnings)"
# did you mean: commands, laws, methods, distributions, --by
expect_fail "unknown command 'evl'; did you mean 'eval'?" evl int4
expect_fail "did you mean 'unified-quest'?" eval int4 --law unifed-quest
expect_fail "did you mean 'exact'?" eval int4 --method exct
expect_fail "did you mean 'laplace'?" eval int4 --dist lapalce
expect_fail "did you mean 'rho_per_bit'?" rank int4 --by rho_per_bt
# --progress: progress lines off a terminal (fits report their starts)
"$CM" fit "$(dirname "$CM")/../data/runs/quest_runs.csv" --starts 40 --progress >/dev/null 2>"$tmp/pr.err" &&
    grep -q "fit: starts .*%" "$tmp/pr.err" && ok || bad "fit --progress: $(cat "$tmp/pr.err")"
"$CM" fit "$(dirname "$CM")/../data/runs/quest_runs.csv" --starts 40 >/dev/null 2>"$tmp/pr.err" &&
    [ ! -s "$tmp/pr.err" ] && ok || bad "fit without --progress off a terminal is silent: $(cat "$tmp/pr.err")"
# one shape of machine output: every command's list under "results" (formats' "families",
# fit's "fit", bench's "mc", validate's "sections" kept as aliases for one version)
[ "$("$JQ" "$tmp/f.json" results.0.name)" = int ] && ok || bad "formats --json: results"
"$CM" laws --json >"$tmp/l.json" && [ "$("$JQ" "$tmp/l.json" results.0.name)" != "" ] && ok || bad "laws --json: results"
"$CM" rank int4 e2m1 --json >"$tmp/r.json" && [ "$("$JQ" "$tmp/r.json" results)" = 2 ] &&
    [ "$("$JQ" "$tmp/r.json" stream_version)" = 2 ] && [ "$("$JQ" "$tmp/r.json" dist)" = gauss ] && ok || bad "rank --json: results, stream_version, dist"
"$CM" predict int4 --params 1e9 --tokens 2e10 --law quest --json >"$tmp/p.json" && [ "$("$JQ" "$tmp/p.json" results)" = 1 ] && ok || bad "predict --json: results"
"$CM" fit "$(dirname "$CM")/../data/runs/quest_runs.csv" --starts 5 --json >"$tmp/fit.json" 2>/dev/null &&
    [ "$("$JQ" "$tmp/fit.json" results.0.mode)" = decoupled ] && [ "$("$JQ" "$tmp/fit.json" fit.mode)" = decoupled ] && ok || bad "fit --json: results and fit"
"$CM" bench int4 --samples 2^18 --json >"$tmp/b.json" && [ "$("$JQ" "$tmp/b.json" results.0.spec)" = int4 ] && ok || bad "bench --json: results"
[ "$("$JQ" "$tmp/f.json" aliases)" -ge 20 ] && ok || bad "formats --json aliases"

specs="int4 e2m1 lut:name=nf4 lloydmax:levels=16"
"$CM" eval $specs --json >"$tmp/ex.json" || bad "eval --json"
"$CM" eval $specs --json --method mc --samples 2^22 >"$tmp/mc.json" || bad "eval --method mc"
for i in 0 1 2 3; do
    m=$("$JQ" "$tmp/ex.json" results.$i.method)
    [ "$m" = exact ] && ok || bad "result $i method $m, expected exact"
    for k in spec input family bits method gmse gmse_se scale eff_bits rho rho_per_bit seconds; do
        "$JQ" "$tmp/ex.json" results.$i.$k >/dev/null && ok || bad "result $i lacks key $k"
    done
    e=$("$JQ" "$tmp/ex.json" results.$i.gmse)
    g=$("$JQ" "$tmp/mc.json" results.$i.gmse)
    s=$("$JQ" "$tmp/mc.json" results.$i.gmse_se)
    # Monte Carlo within 4 standard errors of the exact value
    awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' &&
        ok || bad "result $i: mc $g vs exact $e (se $s)"
done
[ "$("$JQ" "$tmp/ex.json" results.0.spec)" = "int:bits=4,grid=midrise,pack=code,round=rne,scale=opt" ] && ok || bad "canonical spec in JSON"
[ "$("$JQ" "$tmp/ex.json" results.0.gmse_se)" = 0 ] && ok || bad "exact gmse_se must be 0"

# the same seed gives identical numbers for any thread count
for t in 1 2 7; do
    "$CM" eval int4 e2m1 "int:bits=3,grid=symmetric" --method mc --samples 1000000 --threads $t --json |
        grep -v '"seconds"' >"$tmp/t$t.json"
done
cmp -s "$tmp/t1.json" "$tmp/t2.json" && cmp -s "$tmp/t1.json" "$tmp/t7.json" && ok || bad "threads 1/2/7 differ"
"$CM" eval int4 --method mc --samples 100000 --seed 2 --json | grep -v '"seconds"' >"$tmp/s2.json"
"$CM" eval int4 --method mc --samples 100000 --seed 3 --json | grep -v '"seconds"' >"$tmp/s3.json"
cmp -s "$tmp/s2.json" "$tmp/s3.json" && bad "different seeds gave identical output" || ok

"$CM" eval int4 "lut:values=-1;0;1" --csv >"$tmp/c.csv"
[ "$(head -1 "$tmp/c.csv")" = "spec,input,family,bits,method,gmse,gmse_se,scale,eff_bits,rho,rho_per_bit,seconds,samples,shannon_gmse,gap_db,gap_bits,rho_product,gmse_err,dist,sigma,misalignment,misalignment_se" ] && ok || bad "csv header"
[ "$(wc -l <"$tmp/c.csv")" -eq 3 ] && ok || bad "csv rows"
grep -q '^"lut:values=-1;0;1,pack=code,scale=opt"' "$tmp/c.csv" && ok || bad "csv quotes specs"
"$CM" eval int4 --law unified-olmo2 --json >"$tmp/l.json" && [ "$("$JQ" "$tmp/l.json" law)" = unified-olmo2 ] && ok || bad "--law"
"$CM" bench int4 --samples 2^20 --threads 1 >"$tmp/b" && grep -q "int4" "$tmp/b" && ok || bad "bench"

# block formats: the issue's list, exact where the rule allows, agreeing with Monte Carlo
blk="mxfp4 mxfp6_e2m3 mxfp6_e3m2 mxfp8_e4m3 mxfp8_e5m2 mxint8 nvfp4 nf4 af4 int4_g32"
"$CM" eval $blk --json >"$tmp/bx.json" || bad "eval block aliases"
"$CM" eval $blk --json --method mc --samples 2^21 >"$tmp/bm.json" || bad "eval block aliases mc"
for i in 0 1 2 3 4 5 6 7 8 9; do
    [ "$("$JQ" "$tmp/bx.json" results.$i.method)" = exact ] && ok || bad "block result $i not exact"
    e=$("$JQ" "$tmp/bx.json" results.$i.gmse); g=$("$JQ" "$tmp/bm.json" results.$i.gmse); s=$("$JQ" "$tmp/bm.json" results.$i.gmse_se)
    awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' &&
        ok || bad "block result $i: mc $g vs exact $e (se $s)"
done
[ "$("$JQ" "$tmp/bx.json" results.0.scale)" = null ] && ok || bad "block formats report no single scale (null: JSON has no NaN)"
# overflow=inf under block scales: rules that keep every element in range are finite (exact
# and Monte Carlo agree); where elements can pass the top, infinite with a warning, never NaN
ov="fp:e=4,m=3,special=ocp,overflow=inf,block=32,scale_fmt=e8m0"
"$CM" eval "$ov,scale=rceil" "$ov,scale=ceil" --json >"$tmp/ovx.json" &&
    "$CM" eval "$ov,scale=rceil" "$ov,scale=ceil" --json --method mc --samples 2^21 >"$tmp/ovm.json" || bad "overflow=inf block eval"
for i in 0 1; do
    e=$("$JQ" "$tmp/ovx.json" results.$i.gmse); g=$("$JQ" "$tmp/ovm.json" results.$i.gmse); s=$("$JQ" "$tmp/ovm.json" results.$i.gmse_se)
    awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(e > 0 && e < 1 && s > 0 && d <= 4 * s) }' &&
        ok || bad "overflow=inf result $i: mc $g vs exact $e (se $s): these rules never overflow"
done
for m in exact mc; do
    "$CM" eval "$ov,scale=floor" --method $m --samples 2^16 --json >"$tmp/ovf.json" 2>"$tmp/ovf.err" &&
        [ "$("$JQ" "$tmp/ovf.json" results.0.gmse)" = null ] && [ "$("$JQ" "$tmp/ovf.json" results.0.rho)" = 0 ] &&
        [ "$("$JQ" "$tmp/ovf.json" results.0.warnings)" = 1 ] && grep -q "warning: .*became Inf or NaN" "$tmp/ovf.err" &&
        ok || bad "overflow=inf with scale=floor ($m): infinite GMSE, rho 0 and a warning"
done

# one non-finite policy: null in every command's JSON, never a "nan"/"inf" string
"$CM" eval e4m3:overflow=inf int4 --json >"$tmp/nf.json" && [ "$("$JQ" "$tmp/nf.json" results.0.gmse)" = null ] &&
    ! grep -qE '"(-?inf|nan)"' "$tmp/nf.json" && ok || bad "eval: non-finite numbers are null"
"$CM" predict e4m3:overflow=inf --params 1e9 --tokens 2e10 --json >"$tmp/np.json" &&
    ! grep -qE '"(-?inf|nan)"' "$tmp/np.json" && ok || bad "predict: non-finite numbers are null"
"$CM" eval "fp:e=2,m=1,block=32,scale=ceil,scale_fmt=e8m0" "fp:e=2,m=1,block=32,scale=rceil,scale_fmt=e8m0" \
    "fp:e=2,m=1,block=32,scale=even,scale_fmt=e8m0" nvfp4_4o6 --quiet >"$tmp/r" && ok || bad "block rules"
grep -q "^nvfp4_4o6 .* mc " "$tmp/r" && ok || bad "scale=mse falls back to Monte Carlo and says so"

# sparsity and compositions (issue 5's command minus vector quantization)
"$CM" eval 2:4 "sparse:density=0.5" "2:4+int:bits=4" --json >"$tmp/sx.json" || bad "eval sparsity"
"$CM" eval 2:4 "sparse:density=0.5" "2:4+int:bits=4" --json --method mc --samples 2^21 >"$tmp/sm.json" || bad "eval sparsity mc"
for i in 0 1 2; do
    [ "$("$JQ" "$tmp/sx.json" results.$i.method)" = exact ] && ok || bad "sparsity result $i not exact"
    e=$("$JQ" "$tmp/sx.json" results.$i.gmse); g=$("$JQ" "$tmp/sm.json" results.$i.gmse); s=$("$JQ" "$tmp/sm.json" results.$i.gmse_se)
    awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' &&
        ok || bad "sparsity result $i: mc $g vs exact $e (se $s)"
done
"$JQ" "$tmp/sx.json" results.2.rho_product >/dev/null && [ "$("$JQ" "$tmp/sx.json" results.0.rho_product)" = null ] && ok || bad "rho_product"
awk -v g="$("$JQ" "$tmp/sx.json" results.0.gap_bits)" -v b="$("$JQ" "$tmp/sx.json" results.0.bits)" -v e="$("$JQ" "$tmp/sx.json" results.0.eff_bits)" \
    'BEGIN { d = g - (b - e); if (d < 0) d = -d; exit !(d < 1e-12) }' && ok || bad "gap_bits = bits - eff_bits"
CAPMETRIC_CACHE_DIR="$tmp/cache" "$CM" eval "vq:lattice=d4,bits=1" "vq:kmeans,dim=2,bits=1" lloydmax:levels=2 --samples 2^18 --json >"$tmp/v.json" || bad "eval vq"
[ "$("$JQ" "$tmp/v.json" results.0.method)" = mc ] && [ "$("$JQ" "$tmp/v.json" results.1.bits)" = 1 ] && ok || bad "vq results"
expect_fail "give exactly one of" eval vq
# a forced instruction set: a bad name, or one a machine cannot run, stops before any work
CAPMETRIC_ISA=sse9 expect_fail "CAPMETRIC_ISA='sse9' is not accepted (accepted: scalar, avx2, avx512)" eval int4
for isa in scalar avx2 avx512; do
    if CAPMETRIC_ISA=$isa "$CM" eval int4_g32 2:4 --method mc --samples 2^18 --json >"$tmp/isa_$isa.json" 2>"$tmp/isa.err"; then
        grep -v '"seconds"' "$tmp/isa_$isa.json" >"$tmp/isa_$isa.txt"
        cmp -s "$tmp/isa_scalar.txt" "$tmp/isa_$isa.txt" && ok || bad "CAPMETRIC_ISA=$isa gives other numbers than scalar"
    else
        grep -q "cannot run it" "$tmp/isa.err" && ok || bad "CAPMETRIC_ISA=$isa: $(cat "$tmp/isa.err")"
    fi
done
[ "$("$JQ" "$tmp/isa_scalar.json" stream_version)" = 2 ] && ok || bad "eval --json lacks stream_version 2"
expect_fail "MiB of codebook" eval vq:lattice=e8,bits=4
expect_fail "n must be below m" eval nm:n=4,m=4
expect_fail "key 'density'" eval sparse:density=0
expect_fail "key 'frac'" eval outlier:frac=0.7

# rank: sorted, Pareto frontier, paired differences
"$CM" rank int4 e2m1 int3 nf4 e4m3 --json >"$tmp/rk.json" || bad "rank --json"
[ "$("$JQ" "$tmp/rk.json" results.0.input)" = int3 ] && ok || bad "rank: int3 has the most rho per bit"
[ "$("$JQ" "$tmp/rk.json" results.0.rank)" = 1 ] && [ "$("$JQ" "$tmp/rk.json" results.4.rank)" = 5 ] && ok || bad "rank numbers"
for i in 0 1 2 3 4; do
    in=$("$JQ" "$tmp/rk.json" results.$i.input); pa=$("$JQ" "$tmp/rk.json" results.$i.pareto)
    case "$in" in e2m1) [ "$pa" = false ] && ok || bad "e2m1 is dominated by int4" ;;
                  int3|int4|e4m3) [ "$pa" = true ] && ok || bad "$in is on the Pareto frontier" ;; esac
done
"$JQ" "$tmp/rk.json" results.0.diff_next_se >/dev/null && ok || bad "rank: diff_next_se"
"$CM" rank int4 e2m1 --by gmse --json >"$tmp/rg.json" && [ "$("$JQ" "$tmp/rg.json" results.0.input)" = int4 ] && ok || bad "rank --by gmse"
# misalignment (Quartet II): in every result, exact and Monte Carlo; rank --by it
"$CM" eval int4_g32 "int:bits=4,block=32,round=stochastic" mxfp4 --json >"$tmp/mis.json" || bad "eval misalignment"
[ "$("$JQ" "$tmp/mis.json" results.1.misalignment)" = 0 ] && [ "$("$JQ" "$tmp/mis.json" results.1.misalignment_se)" = 0 ] && ok || bad "exact misalignment of unbiased stochastic rounding is 0"
awk -v m="$("$JQ" "$tmp/mis.json" results.2.misalignment)" 'BEGIN { exit !(m > 0.019 && m < 0.0197) }' && ok || bad "mxfp4 misalignment"
"$CM" eval mxfp4 --method mc --samples 2^20 --json >"$tmp/mism.json" || bad "eval mc misalignment"
awk -v m="$("$JQ" "$tmp/mism.json" results.0.misalignment)" -v s="$("$JQ" "$tmp/mism.json" results.0.misalignment_se)" -v e="$("$JQ" "$tmp/mis.json" results.2.misalignment)" \
  'BEGIN { d = m - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' && ok || bad "Monte Carlo misalignment within 4 SE of exact"
"$CM" rank mxfp4 "int:bits=4,block=32,round=stochastic" int4 --by misalignment --json >"$tmp/rm.json" && [ "$("$JQ" "$tmp/rm.json" results.0.input)" = "int:bits=4,block=32,round=stochastic" ] && [ "$("$JQ" "$tmp/rm.json" results.2.input)" = mxfp4 ] && ok || bad "rank --by misalignment"
"$CM" eval int4 | head -1 | grep -q misalign && ok || bad "misalignment column in the table"
expect_fail "did you mean 'misalignment'?" rank int4 --by misalignmnt
# the 2026 block variants: each bad value refused with what is accepted
expect_fail "key 'tensor_top': -1 is out of range" eval "nvfp4:tensor_top=-1"
expect_fail "accepted: 0 < V <= 448" eval "nvfp4:tensor_top=500"
expect_fail "tensor_top applies to tensor_scale=fp32 only" eval "mxfp4:tensor_top=256"
expect_fail "unknown value 'l2' (accepted: one of mse|l1|absmax)" eval "nvfp4_4o6:select=l2"
expect_fail "select chooses among the candidate scales of scale=mse only" eval "nvfp4:select=l1"
expect_fail "scale_mult applies to block scales" eval "int4:scale_mult=2"
expect_fail "key 'scale_mult': 0 is out of range" eval "nvfp4:scale_mult=0"
expect_fail "correct=eden rescales a block's one scale" eval "nvfp4_4o6:correct=eden"
expect_fail "correct applies to block scales" eval "int4:correct=eden"
expect_fail "correct=eden has no exact path" eval "nvfp4:correct=eden" --method exact
expect_fail "correct=eden_scaled has no exact path" eval "nvfp4:correct=eden_scaled" --method exact
expect_fail "none|eden|eden_scaled" eval "nvfp4:correct=eden_blocks"
expect_fail "scale_fmt=fp32 has 2^32 codes: give a narrow one" eval "nvfp4:scale=search,scale_fmt=fp32,tensor_scale=none"
expect_fail "search_window applies to scale=search only" eval "nvfp4:search_window=3"
expect_fail "eden_group=24 is not a multiple of block=16" eval "nvfp4:correct=eden,eden_group=24"
expect_fail "eden_group applies to correct=eden only" eval "nvfp4:eden_group=128"
"$CM" rank int4 "int:bits=4,grid=twos" --method mc --samples 2^20 >"$tmp/rm" && grep -q "^1 " "$tmp/rm" && ok || bad "rank table"

# distributions and sigma: every result says what data it measured
"$CM" eval int4 mxfp4 --dist student:nu=5 --sigma 0.02 --json >"$tmp/d.json" || bad "eval --dist --sigma"
[ "$("$JQ" "$tmp/d.json" results.1.dist)" = student:nu=5 ] && [ "$("$JQ" "$tmp/d.json" results.1.sigma)" = 0.02 ] && ok || bad "dist and sigma in JSON"
[ "$("$JQ" "$tmp/d.json" dist)" = student:nu=5 ] && [ "$("$JQ" "$tmp/d.json" results.1.method)" = exact ] && ok || bad "dist: top level, exact block format"
"$CM" eval int4 --dist uniform --csv | head -1 | grep -q ",dist,sigma,misalignment,misalignment_se$" && ok || bad "csv: dist, sigma columns"
"$CM" eval int4 --dist laplace | grep -q "^data: laplace, sigma 1" && ok || bad "table: data footnote"
"$CM" eval int4 | grep -q "^data:" && bad "N(0,1) needs no data footnote" || ok
expect_fail "nu must be above 2" eval int4 --dist student:nu=2
expect_fail "degrees of freedom" eval int4 --dist student
expect_fail "unknown distribution 'cauchy' (accepted: gauss, laplace" eval int4 --dist cauchy
expect_fail "--sigma '0' is not accepted" eval int4 --sigma 0
expect_fail "--sigma '-1' is not accepted" eval int4 --sigma -1
expect_fail "--sigma 'x' is not accepted" rank int4 --sigma x
expect_fail "does not apply to 'laws'" laws --dist laplace

# --- bad input -------------------------------------------------------------------
expect_fail "unknown format 'foo'" eval foo
expect_fail "families: int, fp, lut, lloydmax" eval foo
expect_fail "no key 'bitz'" eval int:bitz=4
expect_fail "out of range" eval int:bits=0
expect_fail "key 'e'" eval fp:e=9
expect_fail "key 'levels'" eval lloydmax:levels=1
expect_fail "empty value" eval int:bits=
expect_fail "stray ','" eval int:bits=4,,
expect_fail "empty stage" eval +int4
expect_fail "empty stage" eval int4+
expect_fail "not an integer" eval int:bits=four
expect_fail "given twice" eval int:bits=4,bits=5
expect_fail "not a finite number" eval int:scale=nan
expect_fail "cannot open" eval lut:file=/nonexistent.json
# input limits: one size cap for every file reader, a spec length cap
head -c 2200000 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
CAPMETRIC_MAX_FILE_MB=1 expect_fail "is larger than 1 MiB (set CAPMETRIC_MAX_FILE_MB" eval "lut:file=$tmp/big.json"
CAPMETRIC_MAX_FILE_MB=1 expect_fail "File too large" grid "$tmp/big.json"
expect_fail "spec longer than 65536 characters" eval "lut:values=$(seq -s ';' 1 14000)"
printf '{"values": [1, 2' >"$tmp/broken.json"
expect_fail "not valid JSON" eval "lut:file=$tmp/broken.json"
expect_fail "    int:bits=0" eval int:bits=0
expect_fail "--samples '0' is not accepted" eval int4 --samples 0
expect_fail "--samples 'abc' is not accepted" eval int4 --samples abc
expect_fail "--samples '2^41' is not accepted" eval int4 --samples 2^41
expect_fail "--samples '-5' is not accepted" eval int4 --samples -5
expect_fail "--threads '0' is not accepted" eval int4 --threads 0
expect_fail "--seed 'x' is not accepted" eval int4 --seed x
expect_fail "unknown method 'fast'" eval int4 --method fast
expect_fail "unknown law 'chinchilla'" eval int4 --law chinchilla
expect_fail "needs a value" eval int4 --samples
expect_fail "exclude each other" eval int4 --json --csv
expect_fail "unknown option '--frobnicate'" eval int4 --frobnicate
expect_fail "unknown command 'evaluate'" evaluate int4
expect_fail "rank needs at least one SPEC" rank
expect_fail "--by 'speed' is not accepted" rank int4 --by speed
expect_fail "no exact path" eval int4+e2m1 --method exact
expect_fail "plugin '/nonexistent.so'" eval int4 --plugin /nonexistent.so
expect_fail "per-block rule: give block=K" eval int:scale=floor
expect_fail "one global MSE-optimal scale" eval mxfp4:scale=opt
expect_fail "OCP MX power-of-two rules" eval lut:name=nf4,block=64,scale=floor
expect_fail "key 'block'" eval int:block=0.5
expect_fail "narrow scale format" eval int:block=16,tensor_scale=fp32
expect_fail "no exact path" eval nvfp4_4o6 --method exact
expect_fail "unexpected argument" formats int4
"$CM" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "no arguments must exit 2"

# an unwritable output is a runtime failure with a message
if [ -w /dev/full ]; then
    "$CM" eval int4 >/dev/full 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "cannot write" "$tmp/err" && ok || bad "write to /dev/full: rc $rc"
fi

# progress: on stderr only (forced by CAPMETRIC_PROGRESS=1; off when stderr is not a
# terminal), never mixed into the results on stdout
CAPMETRIC_PROGRESS=1 "$CM" eval int4 --method mc --samples 2^22 --json >"$tmp/p.json" 2>"$tmp/p.err"
grep -q "monte carlo .*%" "$tmp/p.err" && ok || bad "CAPMETRIC_PROGRESS=1 shows no Monte-Carlo progress"
"$JQ" "$tmp/p.json" results.0.gmse >/dev/null && ok || bad "progress spoiled the JSON on stdout"
"$CM" eval int4 --method mc --samples 2^22 >/dev/null 2>"$tmp/p.err"
[ ! -s "$tmp/p.err" ] && ok || bad "progress shown although stderr is not a terminal"
CAPMETRIC_PROGRESS=1 "$CM" eval int4 --method mc --samples 2^22 --quiet >/dev/null 2>"$tmp/p.err"
[ ! -s "$tmp/p.err" ] && ok || bad "--quiet does not silence progress"
CAPMETRIC_PROGRESS=1 CAPMETRIC_CACHE_DIR="$tmp/kcache" "$CM" eval vq:kmeans,dim=4,bits=1 --samples 2^12 >/dev/null 2>"$tmp/p.err"
grep -q "k-means training (16 codewords, dim 4)" "$tmp/p.err" && ok || bad "k-means training shows no progress: $(cat "$tmp/p.err")"

# counts and amounts with suffixes, either case
"$CM" eval int4 --method mc --samples 1M --json >"$tmp/s.json"
[ "$("$JQ" "$tmp/s.json" samples)" = 1000000 ] && ok || bad "--samples 1M"
"$CM" predict int4 --params 1b --tokens 20b --json >/dev/null && ok || bad "--params 1b --tokens 20b"
expect_fail "--samples '1x' is not accepted" eval int4 --samples 1x

# slips: names without case, a suggestion for a near miss
"$CM" eval MXFP4 INT4 --json >"$tmp/ci.json" && [ "$("$JQ" "$tmp/ci.json" results.0.spec)" = "$("$CM" eval mxfp4 --json | grep -m1 '"spec"' | sed 's/.*"spec":[[:space:]]*"\(.*\)",/\1/')" ] && ok || bad "aliases without case"
expect_fail "did you mean 'nvfp4'?" eval nvpf4
expect_fail "did you mean 'bits'?" eval int:bitz=4
expect_fail "did you mean 'levels'?" eval lloydmax:level=4
expect_fail "lists separate their items with ';'" eval "lut:values=-1,0,1"

# every command answers --help without doing its work
# every command's help: usage, options, two examples; exit 0, nothing runs (bench
# would take 40 s, grid would write files); `capmetric help CMD` says the same
for c in formats laws eval rank bench grid merge predict fit validate quantize; do
    out=$(timeout 10 "$CM" $c --help 2>&1); rc=$?
    [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "usage: capmetric $c" && ok || bad "$c --help: rc $rc: $out"
    printf '%s\n' "$out" | grep -q "^options" && [ "$(printf '%s\n' "$out" | sed -n '/^examples:/,$p' | grep -c "^  capmetric $c")" -eq 2 ] &&
        ok || bad "$c --help lacks options or two examples"
    [ "$("$CM" help $c 2>&1)" = "$out" ] && ok || bad "capmetric help $c differs from $c --help"
done
expect_fail "no command 'nope'" help nope

finish cli
