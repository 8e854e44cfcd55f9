#!/usr/bin/env python3
"""CPU time of a no-op, with and without a file watcher, on the trees
run.py built (bench/out/nN/TOOL, or $BENCH_OUT).

Wall time of a 5 ms no-op on a shared, loaded machine is mostly waiting
for a CPU; the CPU time it uses is not. For each tool this runs its no-op
K times (after two untimed ones) and reports the median and minimum wall
time, and the CPU time (user + system) per run of the build process and
its children, plus, with a watcher, the watcher's own CPU time per run
(from /proc/PID/stat, so the sync a build asks of it is counted).

Usage: bench/compare/noop_cpu.py [--n 1000] [--runs 50]
       [--tools tupfs,tupfs-monitor,tup,tup-monitor,ninja]
"""

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (the trees, tools and watcher helpers of run.py)


def cpu_of(pid):
    """A live process's user + system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(tool, tree, runs):
    """(wall times, CPU per run of the build, CPU per run of the watcher)."""
    argv = shlex.split(tool.command("noop"))
    for _ in range(2):
        subprocess.run(argv, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = run.monitor_pid(tree) if tool.monitor else None
    watcher_before = cpu_of(pid) if pid else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(argv, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"{tool.name}: no-op failed (exit {p.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / runs
    watcher = (cpu_of(pid) - watcher_before) / runs if pid else None
    return walls, cpu, watcher


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--tools", default="tupfs,tupfs-monitor,tup,tup-monitor,ninja")
    args = ap.parse_args(argv)
    tools = run.make_tools(args.tools.split(","), ["mtime"])
    print(f"N={args.n}, {args.runs} no-ops each; load {run.loadavg():.1f}")
    print("| tool | wall median | wall min | CPU per no-op | watcher CPU per no-op |")
    print("|---|---:|---:|---:|---:|")
    for tool in tools:
        tree = os.path.join(run.OUT, f"n{args.n}", tool.tree_name)
        result = {}

        def go(tool=tool, tree=tree, result=result):
            result["r"] = measure(tool, tree, args.runs)

        if tool.monitor:
            run.with_monitor(tool, tree, go)
        else:
            go()
        if "r" not in result:
            print(f"| {tool.name} | not measured | | | |")
            continue
        walls, cpu, watcher = result["r"]
        w = "-" if watcher is None else f"{watcher * 1000:.2f} ms"
        print(f"| {tool.name} | {statistics.median(walls) * 1000:.1f} ms | "
              f"{min(walls) * 1000:.1f} ms | {cpu * 1000:.2f} ms | {w} |", flush=True)
    print(f"load after: {run.loadavg():.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
