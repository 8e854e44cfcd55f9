#!/usr/bin/env python3
"""Read `perf script` output of phases.sh: the timeline of one tupfs build
(its phases from uprobes, in ms since tupfs's exec) and, per job, the
medians of each step from the worker's start to the next job's start.

Usage: perf script -i DATA | bench/compare/phases.py   (or a file argument)
"""

import re
import statistics
import sys

LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<tid>\d+)\s+\[\d+\]\s+(?P<ts>[\d.]+):\s+"
                  r"(?P<ev>\S+):\s*(?P<rest>.*)$")
PHASES = ["parse", "graphbuild", "planmake", "mount", "unmount", "idxwrite"]
STEPS = ["start_job", "start_job -> fork", "fork -> exec", "exec -> exit", "exit -> reaped",
         "reaped -> Job::finish", "Job::finish", "job done -> settle", "settle",
         "settle -> next job"]


def events(lines):
    out = []
    for line in lines:
        m = LINE.match(line)
        if m:
            name = m["ev"].split(":", 1)[1]
            out.append((float(m["ts"]), int(m["tid"]), m["comm"].strip(), name, m["rest"]))
    return sorted(out)


def child_of(rest):
    return int(re.search(r"child_pid=(\d+)", rest).group(1))


def analyse(evs):
    """(t0, {phase mark: ts}, {step: [seconds]}, jobs)"""
    t0 = main = None
    marks, procs, workers = {}, {}, {}
    steps = {s: [] for s in STEPS}
    last_settle_out = last_job_done = settle_in = None
    for ts, tid, comm, name, rest in evs:
        if name == "sched_process_exec" and t0 is None and rest.rstrip().endswith(("tupfs", "old_pid=" + str(tid))):
            t0, main = ts, tid
        if t0 is None:
            continue
        w = workers.setdefault(tid, {})
        if name.endswith(("_in", "_out")) and name.rsplit("_", 1)[0] in PHASES:
            marks.setdefault(name, ts)
        if name == "sched_process_fork":
            procs[child_of(rest)] = {"fork": ts, "parent": tid}
            if "sj_out" in w and "fork" not in w:
                w["fork"], w["child"] = ts, child_of(rest)
        elif name == "sched_process_exec" and tid in procs:
            procs[tid].setdefault("exec", ts)
        elif name == "sched_process_exit":
            if tid in procs:
                procs[tid]["exit"] = ts
            if tid == main:
                marks["exit"] = ts
        elif name == "sys_exit_wait4" and "child" in w:
            w.setdefault("reaped", ts)
        elif name == "jobrun_in":
            if last_settle_out is not None:
                steps["settle -> next job"].append(ts - last_settle_out)
                last_settle_out = None
            workers[tid] = {}
        elif name in ("startjob_in", "startjob_out", "finish_in", "finish_out"):
            w[{"startjob_in": "sj_in", "startjob_out": "sj_out",
               "finish_in": "f_in", "finish_out": "f_out"}[name]] = ts
        elif name == "jobrun_out":
            record_job(w, procs.get(w.get("child"), {}), steps)
            last_job_done = ts
        elif name == "settle_in":
            settle_in = ts
            if last_job_done is not None:
                steps["job done -> settle"].append(ts - last_job_done)
        elif name == "settle_out" and settle_in is not None:
            steps["settle"].append(ts - settle_in)
            last_settle_out = ts
    runners = {tid for tid, w in workers.items() if w.get("child")}
    jobs = [p for p in procs.values() if "exec" in p and "exit" in p and p["parent"] in runners]
    return t0, marks, steps, jobs


def record_job(w, p, steps):
    pairs = [("start_job", "sj_in", "sj_out", w, w), ("start_job -> fork", "sj_out", "fork", w, w),
             ("fork -> exec", "fork", "exec", p, p), ("exec -> exit", "exec", "exit", p, p),
             ("exit -> reaped", "exit", "reaped", p, w), ("reaped -> Job::finish", "reaped", "f_in", w, w),
             ("Job::finish", "f_in", "f_out", w, w)]
    for step, a, b, da, db in pairs:
        if a in da and b in db:
            steps[step].append(db[b] - da[a])


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    t0, marks, steps, jobs = analyse(events(src))
    if t0 is None:
        sys.exit("phases.py: no exec of tupfs in the events")

    def ms(ts):
        return f"{1000 * (ts - t0):8.1f}"
    print("timeline, ms since tupfs's exec:")
    for k in [f"{p}_{e}" for p in PHASES for e in ("in", "out")] + ["exit"]:
        if k in marks:
            print(f"  {k:16s} {ms(marks[k])}")
    if jobs:
        total = sum(j["exit"] - j["fork"] for j in jobs)
        print(f"  jobs: {len(jobs)}, first fork {ms(min(j['fork'] for j in jobs))}, "
              f"last exit {ms(max(j['exit'] for j in jobs))}, sum of fork->exit {1000 * total:.1f} ms")
    print("per job (medians):")
    for step in STEPS:
        v = steps[step]
        if v:
            print(f"  {step:22s} {1000 * statistics.median(v):8.3f} ms  (n={len(v)}, sum {sum(v):.2f} s)")


if __name__ == "__main__":
    main()
