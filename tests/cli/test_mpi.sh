#!/usr/bin/env bash
# capmetric grid across MPI ranks: mpirun -n 2 gives the single-process result.
set -u
CM=$(realpath "$1")
MPIRUN=$2
JQ=$(realpath "$3")
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$tmp"
export CAPMETRIC_CACHE_DIR="$tmp/cache" OMPI_MCA_plm_rsh_agent=false
cat >g.json <<'G'
{"name": "m", "options": {"samples": 262144, "seed": 11},
 "sweeps": {"int": {"spec": "int", "keys": {"bits": {"from": 1, "to": 6}}},
            "mc": {"specs": ["nvfp4_4o6", "int4+e2m1", "vq:lattice=d4,bits=1", "mxfp4"]}}}
G
"$CM" grid g.json -o single --quiet || bad "single run"
"$MPIRUN" -n 2 --allow-run-as-root --oversubscribe "$CM" grid g.json -o ranks --quiet || bad "mpirun -n 2"
[ "$("$JQ" ranks/results.json results)" = 10 ] && ok || bad "10 points expected"
cmp -s <(grep -v '"seconds"' single/results.json) <(grep -v '"seconds"' ranks/results.json) && ok ||
    bad "mpirun -n 2 differs from the single run"
"$MPIRUN" -n 2 --allow-run-as-root --oversubscribe "$CM" grid g.json -o x --shard 1/2 >out 2>err
[ $? -ne 0 ] && grep -q "under mpirun the ranks share the points" err && ok || bad "--shard under mpirun"
finish mpi
