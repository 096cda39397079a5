#!/usr/bin/env bash
# capmetric grid / merge: reports (JSON, CSV, meta, summary, two SVGs that a
# real renderer accepts), --force, a run killed and resumed, shards merged:
# each must equal the uninterrupted single run (timing fields aside); and
# every bad input: exit 2, a message naming the problem, nothing half-written.
set -u
CM=$(realpath "$1")
JQ=$(realpath "$2")
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$tmp"
export CAPMETRIC_CACHE_DIR="$tmp/cache"
strip() { grep -v '"seconds"' "$1"; }

cat >g.json <<'G'
{"name": "t", "options": {"samples": 131072, "seed": 5},
 "sweeps": {
   "int": {"spec": "int", "keys": {"bits": {"from": 2, "to": 4}, "grid": ["midrise", "symmetric"]}},
   "fp6": {"spec": "fp", "keys": {"e": {"from": 1, "to": 4}, "m": {"from": 0, "to": 4}}, "where": {"e + m + 1": 6}},
   "named": {"specs": ["mxfp4", "int4", "2:4+int4", "nvfp4_4o6", "vq:lattice=d4,bits=1"]}
 }}
G
"$CM" grid g.json -o full --quiet || bad "grid run"
for f in results.json results.csv meta.json summary.md gmse_vs_bits.svg rho_vs_bits.svg gmse_vs_misalignment.svg; do
    [ -s "full/$f" ] && ok || bad "missing full/$f"
done
[ ! -e full/progress.jsonl ] && ok || bad "progress file left after a finished run"
# 6 int + 4 fp6 + 5 named, int4 (= int:bits=4) counted once
[ "$("$JQ" full/results.json results)" = 14 ] && [ "$("$JQ" full/results.json points)" = 14 ] && ok ||
    bad "14 points expected, got $("$JQ" full/results.json results)"
[ "$(wc -l <full/results.csv)" -eq 15 ] && ok || bad "csv rows"
grep -q '^| 1 |' full/summary.md && grep -q '\*\*P\*\*' full/summary.md && ok || bad "summary table"
"$JQ" full/meta.json wall_seconds >/dev/null && "$JQ" full/meta.json machine >/dev/null && ok ||
    bad "meta (wall time, machine)"
# the revision is recorded when the build was configured from a git checkout
if git -C "$(dirname "$CM")/.." rev-parse HEAD >/dev/null 2>&1; then
    "$JQ" full/meta.json git_revision >/dev/null && ok || bad "meta: git revision"
fi
if command -v rsvg-convert >/dev/null; then
    for s in gmse_vs_bits rho_vs_bits; do
        rsvg-convert "full/$s.svg" -o "$s.png" 2>err && [ -s "$s.png" ] && ok || bad "$s.svg does not render: $(cat err)"
    done
else
    bad "rsvg-convert is not installed (librsvg2-bin)"
fi
grep -q "Pareto optimal" full/gmse_vs_bits.svg && grep -q "bits per value" full/gmse_vs_bits.svg && ok || bad "axis label and legend"

# The default grid's plots: every Pareto point's place has a label, next to
# it, and no two labels overlap (tests/cli/check_labels.py).
labels_apart() { /usr/bin/python3 "$(dirname "$CM")/../tests/cli/check_labels.py" "$1"; }
"$CM" grid --default -o def --quiet >/dev/null 2>err || bad "grid --default: $(cat err)"
for s in gmse_vs_bits rho_vs_bits; do
    labels_apart "def/$s.svg" >err && ok || bad "$(cat err)"
done

# paired differences in the summary equal rank's, although each grid point runs alone
cat >p.json <<'G'
{"name": "p", "options": {"samples": 262144, "seed": 3, "method": "mc"},
 "sweeps": {"a": {"specs": ["int4", "nvfp4_4o6"]}}}
