#!/usr/bin/env bash
# Plugin loader: every refusal names the file and the reason, exits 2, writes
# nothing to stdout and leaves nothing loaded; good plugins work like built-ins.
# usage: test_plugins.sh CAPMETRIC JSONQ GOOD_DIR BROKEN_MODULE...
set -u
CM=$1
JQ=$2
GOOD=$3
shift 3
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

refused() { # refused WANT FILE
    local want=$1 file=$2
    "$CM" eval --plugin "$file" int4 >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ $rc -eq 2 ] || { bad "$file: exit $rc, expected 2"; return; }
    [ -s "$tmp/out" ] && { bad "$file: wrote to stdout"; return; }
    grep -qF -- "$file" "$tmp/err" || { bad "$file: message does not name the file: $(cat "$tmp/err")"; return; }
    grep -qF -- "$want" "$tmp/err" || { bad "$file: message lacks '$want': $(cat "$tmp/err")"; return; }
    ok
}

# plugins that load but whose format misbehaves when used: refused then
fails_eval() { # fails_eval WANT FILE
    local want=$1 file=$2
    "$CM" eval --plugin "$file" fixture_ok --method mc --samples 4096 >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ $rc -eq 2 ] || { bad "$file: exit $rc, expected 2 ($(cat "$tmp/err"))"; return; }
    [ -s "$tmp/out" ] && { bad "$file: wrote to stdout"; return; }
    grep -qF -- "$want" "$tmp/err" || { bad "$file: message lacks '$want': $(cat "$tmp/err")"; return; }
    ok
}

for m in "$@"; do
    case "$(basename "$m")" in
    fixture_bad_range.so) refused "has an empty range" "$m" ;;
    fixture_nan.so) fails_eval "returned Inf or NaN for finite input" "$m" ;;
    fixture_huge_state.so) fails_eval "state_size() asks for" "$m" ;;
    fixture_bad_bits.so) fails_eval "bits_per_value() gave nan" "$m" ;;
    fixture_no_query.so) refused "no symbol 'cm_plugin_init'" "$m" ;;
    fixture_abi_v1.so) refused "built for plugin ABI 1" "$m" ;;
    fixture_wrong_abi.so) refused "major must match" "$m" ;;
    fixture_query_null.so) refused "returned no formats for host ABI" "$m" ;;
    fixture_small_struct.so) refused "smaller than" "$m" ;;
    fixture_null_member.so) refused "mandatory member 'quantize' is NULL" "$m" ;;
    fixture_dup_builtin.so) refused "'int' is already registered" "$m" ;;
    *) bad "unexpected fixture $m" ;;
    esac
done
refused "No such file or directory" "$tmp/missing.so"
echo "not a shared object" >"$tmp/text.so"
refused "cannot load" "$tmp/text.so"
# a name taken by another plugin: the same plugin twice
"$CM" eval --plugin "$GOOD/fixture_ok.so" --plugin "$GOOD/fixture_ok.so" int4 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "'fixture_ok' is already registered" "$tmp/err" && [ ! -s "$tmp/out" ] && ok ||
    bad "duplicate plugin: $(cat "$tmp/err")"
# a refusal on $CAPMETRIC_PLUGIN_PATH is reported the same way
mkdir "$tmp/path" && cp "$tmp/text.so" "$tmp/path/"
CAPMETRIC_PLUGIN_PATH="$tmp/path" "$CM" formats >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "text.so" "$tmp/err" && ok || bad "broken plugin on the path"

# good plugins: origin shown, exact path, Monte Carlo agrees, aliases work
"$CM" formats --plugin "$GOOD/mulaw.so" >"$tmp/f" && grep -q "^mulaw .*\[from $GOOD/mulaw.so\]$" "$tmp/f" && ok ||
    bad "formats does not show the plugin's origin"
"$CM" eval --plugin "$GOOD/mulaw.so" mulaw:bits=4 mulaw8 --json >"$tmp/e.json" || bad "eval mulaw"
"$CM" eval --plugin "$GOOD/mulaw.so" mulaw:bits=4 mulaw8 --json --method mc --samples 2^22 >"$tmp/m.json" || bad "eval mulaw mc"
for i in 0 1; do
    [ "$("$JQ" "$tmp/e.json" results.$i.method)" = exact ] && ok || bad "mulaw result $i not exact"
    e=$("$JQ" "$tmp/e.json" results.$i.gmse); g=$("$JQ" "$tmp/m.json" results.$i.gmse); s=$("$JQ" "$tmp/m.json" results.$i.gmse_se)
    awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' && ok ||
        bad "mulaw $i: mc $g vs exact $e (se $s)"
done
[ "$("$JQ" "$tmp/e.json" results.1.spec)" = "mulaw:bits=8,mu=255,scale=opt" ] && ok || bad "plugin canonical spec"
"$CM" rank --plugin "$GOOD/mulaw.so" mulaw8 int8 "mulaw:bits=8,mu=40" --json >"$tmp/r.json" &&
    [ "$("$JQ" "$tmp/r.json" results)" = 3 ] && grep -q '"input":[[:space:]]*"mulaw:bits=8,mu=40"' "$tmp/r.json" && ok ||
    bad "a plugin format in rank"
cat >"$tmp/pg.json" <<'G'
{"name": "plug", "options": {"samples": 65536},
 "sweeps": {"mu": {"spec": "mulaw", "keys": {"bits": [4, 6], "mu": [40, 255]}}, "ref": {"specs": ["int4"]}}}
G
"$CM" grid --plugin "$GOOD/mulaw.so" "$tmp/pg.json" -o "$tmp/pgrid" --quiet &&
    [ "$("$JQ" "$tmp/pgrid/results.json" results)" = 5 ] &&
    [ "$("$JQ" "$tmp/pgrid/results.json" results.0.method)" = exact ] && ok || bad "a plugin format in grid"
CAPMETRIC_PLUGIN_PATH="$GOOD" "$CM" eval fixture_ok mulaw --quiet >"$tmp/p" && grep -q "^fixture_ok" "$tmp/p" && ok ||
    bad "plugins from CAPMETRIC_PLUGIN_PATH"
"$CM" eval --plugin "$GOOD/mulaw.so" "mulaw:mu=0" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "key 'mu'" "$tmp/err" && ok || bad "plugin keys are range-checked by the host"

finish plugins
