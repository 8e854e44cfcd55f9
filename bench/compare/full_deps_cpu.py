#!/usr/bin/env python3
"""Full dependencies on against off, interleaved, with CPU times.

For a loaded machine: each round builds the generated tree from clean with
full deps off and on (the order alternating between rounds), so both see
the same load, and takes the wall time and the user and system CPU of the
build (tupfs and every command it ran: rusage of the waited child).
Prints per-round numbers, medians and the on/off ratios.

Usage: bench/compare/full_deps_cpu.py [--n 1000] [--rounds 5] [--jobs 2]
       [--tupfs target/release/tupfs] [--out bench/out/fdcpu-n1000]
       [--modes off,on]   (a mode: off | on | floor | base)
       [--base OTHER_TUPFS]  (mode base: that binary with --full-deps,
                              to compare two builds of tupfs)
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, cwd):
    """Wall seconds, user and system CPU seconds of `cmd` and its children."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{err}")
    return wall, usage.ru_utime, usage.ru_stime


def build_cmd(mode, tupfs, jobs, base=None):
    if mode == "floor":
        return ["sh", "floor/full.sh"]
    cmd = [base if mode == "base" else tupfs, "build", f"-j{jobs}", "--no-cache"]
    if mode in ("on", "base"):
        cmd.append("--full-deps")
    return cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tupfs", default=os.path.join(REPO, "target/release/tupfs"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--modes", default="off,on")
    ap.add_argument("--base", default=None)
    a = ap.parse_args()
    out = a.out or os.path.join(REPO, "bench/out", f"fdcpu-n{a.n}")
    tree = os.path.join(out, "tree")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [sys.executable, os.path.join(REPO, "bench/gen/gen.py"), "--n", str(a.n), "--out", tree],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    modes = a.modes.split(",")
    tupfs = os.path.abspath(a.tupfs)
    results = {m: [] for m in modes}
    print(f"load before: {os.getloadavg()}", flush=True)
    for r in range(a.rounds):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for mode in order:
            subprocess.run(["sh", "floor/clean.sh"], cwd=tree, check=True)
            wall, user, sys_ = run(build_cmd(mode, tupfs, a.jobs, a.base and os.path.abspath(a.base)), tree)
            results[mode].append((wall, user, sys_))
            print(
                f"round {r + 1} {mode:5}: wall {wall:7.2f} s  user {user:7.2f} s  "
                f"sys {sys_:7.2f} s  cpu {user + sys_:7.2f} s  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"load after: {os.getloadavg()}")
    med = {}
    for mode, rows in results.items():
        med[mode] = [statistics.median(col) for col in zip(*rows)] + [
            statistics.median(u + s for _, u, s in rows)
        ]
        w, u, s, c = med[mode]
        print(f"median {mode:5}: wall {w:7.2f} s  user {u:7.2f} s  sys {s:7.2f} s  cpu {c:7.2f} s")
    for x, y in (("on", "off"), ("base", "off"), ("on", "base")):
        if x in med and y in med:
            compare(results, med, x, y)


def compare(results, med, x, y):
    """Print mode `x` against mode `y`: medians, and per round."""
    names = ["wall", "user", "sys", "cpu"]
    ratios = "  ".join(
        f"{n} {100 * (on / off - 1):+.1f}%" for n, on, off in zip(names, med[x], med[y])
    )
    print(f"{x} vs {y} (medians): {ratios}")
    paired = [
        100 * ((on[1] + on[2]) / (off[1] + off[2]) - 1)
        for on, off in zip(results[x], results[y])
    ]
    print(f"{x} vs {y} cpu, per round: {' '.join(f'{p:+.1f}%' for p in paired)}; "
          f"median {statistics.median(paired):+.1f}%")


if __name__ == "__main__":
    main()