G
"$CM" grid p.json -o pd --quiet --by gmse || bad "grid --by gmse"
"$CM" rank nvfp4_4o6 int4 --by gmse --method mc --samples 262144 --seed 3 --json >rk.json
want=$(printf '| %.3g | %.2g |' "$("$JQ" rk.json results.0.diff_next)" "$("$JQ" rk.json results.0.diff_next_se)")
grep -qF -- "$want" pd/summary.md && ok || bad "summary's paired difference $(grep '^| 1 ' pd/summary.md) lacks rank's $want"
grep -q "Ranked by gmse" pd/summary.md && ok || bad "--by gmse in the summary"

# a law without a GMSE map is refused before anything is written
expect_fail "takes a law with a map" grid g.json -o nomap --law quest
[ ! -e nomap ] && ok || bad "grid --law quest left files behind"

# existing results: refused without --force, replaced with it
expect_fail "already holds results" grid g.json -o full
"$CM" grid g.json -o full --force --quiet && ok || bad "--force"

# a run killed after 4 points, then resumed: the same results
(CAPMETRIC_TEST_ABORT_AFTER=4 "$CM" grid g.json -o killed --quiet >/dev/null 2>&1) 2>/dev/null
[ -e killed/progress.jsonl ] && [ "$(wc -l <killed/progress.jsonl)" -eq 5 ] && [ ! -e killed/results.json ] && ok ||
    bad "after a kill: a run header and 4 saved points, no report"
# --resume continues only the same run: another seed or sample count is refused by name
expect_fail "has --seed 5, this one 6" grid g.json -o killed --resume --seed 6
expect_fail "has --samples" grid g.json -o killed --resume --samples 2^18
"$CM" grid g.json -o killed --resume --quiet && ok || bad "--resume"
cmp -s <(strip full/results.json) <(strip killed/results.json) && ok || bad "resumed run differs from the single run"

# one run per output folder: a second grid into a folder another one is writing is refused
# (it deleted the first one's progress before); stale temporaries of killed runs are removed
cat >slow.json <<'G'
{"name": "slow", "options": {"samples": 268435456, "method": "mc"}, "sweeps": {"a": {"specs": ["int4", "e2m1"]}}}
G
"$CM" grid slow.json -o busy --quiet --threads 1 >/dev/null 2>&1 &
first=$!
for _ in $(seq 50); do [ -e busy/progress.jsonl ] && break; sleep 0.1; done
expect_fail "another capmetric is writing into 'busy'" grid g.json -o busy --force
[ -e busy/progress.jsonl ] && ok || bad "the refused run touched the first one's progress"
kill $first 2>/dev/null
wait $first 2>/dev/null
mkdir -p full/.report-stale && touch full/.report-stale/results.json full/results.csv.tmp4242
"$CM" grid g.json -o full --force --quiet && [ ! -e full/.report-stale ] && [ ! -e full/results.csv.tmp4242 ] &&
    ok || bad "stale temporaries of a killed run are removed"

# a full standard output is a failure, not a success
"$CM" grid g.json -o full --force >/dev/full 2>"$tmp/full.err"; [ $? = 1 ] && grep -q "cannot write the output" "$tmp/full.err" &&
    ok || bad "grid > /dev/full exits 1"

# a progress file without a run header (an older capmetric) is not continued
(CAPMETRIC_TEST_ABORT_AFTER=2 "$CM" grid g.json -o old --quiet >/dev/null 2>&1) 2>/dev/null
sed -i 1d old/progress.jsonl
expect_fail "does not start with a run header" grid g.json -o old --resume

# shards, merged: the same results
"$CM" grid g.json -o s1 --shard 1/3 --quiet && "$CM" grid g.json -o s2 --shard 2/3 --quiet &&
    "$CM" grid g.json -o s3 --shard 3/3 --quiet || bad "shard runs"
