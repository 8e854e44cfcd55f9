#!/bin/sh
# Full dependencies (issue 15): full build and edit-h of the generated tree
# at N (default 1000), -j2, tupfs with --full-deps on and off against the
# untraced floor, by hyperfine (medians; the output cache off, or every run
# after the first would restore its outputs). Also the outside scan's cost, from
# the debug timing line of a no-op build with full deps on.
# Usage: bench/compare/full_deps.sh [N] [RUNS]   (TUPFS=path/to/tupfs)
set -e
N=${1:-1000}
RUNS=${2:-3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TUPFS=${TUPFS:-$REPO/target/release/tupfs}
OUT=${BENCH_OUT:-$REPO/bench/out}/full-deps-n$N
rm -rf "$OUT"
python3 "$REPO/bench/gen/gen.py" --n "$N" --out "$OUT/tree" >/dev/null
cd "$OUT/tree"
H=$(python3 -c "import json;print(json.load(open('bench.json'))['edit_h'])")
M=$(python3 -c "import json;print(json.load(open('bench.json'))['edit_macro'])")
EDIT="sleep 1 && perl -pi -e 's/^(#define $M )(\\d+)/\$1.(\$2+1)/e' $H"
cat $(find . -name '*.[ch]') >/dev/null
hyperfine --runs "$RUNS" --export-json "$OUT/full.json" \
  --prepare 'sh floor/clean.sh; rm -rf .tupfs' \
  -n floor 'sh floor/full.sh' \
  -n tupfs-off "$TUPFS build -j2 --no-cache" \
  -n tupfs-full-deps "$TUPFS build -j2 --no-cache --full-deps"
"$TUPFS" build -j2 --no-cache >/dev/null
hyperfine --runs "$RUNS" --export-json "$OUT/edit-h-off.json" --prepare "$EDIT" \
  -n tupfs-off-edit-h "$TUPFS build -j2 --no-cache"
"$TUPFS" build -j2 --no-cache --full-deps >/dev/null
hyperfine --runs "$RUNS" --export-json "$OUT/edit-h-on.json" --prepare "$EDIT" \
  -n tupfs-full-deps-edit-h "$TUPFS build -j2 --no-cache --full-deps" \
  -n floor-edit-h 'sh floor/edit-h.sh'
TUPFS_LOG=debug "$TUPFS" build -j2 --full-deps 2>&1 | grep -E 'outside files scanned|scanned at|Nothing|nothing' || true
