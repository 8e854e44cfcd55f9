#!/bin/sh
# Tracing filesystem benchmark: file operations and a gcc compile, natively
# and inside a traced job (with and without FUSE passthrough), one run.
# Usage: bench/fuse/run.sh [ITERS [GCC_ITERS]]   (defaults 20000, 20)
set -eu
cd "$(dirname "$0")/../.."
cargo build --release -q -p tupfs-fuse --bin tupfs-fuse-bench
echo "machine: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec timeout 1200 target/release/tupfs-fuse-bench "$@"
