#!/usr/bin/env python3
"""Interleaved A/B of tupfs binaries on one tree built by run.py: each round
runs CASE (noop, touch-c, edit-h) once with each binary, in turn.
Per binary: the median wall time, CPU time (user + system of tupfs and
its children: the compilers too, so compare noops for tupfs's own CPU)
and each `-vv` `timing:` phase. Run it with the python run.py uses: the
commands record $PATH, and another PATH re-runs every command.
Usage: bench/compare/ab.py TREE CASE ROUNDS BIN...
  e.g. bench/compare/ab.py bench/out/n1000/tupfs noop 15 /tmp/tupfs-main target/release/tupfs"""
import json, os, re, resource, statistics, subprocess, sys, time
tree, case, rounds, bins = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
m = json.load(open(os.path.join(tree, "bench.json")))
def prep():
    if case == "touch-c":
        time.sleep(0.05); os.utime(os.path.join(tree, m["touch_c"]))
    elif case == "edit-h":
        p = os.path.join(tree, m["edit_h"]); s = open(p).read()
        mac = m["edit_macro"]
        s = re.sub(r"(#define %s )(\d+)" % mac, lambda g: g.group(1) + str(int(g.group(2)) + 1), s)
        time.sleep(0.05); open(p, "w").write(s)
res = {b: {} for b in bins}
pat = re.compile(r"timing: (.*?) (?:at|in) ([0-9.]+)(ns|µs|ms|s)$")
unit = {"ns": 1e-6, "µs": 1e-3, "ms": 1, "s": 1000}
for r in range(rounds):
    for b in bins:
        prep()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        p = subprocess.run([b, "build", "-j2", "--no-cache", "--change", "mtime", "-vv"], cwd=tree,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = (time.perf_counter() - t) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
        d = res[b]
        d.setdefault("wall", []).append(wall); d.setdefault("cpu", []).append(cpu)
        ran = [l for l in p.stdout.splitlines() if "commands ran" in l or "Nothing to do" in l]
        d.setdefault("_ran", set()).add(ran[-1] if ran else "?")
        for line in p.stdout.splitlines():
            mm = pat.search(line)
            if mm:
                key = re.sub(r"[0-9]+ (of [0-9]+ )?", "", mm.group(1).split(":")[0])[:40]
                d.setdefault(key, []).append(float(mm.group(2)) * unit[mm.group(3)])
keys = []
for b in bins:
    for k in res[b]:
        if k not in keys and not k.startswith("_"): keys.append(k)
print("load", open("/proc/loadavg").read().split()[0], "case", case, "rounds", rounds)
print("%-42s" % "phase (ms, median)" + "".join("%14s" % os.path.basename(b)[:13] for b in bins))
for k in keys:
    print("%-42s" % k + "".join("%14s" % ("%.2f" % statistics.median(res[b][k]) if k in res[b] else "-") for b in bins))
for b in bins: print(b, res[b]["_ran"])
