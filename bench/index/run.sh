#!/bin/sh
# Index and scan benchmark (release build). Prints the numbers that go into
# bench/RESULTS.md, section "Index and scans".
#   BENCH_COMMANDS=100000 BENCH_TREE_FILES=50000 bench/index/run.sh
set -eu
cd "$(dirname "$0")/../.."
exec cargo bench -p tupfs --bench index
