#!/bin/sh
# Timeline of one tupfs build: uprobes on tupfs's own phases (parse, graph,
# plan, mount, jobs, settle, unmount, index write) plus the kernel's process
# events, read back by phases.py. Needs root, perf, and a tupfs binary with
# symbols (release builds keep them).
#
#   bench/compare/phases.sh TUPFS_BIN TREE [BUILD ARGS...]    e.g.
#   bench/compare/phases.sh target/release/tupfs bench/out/n1000/tupfs -j2
#
# Prints the timeline of that one build and the per-job medians. The probes
# are removed again on exit.
set -eu
bin=$(readlink -f "$1"); tree=$2; shift 2
here=$(dirname "$(readlink -f "$0")")
events=/sys/kernel/tracing/uprobe_events
group=tupfsprof
data=$(mktemp /tmp/tupfs-phases.XXXXXX)

cleanup() {
    names=$(grep "^[pr]:$group/" "$events" 2>/dev/null | cut -d' ' -f1 | cut -d: -f2)
    for name in $names; do
        echo "-:$name" >> "$events" || true
    done
    rm -f "$data" "$data.txt"
}
trap cleanup EXIT

# name  symbol (as `nm` shows it, a unique prefix of the mangled name)
probe() {
    addr=$(nm "$bin" | grep -E " [Tt] _ZN.*$2" | head -1 | cut -d' ' -f1)
    # A renamed or inlined function loses its phase, not the whole timeline.
    [ -n "$addr" ] || { echo "phases.sh: no symbol $2 in $bin (phase $1 skipped)" >&2; return 0; }
    # The file offset of a text address: the executable segment's vaddr - offset.
    delta=$(readelf -lW "$bin" | awk '$1 == "LOAD" && / R E / { print $3 " " $2; exit }')
    off=$(printf '0x%x' $((0x$addr - ($(echo "$delta" | cut -d' ' -f1) - $(echo "$delta" | cut -d' ' -f2)))))
    echo "p:$group/${1}_in $bin:$off" >> "$events"
    echo "r:$group/${1}_out $bin:$off" >> "$events"
}
probe parse 'tupfile6driver5parse17h'
probe graphbuild '5graph5Graph5build17h'
probe planmake '4plan4Plan4make17h'
probe mount '10tupfs_fuse6Tracer(5mount|10mount_with)17h'
probe unmount '10tupfs_fuse6Tracer7unmount17h'
probe idxwrite '5index5Index5write17h'
probe settle '4exec6settle6settle17h'
probe finish '10tupfs_fuse3Job6finish17h'
probe startjob '10tupfs_fuse6Tracer9start_job17h'
probe jobrun '4exec3job3run17h'
probe prepout '4exec15prepare_outputs17h'

# perf prepends its own directory to PATH, and a changed exported PATH would
# rebuild everything: give the build the PATH it would have had.
cd "$tree"
perf record -q -o "$data" -e "$group:*" \
    -e sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit \
    -e syscalls:sys_exit_wait4 -- env PATH="$PATH" "$bin" build "$@"
perf script -i "$data" > "$data.txt" 2>/dev/null
python3 "$here/phases.py" "$data.txt"
