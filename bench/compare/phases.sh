#!/bin/sh
# Each round touches the manifest's .c and builds with one binary, then the other.
# Interleaved before/after touch-c at one tree, -vv timing lines and peak RSS.
# Usage: phases.sh TREE ROUNDS BIN_BEFORE BIN_AFTER
tree=$1; rounds=$2; before=$3; after=$4
cd "$tree" || exit 1
c=$(python3 -c "import json; print(json.load(open('bench.json'))['touch_c'])")
for r in $(seq 1 "$rounds"); do
  for which in before after; do
    eval bin=\$$which
    sleep 0.05; touch "$c"
    echo "== $which round $r load $(cut -d' ' -f1 /proc/loadavg)"
    RUST_LOG=debug /usr/bin/time -f "wall %e s, max RSS %M KiB" "$bin" build -j2 --no-cache --change mtime -vv 2>&1 \
      | grep -E "timing:|wall|commands ran" | grep -v fuser | sed 's/^\[DEBUG [^]]*\] //'
  done
done
