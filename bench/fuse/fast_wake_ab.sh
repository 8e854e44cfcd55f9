#!/bin/sh
# Full builds of the generated N=1,000 tree at -j2, interleaved: tupfs with
# the fast wake-up request off (TUPFS_FAST_WAKE_MS=0) and on (default 5 ms),
# then ninja and the untraced floor, RUNS rounds (default 3). Wall seconds.
# Needs the trees of `bench/compare/run.py --sizes 1000` in bench/out/n1000.
# Usage: bench/fuse/fast_wake_ab.sh [RUNS]
set -u
cd "$(dirname "$0")/../.."
B=$PWD/bench/out/n1000
T=$PWD/target/release/tupfs
[ -x "$T" ] && [ -d "$B/tupfs" ] || { echo "need $T and $B (run bench/compare/run.py --sizes 1000 first)" >&2; exit 2; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
secs() { s=$(date +%s.%N); "$@" >/dev/null 2>&1; rc=$?; e=$(date +%s.%N); echo "$(echo "$e - $s" | bc) rc=$rc"; }
for i in $(seq 1 "${1:-3}"); do
  for w in 0 5; do
    (cd "$B/tupfs" && sh floor/clean.sh)
    echo "tupfs fast_wake=${w}ms $(cd "$B/tupfs" && TUPFS_FAST_WAKE_MS=$w secs "$T" build -j2 -q)"
  done
  (cd "$B/ninja" && sh floor/clean.sh); echo "ninja $(cd "$B/ninja" && secs ninja -j2)"
  (cd "$B/floor" && sh floor/clean.sh); echo "floor $(cd "$B/floor" && secs sh floor/full.sh)"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
