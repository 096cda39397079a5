# Shared by the shell tests: a temporary directory removed on exit, pass and
# fail counters, and expect_fail for the bad-input paths. Source it with
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# after CM (the capmetric program) is set; end the script with `finish NAME`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_fail "message part" args...: capmetric must exit 2, print nothing on
# standard output and name the problem on standard error.
expect_fail() {
    local want=$1
    shift
    "$CM" "$@" >"$tmp/fail.out" 2>"$tmp/fail.err"
    local rc=$?
    if [ $rc -ne 2 ]; then bad "capmetric $* exited $rc, expected 2 ($(cat "$tmp/fail.err"))"; return; fi
    if [ -s "$tmp/fail.out" ]; then bad "capmetric $* wrote to stdout on failure"; return; fi
    if ! grep -qF -- "$want" "$tmp/fail.err"; then
        bad "capmetric $*: message lacks '$want': $(cat "$tmp/fail.err")"
        return
    fi
    ok
}

finish() {
    echo "$1: $pass passed, $fail failed"
    [ $fail -eq 0 ]
}