[ "$("$JQ" s2/results.json results)" = 5 ] && ok || bad "shard 2/3 has 5 points"
"$CM" merge s1 s2 s3 -o merged --quiet && ok || bad "merge"
cmp -s <(strip full/results.json) <(strip merged/results.json) && ok || bad "merged shards differ from the single run"
expect_fail "point 1 is missing" merge s1 s3 -o m2
"$CM" grid g.json -o other --seed 9 --shard 2/3 --quiet
expect_fail "differ in 'seed'" merge s1 other s3 -o m3
expect_fail "cannot read" merge s1 nowhere -o m4
expect_fail "merge takes DIR... -o OUT" merge s1
# results that are not a grid run's: every field merge reads is checked first
mkdir -p bad1 bad2 bad3 bad4
echo '[]' >bad1/results.json
expect_fail "bad1/results.json is not a grid run's results: not a JSON object" merge bad1 -o mb1
sed 's/"points":.*/"points": 1e300,/' s1/results.json >bad2/results.json
expect_fail "'points' is not a whole number" merge bad2 -o mb2
python3 -c "
import json; d = json.load(open('s1/results.json')); d['results'][0]['gmse'] = 'x'
json.dump(d, open('bad3/results.json', 'w'))
d['results'][0]['gmse'] = 1; del d['points']; json.dump(d, open('bad4/results.json', 'w'))"
expect_fail "result 1 has a 'gmse' that is not a number" merge bad3 -o mb3
expect_fail "'points' is not a whole number" merge bad4 -o mb4
for d in mb1 mb2 mb3 mb4; do [ -e "$d" ] && bad "a refused merge left '$d' behind"; done
ok

# bad grid files
printf '{"name": "x",\n "sweeps": {' >broken.json
expect_fail "not valid JSON (line 2" grid broken.json
echo '{"name": "x", "sweep": {}}' >k.json
expect_fail "unknown key 'sweep' (accepted: name, options, max_points, sweeps, plot)" grid k.json
echo '{"name": "x", "sweeps": {"a": {"spec": "int", "kyes": {}}}}' >sk.json
expect_fail "sweep 'a': unknown key 'kyes'" grid sk.json
echo '{"name": "x", "sweeps": {"a": {"spec": "fp", "keys": {"e": [1, 2], "m": [1]}, "where": {"e + m": 9}}}}' >e.json
expect_fail "sweep 'a' is empty" grid e.json
echo '{"name": "x", "max_points": 3, "sweeps": {"a": {"spec": "int", "keys": {"bits": {"from": 1, "to": 8}}}}}' >m.json
expect_fail "the range has more values than max_points" grid m.json
echo '{"name": "x", "max_points": 4, "sweeps": {"a": {"spec": "fp", "keys": {"e": [1, 2, 3], "m": [1, 2, 3]}}}}' >m2.json
expect_fail "larger than max_points = 4; this sweep alone expands to 9" grid m2.json
echo '{"name": "x", "sweeps": {"a": {"spec": "int", "keys": {"bits": [1, 99]}}}}' >bs.json
expect_fail "key 'bits': 99 is out of range" grid bs.json
echo '{"name": "x", "sweeps": {"a": {"spec": "fp", "keys": {"e": [2]}, "where": {"e + q": 3}}}}' >c.json
expect_fail "constraint 'e + q' must compare" grid c.json
echo '{"name": "x", "options": {"samples": 0}, "sweeps": {"a": {"specs": ["int4"]}}}' >o.json
expect_fail "option 'samples' is not accepted" grid o.json
echo '{"sweeps": {"a": {"specs": ["int4"]}}}' >n.json
expect_fail "'name' must be a non-empty text" grid n.json
expect_fail "cannot read grid file 'nope.json'" grid nope.json
expect_fail "--shard '3/2' is not accepted" grid g.json --shard 3/2
expect_fail "cannot write to the output directory" grid g.json -o /proc/capmetric-test
expect_fail "grid takes one FILE.json, or --default" grid

