#!/bin/sh
# The index journal, before/after, interleaved at N=10,000 (bench/RESULTS.md,
# "The index journal"): touch-c and edit-h as run.py makes them, each build
# with -vv so its `timing:` lines (record made, journal appended, record
# written) are kept, plus /usr/bin/time's wall, user, sys and peak RSS.
#
# Setup (two built trees of the same project, one per binary, e.g. hard-linked
# copies of bench/out/n10000/tupfs with their own .tupfs/ and touch-c's source
# unlinked first: `cp -p F x && mv x F`):
#   TREES=/tmp/j/n10k  -> $TREES-before, $TREES-after
#   BINS=/tmp/j/tupfs  -> $BINS-before, $BINS-after
# usage: bench/index/journal_ab.sh [RUNS]
RUNS=${1:-5}
TREES=${TREES:-/tmp/j/n10k}
BINS=${BINS:-/tmp/j/tupfs}
for i in $(seq "$RUNS"); do
  for t in before after; do
    cd "$TREES-$t" || exit 1
    sleep 1; touch m05/d00/f05000.c
    /usr/bin/time -f "WALL $t touch-c %e %U %S %MkB" "$BINS-$t" build -vv -j2 2>&1 |
      grep -E "WALL|timing: (record|journal|compaction|waited|commands done|recorded)" | sed "s/^/$t touch-c /"
    sleep 1; perl -pi -e 's/^(#define F04999_K )(\d+)/$1.($2+1)/e' m04/d99/f04999.h
    /usr/bin/time -f "WALL $t edit-h %e %U %S %MkB" "$BINS-$t" build -vv -j2 2>&1 |
      grep -E "WALL|timing: (record|journal|compaction|waited|commands done|recorded)" | sed "s/^/$t edit-h /"
    "$BINS-$t" build -q -j2 >/dev/null 2>&1
  done
done
