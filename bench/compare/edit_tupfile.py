#!/usr/bin/env python3
"""The edit-Tupfile case: one Tupfile's command line edited (the link rule
of m00/d01 gains or loses ` -lm`, so that Tupfile is re-parsed and its link
runs again), timed for two tupfs binaries interleaved on the same built
tree (run.py's tupfs tree, e.g. /work/bench-out/n10000/tupfs copied).

Each round edits the Tupfile once and builds once, the binaries taking
turns (A, B, A, B, ...), so both see the same load. Reported per binary:
median wall and CPU (user+sys of the build, from getrusage of children),
and the median of the `-vv` phase marks (`timing: ... at`).

    bench/compare/edit_tupfile.py --tree DIR --a OLD_BINARY --b NEW_BINARY [--rounds 6]

The tree must be built and up to date (one untimed build of each binary
runs first). Commands see PATH as exported to them: give `--path "$PATH"`
with the PATH the tree was built with (a Python shim may prepend its own
directory, and every command would run again for `$PATH`).
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

TUPFILE = "m00/d01/Tupfile"
PHASES = [
    ("scanned", re.compile(r"timing: scanned at ([0-9.]+)(m?s|µs)")),
    ("parsed", re.compile(r"timing: \d+ Tupfiles parsed at ([0-9.]+)(m?s|µs)")),
    ("planned", re.compile(r"timing: planned at ([0-9.]+)(m?s|µs)")),
    ("commands done", re.compile(r"timing: commands done at ([0-9.]+)(m?s|µs)")),
    ("recorded", re.compile(r"timing: recorded at ([0-9.]+)(m?s|µs)")),
]
CONE = re.compile(r"cone: (\d+) of (\d+) commands")


def seconds(value, unit):
    return float(value) * {"s": 1.0, "ms": 1e-3, "µs": 1e-6}[unit]


def toggle(tree):
    """Add or drop ` -lm` on the link rule's command line."""
    path = f"{tree}/{TUPFILE}"
    text = open(path).read()
    if " -lm |> prog" in text:
        text = text.replace(" -lm |> prog", " |> prog")
    else:
        text = text.replace("-o %o |> prog", "-o %o -lm |> prog")
    open(path, "w").write(text)


def build(binary, tree):
    """One `build -vv`: wall, CPU, phase marks, the cone line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    run = subprocess.run(
        [binary, "build", "-vv"], cwd=tree, capture_output=True, text=True
    )
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(f"{binary} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = run.stderr
    marks = {}
    for name, pattern in PHASES:
        m = pattern.search(log)
        if m:
            marks[name] = seconds(m.group(1), m.group(2))
    cone = CONE.search(log)
    return wall, cpu, marks, cone.group(0) if cone else "no cone"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--a", required=True, help="the binary before")
    ap.add_argument("--b", required=True, help="the binary after")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--path", help="PATH for the builds (default: this process's)")
    args = ap.parse_args()
    if args.path:
        os.environ["PATH"] = args.path
    args.a, args.b = os.path.abspath(args.a), os.path.abspath(args.b)
    for binary in (args.a, args.b):
        subprocess.run([binary, "build", "-q"], cwd=args.tree, check=True)
    results = {args.a: [], args.b: []}
    for _ in range(args.rounds):
        for binary in (args.a, args.b):
            toggle(args.tree)
            results[binary].append(build(binary, args.tree))
    for label, binary in (("A", args.a), ("B", args.b)):
        runs = results[binary]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{label} {binary}: median wall {wall * 1000:.0f} ms, "
              f"CPU {cpu * 1000:.0f} ms over {len(runs)} builds; {runs[-1][3]}")
        for name, _ in PHASES:
            marks = [r[2][name] for r in runs if name in r[2]]
            if marks:
                print(f"    {name} at {statistics.median(marks) * 1000:.0f} ms")
    a = statistics.median(r[1] for r in results[args.a])
    b = statistics.median(r[1] for r in results[args.b])
    print(f"CPU B/A: {b / a:.2f}")


if __name__ == "__main__":
    main()