# hardening (each of these crashed, hung or wrote in the wrong place before)
python3 - <<'PY'
import json
def w(f, o): json.dump(o, open(f, 'w'))
# a template far beyond any fixed buffer (it overflowed a 4 KiB stack buffer)
w('long.json', {'name': 'x', 'sweeps': {'a': {'spec': 'lut:values=' + ';'.join(str(i) for i in range(4000)), 'keys': {'scale': [1]}}}})
w('longbad.json', {'name': 'x', 'sweeps': {'a': {'spec': 'lut:values=' + ';'.join(['0.5'] * 4000), 'keys': {'scale': [1]}}}})
# nesting that exhausted the stack
w('minus.json', {'name': 'x', 'sweeps': {'a': {'spec': 'int', 'keys': {'bits': [4]}, 'where': {'-' * 100000 + 'bits': 4}}}})
w('paren.json', {'name': 'x', 'sweeps': {'a': {'spec': 'int', 'keys': {'bits': [4]}, 'where': {'(' * 200000 + 'bits': 4}}}})
# ranges whose float loop never advanced
w('r1.json', {'name': 'x', 'sweeps': {'a': {'spec': 'int', 'keys': {'bits': {'from': 1e17, 'to': 1e17 + 64}}}}})
open('r2.json', 'w').write('{"name": "x", "sweeps": {"a": {"spec": "int", "keys": {"bits": {"from": 1, "to": 1e999}}}}}')
# combinations that the constraints filter away, but would all be visited
w('combo.json', {'name': 'x', 'max_points': 50, 'sweeps': {'a': {'spec': 'fp', 'keys': {'e': {'from': 1, 'to': 40}, 'm': {'from': 1, 'to': 40}, 'bias': {'from': 1, 'to': 40}}, 'where': {'e': 0}}}})
# float -> integer casts out of range (undefined behaviour before)
w('s1.json', {'name': 'x', 'options': {'seed': 1e30}, 'sweeps': {'a': {'specs': ['int4']}}})
w('s2.json', {'name': 'x', 'options': {'seed': 1.5}, 'sweeps': {'a': {'specs': ['int4']}}})
w('s3.json', {'name': 'x', 'options': {'samples': 65536.7}, 'sweeps': {'a': {'specs': ['int4']}}})
w('mp.json', {'name': 'x', 'max_points': 1e7, 'sweeps': {'a': {'specs': ['int4']}}})
# a name that would write into the current folder
w('dots.json', {'name': '..', 'sweeps': {'a': {'specs': ['int4']}}})
# 21 stages
w('stages.json', {'name': 'x', 'sweeps': {'a': {'specs': ['+'.join(['int4'] * 21)]}}})
PY
"$CM" grid long.json -o lo --quiet && [ "$(wc -l <lo/results.csv)" = 2 ] && ok || bad "a 20 KB spec runs and reports"
expect_fail "sweep 'a': spec: lut:" grid longbad.json -o lb
[ "$(grep -c 'capmetric: error' "$tmp/fail.err")" = 1 ] && ok || bad "a spec error says 'capmetric: error' once"
[ "$(wc -c <"$tmp/fail.err")" -lt 2000 ] && ok || bad "a long spec is shown as a window, not whole"
expect_fail "nested at most 100 deep" grid minus.json -o mi
expect_fail "nested at most 100 deep" grid paren.json -o pa
expect_fail "the step is below the precision" grid r1.json -o r1
expect_fail "with finite numbers" grid r2.json -o r2
expect_fail "more than 100 x max_points" grid combo.json -o co
expect_fail "option 'seed' is not accepted" grid s1.json -o s1x
expect_fail "option 'seed' is not accepted" grid s2.json -o s2x
expect_fail "option 'samples' is not accepted" grid s3.json -o s3x
expect_fail "'max_points' must be a whole number from 1 to 1e6" grid mp.json -o mpx
expect_fail "not '.' or '..'" grid dots.json
expect_fail "21 stages (accepted: at most 16" grid stages.json -o st
for d in lb mi pa r1 r2 co s1x s2x s3x mpx st; do [ -e "$d" ] && bad "a refused grid left '$d' behind"; done
ok
touch afile
expect_fail "cannot write to the output directory 'afile': Not a directory" grid g.json -o afile

