#!/usr/bin/env python3
"""Where a build's wall time goes between its jobs, from scheduler events.

Record a build with the kernel's process events, then read them back:

  perf record -o sched.data -e sched:sched_process_fork,sched:sched_process_exec,\\
      sched:sched_process_exit -- BUILD-COMMAND
  perf script -i sched.data | bench/compare/jobs.py --slots 2

A job is a process the build tool (or xargs, for the floor) forks that then
execs a shell. For each job: fork -> exec (start-up inside the child: for
tupfs the mount namespace, the bind mount and the chdir), exec -> exit (the
command itself), and the gap from a job's exit to the next job's fork (what
the tool does between jobs). Over the build: the span from the first fork to
the last exit, how much of it had all slots busy, and the sum of job times
divided by the slots (the span a perfect scheduler would need).
"""

import argparse
import re
import statistics
import sys

LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)\s+\[\d+\]\s+(?P<ts>[\d.]+):\s+"
                  r"sched:(?P<ev>sched_process_\w+):\s+(?P<rest>.*)$")


def parse(lines):
    """{pid: {"fork": ts, "parent_comm": c, "exec": ts, "file": f, "exit": ts}}"""
    procs = {}
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        ts, ev, rest = float(m["ts"]), m["ev"], m["rest"]
        if ev == "sched_process_fork":
            child = int(re.search(r"child_pid=(\d+)", rest).group(1))
            procs[child] = {"fork": ts, "parent_comm": m["comm"].strip(), "ppid": int(m["pid"])}
        elif ev == "sched_process_exec":
            p = procs.setdefault(int(m["pid"]), {})
            if "exec" not in p:
                p["exec"] = ts
                p["file"] = re.search(r"filename=(\S+)", rest).group(1)
        elif ev == "sched_process_exit":
            p = procs.setdefault(int(m["pid"]), {})
            p["exit"] = ts
    return procs


def jobs_of(procs, parents):
    """Processes forked by a process named in PARENTS that exec'd a shell."""
    return sorted((p for p in procs.values()
                   if p.get("parent_comm") in parents and p.get("file", "").endswith("/sh")
                   and "exit" in p), key=lambda p: p["fork"])


def busy_time(jobs, slots):
    """Seconds during which at least SLOTS jobs ran, and the span."""
    events = sorted([(j["fork"], 1) for j in jobs] + [(j["exit"], -1) for j in jobs])
    running, last, full = 0, events[0][0], 0.0
    for ts, d in events:
        if running >= slots:
            full += ts - last
        running += d
        last = ts
    return full, events[-1][0] - events[0][0]


def ms(x):
    return f"{x * 1000:.2f} ms"


def report(jobs, slots):
    startup = [j["exec"] - j["fork"] for j in jobs]
    run = [j["exit"] - j["exec"] for j in jobs]
    total = [j["exit"] - j["fork"] for j in jobs]
    forks = sorted(j["fork"] for j in jobs)
    gaps = []
    for j in jobs:
        later = [f for f in forks if f >= j["exit"]]
        if later:
            gaps.append(later[0] - j["exit"])
    full, span = busy_time(jobs, slots)
    ideal = sum(total) / slots
    print(f"jobs: {len(jobs)}")
    print(f"span (first fork -> last exit): {span:.2f} s")
    print(f"sum of job times / {slots}: {ideal:.2f} s  (span - that = {span - ideal:.2f} s "
          f"with a slot idle)")
    print(f"all {slots} slots busy: {full:.2f} s = {100 * full / span:.1f}% of the span")
    print(f"fork -> exec (start-up in the child): median {ms(statistics.median(startup))}, "
          f"sum {sum(startup):.2f} s")
    print(f"exec -> exit (the command): median {ms(statistics.median(run))}, sum {sum(run):.2f} s")
    print(f"exit -> next job's fork (between jobs): median {ms(statistics.median(gaps))}, "
          f"sum {sum(gaps):.2f} s over {len(gaps)} exits")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slots", type=int, default=2, help="parallel jobs (-j)")
    ap.add_argument("--parents", default="tupfs,ninja,make,tup,xargs",
                    help="comma-separated names of the processes that fork jobs")
    args = ap.parse_args()
    jobs = jobs_of(parse(sys.stdin), set(args.parents.split(",")))
    if not jobs:
        sys.exit("jobs.py: no jobs found (a fork by one of --parents, then an exec of a shell)")
    report(jobs, args.slots)


if __name__ == "__main__":
    main()
