#!/usr/bin/env bash
# The SDK as a user meets it: install capmetric into a staging directory,
# build examples/plugin/mulaw.c outside the meson build with the one command
# the README gives (pkg-config), and evaluate it with the installed program.
# usage: test_sdk.sh BUILD_DIR SOURCE_DIR JSONQ
set -eu
build=$(realpath "$1")
src=$(realpath "$2")
JQ=$(realpath "$3")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/stage" --quiet >/dev/null
pc=$(find "$tmp/stage" -name capmetric.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no capmetric.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# the staged files live under $tmp/stage/PREFIX: point pkg-config's prefix
# there (--define-prefix would guess wrong on Debian's lib/<triplet>/pkgconfig)
prefix=$(pkg-config --variable=prefix capmetric)
pc() { pkg-config --define-variable=prefix="$tmp/stage$prefix" "$@" capmetric; }
libdir=$(pc --variable=libdir)
plugindir=$(pc --variable=plugindir)
case "$plugindir" in */capmetric/plugins) ;; *) echo "FAIL: plugindir variable '$plugindir'"; exit 1 ;; esac
for h in capmetric.h format.h grid.h errors.h; do
    [ -f "$(pc --variable=includedir)/capmetric/$h" ] ||
        { echo "FAIL: header $h not installed"; exit 1; }
done
cd "$tmp"
cp "$src/examples/plugin/mulaw.c" .
# the README's command (pkg-config pointed at the staging directory): the
# installed headers only, no -lcapmetric
cc -shared -fPIC -fvisibility=hidden -O2 -o mulaw.so mulaw.c $(pc --cflags) -lm
undef=$(nm -D --undefined-only mulaw.so | awk '{print $NF}' | grep '^cm_' || true)
[ -z "$undef" ] || { echo "FAIL: the example plugin needs host symbols: $undef"; exit 1; }
exported=$(nm -D --undefined-only mulaw.so >/dev/null; nm -D --defined-only mulaw.so | awk '{print $NF}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exported" = "cm_plugin_init " ] || { echo "FAIL: the plugin exports '$exported'"; exit 1; }
# the library exports exactly what its installed headers declare
incdir=$(pc --variable=includedir)/capmetric
lib=$(find "$tmp/stage" -name 'libcapmetric.so.*.*' | head -n 1)
cat "$incdir"/*.h | grep -o 'cm_[a-z0-9_]*' | sort -u >declared
extra=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^_' | sort | comm -23 - declared | tr '\n' ' ')
[ -z "$extra" ] || { echo "FAIL: the library exports names no public header declares: $extra"; exit 1; }
# each public header compiles on its own
for h in "$incdir"/*.h; do
    printf '#include <capmetric/%s>\ntypedef int not_empty;\n' "$(basename "$h")" >one.c
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only $(pc --cflags) one.c ||
        { echo "FAIL: capmetric/$(basename "$h") does not compile alone"; exit 1; }
done
cm=$(find "$tmp/stage" -path '*/bin/capmetric' | head -n 1)
export LD_LIBRARY_PATH=$libdir
"$cm" eval --plugin ./mulaw.so "mulaw:bits=6" --json >e.json
"$cm" eval --plugin ./mulaw.so "mulaw:bits=6" --json --method mc --samples 2^22 >m.json
e=$("$JQ" e.json results.0.gmse); g=$("$JQ" m.json results.0.gmse); s=$("$JQ" m.json results.0.gmse_se)
[ "$("$JQ" e.json results.0.method)" = exact ] || { echo "FAIL: not exact"; exit 1; }
awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' ||
    { echo "FAIL: mc $g vs exact $e (se $s)"; exit 1; }
echo "sdk: 5 passed, 0 failed (no host symbol in the example, exports = headers, headers alone, installed build of the example: gmse $e exact, $g +- $s mc)"
