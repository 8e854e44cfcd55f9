#!/bin/sh
# Regenerates tests/data/full-tup-commands.txt: the commands tup 0.7.11 runs
# for examples/full, as "dir: command" lines, sorted. Needs tup and FUSE.
# Usage: sh tests/data/full-tup-commands.sh > tests/data/full-tup-commands.txt
set -e
here=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$here/examples/full/." "$scratch/"
cd "$scratch"
tup init >/dev/null 2>&1
timeout 300 tup -j1 --verbose 2>&1 |
  sed -n 's/^[ *]*[~ ]*[0-9]*% *[0-9]*) \[[0-9.]*s\] \([^ :]*\): \(.*\)$/\1: \2/p' |
  LC_ALL=C sort
