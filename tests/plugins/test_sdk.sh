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
# the README's command (pkg-config pointed at the staging directory)
cc -shared -fPIC -O2 -o mulaw.so mulaw.c $(pc --cflags --libs)
cm=$(find "$tmp/stage" -path '*/bin/capmetric' | head -n 1)
export LD_LIBRARY_PATH=$libdir
"$cm" eval --plugin ./mulaw.so "mulaw:bits=6" --json >e.json
"$cm" eval --plugin ./mulaw.so "mulaw:bits=6" --json --method mc --samples 2^22 >m.json
e=$("$JQ" e.json results.0.gmse); g=$("$JQ" m.json results.0.gmse); s=$("$JQ" m.json results.0.gmse_se)
[ "$("$JQ" e.json results.0.method)" = exact ] || { echo "FAIL: not exact"; exit 1; }
awk -v e="$e" -v g="$g" -v s="$s" 'BEGIN { d = g - e; if (d < 0) d = -d; exit !(s > 0 && d <= 4 * s) }' ||
    { echo "FAIL: mc $g vs exact $e (se $s)"; exit 1; }
echo "sdk: 1 passed, 0 failed (installed build of the example: gmse $e exact, $g +- $s mc)"
