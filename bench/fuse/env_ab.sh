#!/bin/sh
# Full builds of the generated N=1,000 tree at -j2, interleaved: tupfs with
# environment variable VAR set to each of VALUES in turn, then ninja and the
# untraced floor, RUNS rounds (default 3). Wall seconds.
# Needs the trees of `bench/compare/run.py --sizes 1000` in bench/out/n1000.
# Usage: bench/fuse/env_ab.sh VAR "VALUE..." [RUNS]
#   e.g. bench/fuse/env_ab.sh TUPFS_FUSE_URING "0 1" 5
#        bench/fuse/env_ab.sh TUPFS_FAST_WAKE_MS "0 5" 3
set -u
[ $# -ge 2 ] || { sed -n 2,8p "$0" >&2; exit 2; }
VAR=$1 VALUES=$2 RUNS=${3:-3}
cd "$(dirname "$0")/../.."
B=$PWD/bench/out/n1000
T=$PWD/target/release/tupfs
[ -x "$T" ] && [ -d "$B/tupfs" ] || { echo "need $T and $B (run bench/compare/run.py --sizes 1000 first)" >&2; exit 2; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
secs() { s=$(date +%s.%N); "$@" >/dev/null 2>&1; rc=$?; e=$(date +%s.%N); echo "$(echo "$e - $s" | bc) rc=$rc"; }
for i in $(seq 1 "$RUNS"); do
  for v in $VALUES; do
    (cd "$B/tupfs" && sh floor/clean.sh)
    echo "tupfs $VAR=$v $(cd "$B/tupfs" && export "$VAR=$v" && secs "$T" build -j2 -q --no-cache)"
  done
  (cd "$B/ninja" && sh floor/clean.sh); echo "ninja $(cd "$B/ninja" && secs ninja -j2)"
  (cd "$B/floor" && sh floor/clean.sh); echo "floor $(cd "$B/floor" && secs sh floor/full.sh)"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
