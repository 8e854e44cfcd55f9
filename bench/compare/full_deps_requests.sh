#!/bin/bash
# FUSE requests of a full build, by opcode, with full deps off and on.
# Counts the kernel's fuse:fuse_request_send tracepoint system-wide
# (perf record -a), around a script that restores PATH first (perf
# prepends its own directory, which would change every command's
# environment). Needs root and perf. Usage:
#   bench/compare/full_deps_requests.sh TUPFS [N] [OUT]
# e.g. bench/compare/full_deps_requests.sh target/release/tupfs 100
set -eu
TUPFS=$(realpath "$1")
N=${2:-100}
OUT=${3:-bench/out/fdreq-n$N}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
python3 "$REPO/bench/gen/gen.py" --n "$N" --out "$OUT/tree" >/dev/null
cat >"$OUT/build.sh" <<INNER
#!/bin/sh
export PATH='$PATH'
cd '$OUT/tree'
'$TUPFS' build -j2 --no-cache "\$@" >/dev/null &
pid=\$!
# The build's FUSE connections (other builds on the machine use FUSE too).
while kill -0 \$pid 2>/dev/null; do
    grep -F ' $OUT/' /proc/self/mountinfo | grep ' fuse' | awk '{split(\$3, d, ":"); print d[2]}' >>'$OUT/conns'
    sleep 0.1
done
wait \$pid
INNER
chmod +x "$OUT/build.sh"

for mode in off on; do
    (cd "$OUT/tree" && sh floor/clean.sh)
    flag=; [ "$mode" = on ] && flag=--full-deps
    : >"$OUT/conns"
    perf record -q -o "$OUT/perf-$mode.data" -e fuse:fuse_request_send -a -- "$OUT/build.sh" $flag 2>/dev/null
    perf script -i "$OUT/perf-$mode.data" 2>/dev/null |
        grep -E "connection ($(sort -u "$OUT/conns" | paste -sd'|')) " | grep -o '(FUSE_[A-Z_]*)' | sort | uniq -c | sort -rn >"$OUT/counts-$mode.txt"
done
echo "requests of the whole build off | on:"
join -1 2 -2 2 -a 1 -a 2 -e 0 -o 0,1.1,2.1 \
    <(sort -k2 "$OUT/counts-off.txt") <(sort -k2 "$OUT/counts-on.txt") 2>/dev/null ||
    paste "$OUT/counts-off.txt" "$OUT/counts-on.txt"
