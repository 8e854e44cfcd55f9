#!/bin/sh
# Tracing filesystem benchmark: file operations and a gcc compile, natively
# and inside a traced job (the default: io_uring and passthrough; /dev/fuse
# only; no passthrough), one run.
# Usage: bench/fuse/run.sh [ITERS [GCC_ITERS]]   (defaults 20000, 20)
set -eu
cd "$(dirname "$0")/../.."
cargo build --release -q -p tupfs-fuse --bin tupfs-fuse-bench
echo "machine: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The "traced" column uses FUSE over io_uring when the kernel offers it;
# offering it is a module setting (README), switched on here when we can.
P=/sys/module/fuse/parameters/enable_uring
if [ -w "$P" ] && [ "$(cat "$P")" != Y ]; then
  echo Y > "$P" && echo "set $P to Y" >&2
fi
echo "fuse io_uring offered: $(cat "$P" 2>/dev/null || echo 'no (kernel without it)')" >&2
exec timeout 1200 target/release/tupfs-fuse-bench "$@"