# conditions in where (a text, or "condition": true), geometric ranges, the
# swept keys as JSON fields and CSV columns, --skip-invalid
cat >w.json <<'G'
{"name": "w", "options": {"samples": 65536},
 "sweeps": {
   "ints": {"spec": "int", "keys": {"bits": {"from": 2, "to": 8}, "block": {"from": 16, "to": 64, "times": 2}},
            "where": "bits >= 3 and bits <= 4 or bits == 8"},
   "fps": {"spec": "fp", "keys": {"e": [1, 2, 3], "m": [0, 1, 2]}, "where": {"e + m <= 3": true, "m": 1}},
   "bad": {"spec": "int", "keys": {"bits": [1, 2], "scale": ["even", "absmax"], "block": [32]}}
 }}
G
expect_fail "scale=even needs a grid" grid w.json -o wfail
[ ! -e wfail/results.json ] && ok || bad "a refused grid left results"
"$CM" grid w.json -o wout --skip-invalid >/dev/null 2>err && ok || bad "--skip-invalid: $(cat err)"
grep -q "1 invalid point skipped" err && ok || bad "--skip-invalid says what it skipped: $(cat err)"
# ints: bits 3, 4, 8 x blocks 16, 32, 64 = 9; fps: (1,1), (2,1) = 2; bad: 3 of 4
[ "$("$JQ" wout/results.json results)" = 14 ] && ok || bad "where/times: $("$JQ" wout/results.json results) points, expected 14"
[ "$("$JQ" wout/results.json skipped)" = 1 ] && [ "$("$JQ" wout/results.json skipped.0.spec)" = "int:bits=1,scale=even,block=32" ] &&
    ok || bad "results.json lists the skipped point"
"$JQ" wout/results.json skipped.0.reason | grep -q "evenly spaced" && ok || bad "the skipped point's reason"
grep -q "^## Skipped (1 invalid point" wout/summary.md && ok || bad "summary lists the skipped point"
[ "$("$JQ" wout/results.json results.8.keys.block)" = 64 ] && [ "$("$JQ" wout/results.json results.8.keys.bits)" = 8 ] &&
    ok || bad "keys of a point: $("$JQ" wout/results.json results.8.keys)"
head -1 wout/results.csv | grep -q ",key_bits,key_block,key_e,key_m,key_scale$" && ok || bad "csv key columns: $(head -1 wout/results.csv)"
grep -q '^9,"fps",.*,,,1,1,$' wout/results.csv && ok || bad "csv: an fp point's keys: $(sed -n 11p wout/results.csv)"
# shards keep the skipped points through merge
for i in 1 2; do "$CM" grid w.json -o wsh$i --shard $i/2 --skip-invalid --quiet >/dev/null 2>&1 || bad "shard $i of w"; done
"$CM" merge wsh1 wsh2 -o wmerged --quiet && [ "$("$JQ" wmerged/results.json skipped)" = 1 ] &&
    [ "$(strip wmerged/results.json)" = "$(strip wout/results.json)" ] && ok || bad "merge keeps the skipped points and equals the single run"
cat >wbad.json <<'G'
{"name": "wb", "sweeps": {"a": {"spec": "int", "keys": {"bits": [2, 3]}, "where": "bits >> 3"}}}
G
expect_fail "joined by and / or" grid wbad.json -o wb1
cat >wbad.json <<'G'
{"name": "wb", "sweeps": {"a": {"spec": "int", "keys": {"bits": {"from": 2, "to": 8, "times": 1}}}}}
G
expect_fail "geometric range" grid wbad.json -o wb2
cat >wbad.json <<'G'
{"name": "wb", "sweeps": {"a": {"spec": "int", "keys": {"bits": [1], "scale": ["even"], "block": [32]}}}}
G
expect_fail "every point is invalid" grid wbad.json -o wb3 --skip-invalid
cat >wbad.json <<'G'
{"name": "wb", "plot": {"colour_by": "bits"}, "sweeps": {"a": {"spec": "int", "keys": {"bits": [2, 3]}}}}
G
expect_fail "plot: 'colour_by' is not accepted (accepted: color_by, marker_by, x" grid wbad.json -o wb4
[ ! -e wb4 ] && ok || bad "a refused plot object left files behind"
cat >wbad.json <<'G'
{"name": "wb", "plot": {"x": "bitz"}, "sweeps": {"a": {"spec": "int", "keys": {"bits": [2, 3]}}}}
G
expect_fail "--x (plot.x) 'bitz' is not a swept key of this grid (swept: bits" grid wbad.json -o wb5

# figures: colour and marker by swept keys, GMSE against a swept key, labels
# next to their own points without overlaps (check_labels.py), plots in the
# summary, PDF next to SVG
cat >fig.json <<'G'
{"name": "fig", "options": {"samples": 65536},
 "plot": {"color_by": "sweep", "marker_by": "scale_fmt", "x": "block"},
 "sweeps": {
   "int": {"spec": "int", "keys": {"bits": {"from": 2, "to": 8}, "block": {"from": 8, "to": 256, "times": 2}, "scale_fmt": ["exact", "e4m3", "e8m0"]}},
   "fp4": {"spec": "e2m1", "keys": {"block": {"from": 8, "to": 256, "times": 2}, "scale_fmt": ["exact", "e4m3", "e8m0"], "scale": ["absmax", "floor"]}},
   "nf4": {"spec": "nf4", "keys": {"block": {"from": 8, "to": 256, "times": 2}}}
 }}
G
"$CM" grid fig.json -o fig --quiet --skip-invalid 2>err && ok || bad "figure grid: $(cat err)"
[ "$("$JQ" fig/results.json results)" -ge 150 ] && ok || bad "figure grid: $("$JQ" fig/results.json results) points"
for s in gmse_vs_bits rho_vs_bits gmse_by_block; do
    [ -s "fig/$s.svg" ] && [ -s "fig/$s.pdf" ] && ok || bad "fig/$s.svg and .pdf"
    rsvg-convert "fig/$s.svg" -o "$s.png" 2>err && ok || bad "$s.svg does not render: $(cat err)"
done
/usr/bin/python3 "$(dirname "$CM")/../tests/cli/check_labels.py" fig/gmse_vs_bits.svg fig/rho_vs_bits.svg \
    full/gmse_vs_bits.svg full/rho_vs_bits.svg >labels.out 2>&1 && ok || bad "label placement: $(cat labels.out)"
grep -q "colour: sweep" fig/gmse_vs_bits.svg && grep -q "marker: scale_fmt" fig/gmse_vs_bits.svg && ok ||
    bad "legend of colours and markers"
grep -q "law unified-llama-c4" fig/rho_vs_bits.svg && ok || bad "the rho axis names its law"
grep -c "<polyline" fig/gmse_by_block.svg | grep -qv '^[0-2]$' && ok || bad "lines against block"
grep -q '!\[GMSE against block\](gmse_by_block.svg)' fig/summary.md && grep -q '(gmse_vs_bits.svg)' fig/summary.md &&
    ok || bad "plots in summary.md"
expect_fail "is not a swept key of this grid (swept: bits, block, scale_fmt, scale" grid fig.json -o figbad --color-by blok
mkdir -p fig2 && "$CM" grid fig.json -o fig2 --quiet --skip-invalid --color-by bits --marker-by sweep --x bits >/dev/null 2>err &&
    [ -s fig2/gmse_vs_bits.svg ] && grep -q "colour: bits" fig2/gmse_vs_bits.svg && ok || bad "--color-by on the command line: $(cat err)"

"$CM" grid g.json -o prog --progress >/dev/null 2>err && grep -q "14/14 points, .* ETA" err && ok ||
    bad "grid --progress: $(tail -2 err)"

finish grid
