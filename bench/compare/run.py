#!/usr/bin/env python3
"""Compare tupfs against tup, ninja, make and the untraced floor.

One command. For each size N it generates the same synthetic C project once
per tool (bench/gen/gen.py, trees under bench/out/nN/TOOL), then measures at
-j2, side by side:

  full     build from clean (outputs and the tool's state removed)
  noop     nothing changed
  touch-c  one .c touched (mtime only)
  edit-h   one header included by ~7 files edited (a #define changes, so the
           objects and programs really change)

Timing is hyperfine (--export-json, medians). The first clean build of each
tool is a checked run: it checks that the tool builds every output, gives the
peak memory of the full build and counts as one full-build sample. Every
other case gets one more checked run after its timed runs: the outputs are
snapshotted before and after, and the case must have rebuilt exactly what it
should (see check_case), with its peak memory (the largest process, and the
build tool's own process). Results merge into bench/out/results.json (keyed
by N, tool, case), and every run rewrites bench/out/table.md and
bench/out/compare.png.

Budget: the plan and its estimated duration are printed first (--plan prints
only that). The tupfs change modes share one tree; at N > 2000 only the
first mode gets a clean full build (--full-modes), the others start from the
built tree with an untimed update build. Each tree is read once before its
tool's first build so every tool starts with its sources in the page cache.

Installs nothing: if a tool is missing it prints the apt-get line and exits.
Usage: bench/compare/run.py [--sizes 1000,10000] [--runs K] [--tools LIST]
       [--cases LIST] [--quick] [--report]
"""

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(REPO, "bench", "gen", "gen.py")
# Trees, logs and results; BENCH_OUT moves them (e.g. a second run beside one in progress).
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(REPO, "bench", "out")))
RESULTS = os.path.join(OUT, "results.json")
APT_LINE = "apt-get install tup ninja-build hyperfine python3-matplotlib"

CASES = ["full", "noop", "touch-c", "edit-h"]
TUPFS_MODES = ["mtime", "digest", "mtime+digest", "mtime+digest-inputs"]
# The order the modes are measured in on their shared tree: `digest` needs a
# recorded digest of every file or it rebuilds everything once, and the
# `mtime+digest` update build records one for every file.
TUPFS_RUN_ORDER = ["mtime", "mtime+digest", "digest", "mtime+digest-inputs"]
# Above this N, full builds are the budget: fewer runs, one tupfs mode.
SMALL_N = 2000
BASE_TOOLS = ["floor", "ninja", "make", "tup"]
JOBS = 2
# A build that takes longer than this is treated as hung.
BUILD_TIMEOUT_S = 4 * 3600


class Tool:
    """How one build system builds a generated tree (run from the tree root)."""

    def __init__(self, name, tree_name, argv, mode=None, monitor=None):
        self.name = name  # shown in tables, e.g. "tupfs[digest]"
        self.tree_name = tree_name  # trees are shared by the tupfs modes
        self.argv = argv  # None for the floor: its script depends on the case
        self.mode = mode  # tupfs change mode, else None
        # (start argv, stop argv) of a file watcher that runs while the
        # incremental cases are timed (tup monitor, tupfs monitor), else None.
        self.monitor = monitor

    def command(self, case):
        """The shell command that brings the tree up to date for CASE."""
        if self.argv is None:
            return f"sh floor/{case}.sh"
        return " ".join(shlex.quote(a) for a in self.argv)

    def sees_touch(self):
        """Whether touching a file (mtime only) must rebuild its object."""
        return self.mode in (None, "mtime")


def tupfs_bin():
    path = os.environ.get("TUPFS_BIN", "target/release/tupfs")
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def make_tools(selected, modes):
    tools = []
    for name in selected:
        if name == "floor":
            tools.append(Tool("floor", "floor", None))
        elif name == "ninja":
            tools.append(Tool("ninja", "ninja", ["ninja", f"-j{JOBS}"]))
        elif name == "make":
            tools.append(Tool("make", "make", ["make", f"-j{JOBS}", "-s"]))
        elif name == "tup":
            tools.append(Tool("tup", "tup", ["tup", f"-j{JOBS}", "--quiet"]))
        elif name == "tupfs":
            for m in sorted(modes, key=TUPFS_RUN_ORDER.index):
                # --no-cache: a full build must build, not restore from the
                # output cache (bench/compare/cache.py measures that).
                argv = [tupfs_bin(), "build", f"-j{JOBS}", "--no-cache", "--change", m]
                tools.append(Tool(f"tupfs[{m}]", "tupfs", argv, m))
        elif name == "tup-monitor":
            tools.append(Tool("tup+monitor", "tup-monitor", ["tup", f"-j{JOBS}", "--quiet"],
                              monitor=(["tup", "monitor"], ["tup", "stop"])))
        elif name == "tupfs-monitor":
            # --no-cache as above: a touched source must be compiled, not
            # restored (before session 8 it was left on here, and touch-c
            # with the monitor could be a cache hit).
            argv = [tupfs_bin(), "build", f"-j{JOBS}", "--no-cache", "--change", "mtime"]
            tools.append(Tool("tupfs[mtime]+monitor", "tupfs-monitor", argv, "mtime",
                              monitor=([tupfs_bin(), "monitor"], [tupfs_bin(), "stop"])))
        else:
            raise SystemExit(f"run.py: unknown tool {name!r} (want floor, ninja, make, tup, "
                             "tupfs, tup-monitor, tupfs-monitor)")
    return tools


def have_matplotlib():
    """Import matplotlib, re-running under the system python that apt installs into."""
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        system = "/usr/bin/python3"
        if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system):
            # e.g. a pyenv python3 first on PATH: python3-matplotlib is not in it.
            if subprocess.run([system, "-c", "import matplotlib"], stderr=subprocess.DEVNULL).returncode == 0:
                os.execv(system, [system] + sys.argv)
        return False


def check_prerequisites(tools):
    """Exit with the apt-get line if anything needed is missing."""
    need = {"hyperfine", "gcc", "sh"}
    for t in tools:
        if t.argv and not t.tree_name.startswith("tupfs"):
            need.add(t.argv[0])
    missing = sorted(c for c in need if shutil.which(c) is None)
    if not have_matplotlib():
        missing.append("python3-matplotlib")
    if missing:
        print(APT_LINE)
        sys.exit(1)
    if not os.access("/usr/bin/time", os.X_OK):
        print("apt-get install time")
        sys.exit(1)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def sh(cmd, cwd, timeout=BUILD_TIMEOUT_S):
    """Run a shell command; return (exit code, stdout + stderr)."""
    try:
        p = subprocess.run(cmd, shell=True, cwd=cwd, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout}s: {cmd}"


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no output)"


class Peak:
    """Peak memory of one run: the largest process anywhere in the build
    (wait4's ru_maxrss: for a compiling case that is cc1) and the build
    tool's own process (its VmHWM, polled; for tupfs this includes the FUSE
    daemon, which runs in it)."""

    def __init__(self, any_kib, tool_kib):
        self.any_kib = any_kib
        self.tool_kib = tool_kib


def run_measured(cmd, cwd):
    """Run CMD (no shell: its first word is the measured process) under
    /usr/bin/time and return (exit code, seconds, Peak, output).

    /usr/bin/time reports the largest process of the build: this script
    cannot, because a child forked from python starts with python's
    resident set as its high-water mark."""
    with tempfile.TemporaryFile("w+") as out, tempfile.NamedTemporaryFile("r") as tf:
        argv = ["/usr/bin/time", "-f", "%M", "-o", tf.name] + shlex.split(cmd)
        start = time.monotonic()
        p = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        hwm, status_path = 0, None
        while p.poll() is None:
            elapsed = time.monotonic() - start
            if elapsed > BUILD_TIMEOUT_S:
                p.kill()
            status_path = status_path or tool_status_path(p.pid)
            if status_path:
                hwm = max(hwm, vm_hwm_kib(status_path))
            # VmHWM only grows: polling late still sees an earlier peak. Poll
            # often while a no-op might end, rarely during a long build.
            time.sleep(0.001 if elapsed < 1 else 0.05)
        secs = time.monotonic() - start
        out.seek(0)
        try:
            any_kib = int(tf.read().split()[-1])
        except (ValueError, IndexError):
            any_kib = None
        # A tool that exited before the first poll ran alone: its peak is the build's.
        return p.returncode, secs, Peak(any_kib, hwm or any_kib), out.read()


def tool_status_path(time_pid):
    """/proc/PID/status of the tool /usr/bin/time started, once it exists."""
    try:
        with open(f"/proc/{time_pid}/task/{time_pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return f"/proc/{kids[0]}/status" if kids else None


def vm_hwm_kib(status_path):
    """A live process's peak resident set (VmHWM) in KiB; 0 once it is gone."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def prepare_command(case, manifest):
    """What to do before each timed run of CASE (not timed)."""
    if case == "full":
        return "sh floor/clean.sh"
    # tup 0.7.11 keeps mtimes in whole seconds and misses a change made in
    # the same second as the last one it saw: wait a second (untimed) first.
    if case == "touch-c":
        return f"sleep 1 && touch {manifest['touch_c']}"
    if case == "edit-h":
        # Bump the header's #define: every includer's object really changes.
        macro = manifest["edit_macro"]
        return (f"sleep 1 && perl -pi -e 's/^(#define {macro} )(\\d+)/$1.($2+1)/e' "
                f"{manifest['edit_h']}")
    return None


class Snapshot:
    """Every output's mtime, and the contents of the ones a case must change."""

    def __init__(self, tree, manifest, hashed):
        self.mtimes = {}
        for o in manifest["outputs"]:
            try:
                self.mtimes[o] = os.stat(os.path.join(tree, o)).st_mtime_ns
            except FileNotFoundError:
                self.mtimes[o] = None
        self.digests = {}
        for o in hashed:
            try:
                with open(os.path.join(tree, o), "rb") as f:
                    self.digests[o] = hashlib.sha256(f.read()).hexdigest()
            except FileNotFoundError:
                self.digests[o] = None


def expected_changes(tool, case, manifest):
    """(outputs that must come out with new contents, outputs that may be
    rewritten) for one run of CASE. Everything else must stay untouched."""
    if case == "edit-h":
        return manifest["edit_rebuilds"] + manifest["edit_relinks"], []
    if case == "touch-c" and tool.sees_touch():
        # Rebuilt from the same source: the object's mtime moves (its bytes
        # may not), and a tool may relink the program or cut off early.
        prog = os.path.dirname(manifest["touch_o"]) + "/prog"
        return [], [manifest["touch_o"], prog]
    return [], []  # noop, and touch-c in the digest modes: nothing runs


def check_case(tool, case, manifest, before, after):
    """Did one run of CASE rebuild exactly what it had to? "ok" or what is wrong."""
    must, may = expected_changes(tool, case, manifest)
    problems = []
    same = [o for o in must if after.digests.get(o) == before.digests.get(o)]
    if same:
        problems.append(f"not rebuilt ({len(same)}): {', '.join(same[:3])}")
    if case == "touch-c" and tool.sees_touch():
        o = manifest["touch_o"]
        if after.mtimes[o] == before.mtimes[o]:
            problems.append(f"not rebuilt: {o}")
    moved = [o for o, t in after.mtimes.items()
             if t != before.mtimes[o] and o not in must and o not in may]
    if moved:
        problems.append(f"rebuilt without cause ({len(moved)}): {', '.join(sorted(moved)[:3])}")
    missing = [o for o, t in after.mtimes.items() if t is None]
    if missing:
        problems.append(f"missing ({len(missing)}): {', '.join(missing[:3])}")
    return "ok" if not problems else "; ".join(problems)


def checked_run(tool, case, tree, manifest):
    """One untimed run of CASE between two snapshots of the outputs:
    (Peak, check) or (None, why it failed)."""
    must, may = expected_changes(tool, case, manifest)
    before = Snapshot(tree, manifest, must)
    prep = prepare_command(case, manifest)
    if prep:
        sh(prep, tree)
    rc, _, peak, out = run_measured(tool.command(case), tree)
    if rc != 0:
        return None, f"exit {rc}: {first_line(out)}"
    return peak, check_case(tool, case, manifest, before, Snapshot(tree, manifest, must))


def hyperfine(tool, case, tree, runs, warmup, manifest, json_path):
    """Time CASE with hyperfine; return the list of run times in seconds."""
    # -N: no intermediate shell, so a 3 ms no-op is not mostly shell start-up.
    argv = ["hyperfine", "-N", "--style", "basic", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", json_path, "--command-name", f"{tool.name} {case}"]
    prep = prepare_command(case, manifest)
    if prep:
        argv += ["--prepare", f"sh -c {shlex.quote(prep)}"]
    argv.append(tool.command(case))
    log = json_path[: -len(".json")] + ".log"
    with open(log, "w") as f:
        try:
            p = subprocess.run(argv, cwd=tree, stdout=f, stderr=subprocess.STDOUT,
                               timeout=BUILD_TIMEOUT_S * max(runs + warmup, 1))
        except subprocess.TimeoutExpired:
            return None, f"hyperfine timed out (see {log})"
    if p.returncode != 0:
        with open(log) as f:
            return None, f"hyperfine failed (see {log}): {first_line(f.read())}"
    with open(json_path) as f:
        return json.load(f)["results"][0]["times"], None


def warm(tree):
    """Read every file of TREE once (untimed), so each tool's first build
    finds its sources in the page cache as the others did."""
    for root, _, files in os.walk(tree):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 20):
                        pass
            except OSError:
                pass


def probe(tool, tree, manifest, clean):
    """The first build of TOOL on TREE, checked and measured: from clean
    (a full-build sample) or, reusing a built tree, an update build.
    Returns (sample, None) or (None, why it failed)."""
    if clean:
        sh("sh floor/clean.sh", tree)
    warm(tree)
    load = loadavg()
    # Reusing, bring the tree up to date; the floor cannot tell what is stale,
    # so it only checks (a tree copied from make's works for it too).
    rc, secs, peak, out = run_measured(tool.command("full" if clean else "noop"), tree)
    if rc != 0:
        return None, first_line(out)
    missing = [o for o in manifest["outputs"] if not os.path.exists(os.path.join(tree, o))]
    if missing:
        return None, f"outputs missing: {missing[0]} and {len(missing) - 1} more"
    return {"secs": secs, "peak": peak, "load": load}, None


VERSIONS = {}


def version_of(tool):
    """What exactly was measured: the tupfs binary and the commit of this
    checkout, or the tool's own --version line."""
    if tool.tree_name not in VERSIONS:
        if tool.tree_name.startswith("tupfs"):
            _, head = sh("git rev-parse --short HEAD && git status --porcelain -- src fuse Cargo.lock | head -1",
                         REPO, timeout=30)
            lines = head.split("\n")
            dirty = "+changes" if len(lines) > 1 and lines[1].strip() else ""
            VERSIONS[tool.tree_name] = f"{tool.argv[0]} (checkout {lines[0].strip()}{dirty})"
        elif tool.argv is None:
            VERSIONS[tool.tree_name] = "sh + xargs -P2"
        else:
            _, out = sh(f"{tool.argv[0]} --version", REPO, timeout=30)
            VERSIONS[tool.tree_name] = f"{tool.argv[0]} {first_line(out)}"
    return VERSIONS[tool.tree_name]


def entry_of(tool, case, n, times, peak, check, load, manifest):
    return {
        "version": version_of(tool),
        "n": n, "tool": tool.name, "case": case, "times": times,
        "median": statistics.median(times), "min": min(times), "max": max(times),
        "runs": len(times), "max_rss_kib": peak.any_kib, "tool_rss_kib": peak.tool_kib,
        "check": check, "load_before": load, "load_after": loadavg(), "when": now(),
        "command": tool.command(case), "prepare": prepare_command(case, manifest),
    }


def measure_case(tool, case, n, tree, manifest, args, first):
    """Time one case (FIRST is the probe's sample); return (entry, error)."""
    json_path = os.path.join(OUT, f"n{n}", f"{tool.name}.{case}.json")
    if case == "full":
        load, times, peak = first["load"], [first["secs"]], first["peak"]
        extra = args.full_runs_for(n) - 1
        if extra > 0:
            more, err = hyperfine(tool, case, tree, extra, 0, manifest, json_path)
            if err:
                return None, err
            times += more
        return entry_of(tool, case, n, times, peak, "ok", load, manifest), None
    load = loadavg()
    times, err = hyperfine(tool, case, tree, args.runs_for(n), 1, manifest, json_path)
    if err:
        return None, err
    peak, check = checked_run(tool, case, tree, manifest)
    if peak is None:
        return None, f"checked run failed: {check}"
    return entry_of(tool, case, n, times, peak, check, load, manifest), None


def builds_clean(tool, n, args):
    """Whether TOOL starts from clean at size N (else from the built tree)."""
    if args.reuse:
        return False
    return tool.mode is None or tool.mode in args.full_modes_for(n)


def measure_tool(tool, n, cases, args, manifest, tree, results):
    """All cases for one tool at one size; results go into RESULTS."""
    def not_measured(case, why):
        results[f"{n}/{tool.name}/{case}"] = {
            "n": n, "tool": tool.name, "case": case, "not_measured": why, "when": now()}

    clean = builds_clean(tool, n, args)
    first, why = probe(tool, tree, manifest, clean=clean)
    if first is None:
        print(f"{tool.name}: not measured (build failed: {why})", flush=True)
        for case in cases:
            not_measured(case, f"build failed: {why}")
        return
    print(f"  {tool.name}: {'clean' if clean else 'update'} build ok in {first['secs']:.2f}s,"
          f" max RSS {first['peak'].any_kib} KiB", flush=True)
    if tool.monitor:
        with_monitor(tool, tree, lambda: measure_cases(tool, n, cases, args, manifest, tree,
                                                       results, first, clean, not_measured))
    else:
        measure_cases(tool, n, cases, args, manifest, tree, results, first, clean, not_measured)


def with_monitor(tool, tree, measure):
    """Start TOOL's watcher in TREE, settle it with two untimed builds (the
    first with a new watcher may judge everything), run MEASURE, print the
    watcher's resident set and CPU time, and stop it (also when MEASURE
    fails)."""
    start, stop = tool.monitor
    # The watcher detaches: its output must not keep sh()'s pipe open.
    quiet = " >/dev/null 2>&1 </dev/null"
    rc, _ = sh(" ".join(shlex.quote(a) for a in start) + quiet, tree, timeout=120)
    if rc != 0:
        print(f"  {tool.name}: the monitor did not start (exit {rc})", flush=True)
        return
    try:
        sh(tool.command("noop"), tree)
        sh(tool.command("noop"), tree)
        measure()
        print(f"  {tool.name}: monitor {monitor_usage(tree)}", flush=True)
    finally:
        sh(" ".join(shlex.quote(a) for a in stop), tree, timeout=120)


def monitor_pid(tree):
    """The pid of the watcher running in TREE: from .tupfs/monitor.lock, or
    the process whose command line is `... monitor` and whose working
    directory is TREE."""
    try:
        with open(os.path.join(tree, ".tupfs/monitor.lock")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if b"monitor" in argv and os.readlink(f"/proc/{entry}/cwd") == os.path.realpath(tree):
                return int(entry)
        except (OSError, ValueError):
            continue
    return None


def monitor_usage(tree):
    """The running monitor's resident set and CPU time, if it can be found."""
    pid = monitor_pid(tree)
    if pid is None:
        return "(pid unknown)"
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return f"pid {pid} (gone)"
    return f"pid {pid}: RSS {rss} KiB, CPU {cpu:.2f} s since it started"


def measure_cases(tool, n, cases, args, manifest, tree, results, first, clean, not_measured):
    """The cases of one tool at one size, after its first build."""
    for case in cases:
        if case == "full" and tool.monitor:
            print(f"  {tool.name} full: skipped (a clean build removes the watcher's state)",
                  flush=True)
            continue
        if case == "full" and not clean:
            print(f"  {tool.name} full: skipped (starts from the built tree)", flush=True)
            continue
        entry, err = measure_case(tool, case, n, tree, manifest, args, first)
        if err:
            print(f"{tool.name}: not measured ({case}: {err})", flush=True)
            not_measured(case, err)
            continue
        results[f"{n}/{tool.name}/{case}"] = entry
        print(f"  {tool.name} {case}: median {entry['median']:.3f}s over {entry['runs']} runs,"
              f" load {entry['load_before']:.1f}->{entry['load_after']:.1f},"
              f" check: {entry['check']}", flush=True)
        save(results)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load_results(fresh):
    if fresh or not os.path.exists(RESULTS):
        return {}
    with open(RESULTS) as f:
        return json.load(f).get("entries", {})


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release()}


def save(results):
    os.makedirs(OUT, exist_ok=True)
    tmp = RESULTS + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"machine": machine(), "entries": results}, f, indent=1, sort_keys=True)
    os.replace(tmp, RESULTS)


def fmt_s(x):
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def mib(kib):
    return f"{kib / 1024:.0f} MB" if kib else "-"


def ratio(entry, base):
    if not base or "median" not in base or base["median"] <= 0:
        return "-"
    return f"{entry['median'] / base['median']:.2f}"


def table(results):
    """A markdown table of medians and ratios, one block per size and case."""
    order = ["tupfs[" + m + "]" for m in TUPFS_MODES] + ["tup", "ninja", "make", "floor"]
    rows = ["| N | case | tool | median | min..max | runs | x ninja | x tup | x floor "
            "| tool RSS | max RSS | load | check |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    sizes = sorted({e["n"] for e in results.values()})
    for n in sizes:
        for case in CASES:
            at = {e["tool"]: e for e in results.values() if e["n"] == n and e["case"] == case}
            for tool in [t for t in order if t in at] + sorted(set(at) - set(order)):
                e = at[tool]
                if "median" not in e:
                    rows.append(f"| {n} | {case} | {tool} | not measured ({e['not_measured']}) "
                                "| | | | | | | | | |")
                    continue
                floor = at.get("floor") if case != "noop" else None
                rss = mib(e.get("max_rss_kib"))
                own = mib(e.get("tool_rss_kib")) if tool != "floor" else "-"
                load = f"{e['load_before']:.1f}"
                rows.append(
                    f"| {n} | {case} | {tool} | {fmt_s(e['median'])} | "
                    f"{fmt_s(e['min'])}..{fmt_s(e['max'])} | {e['runs']} | "
                    f"{ratio(e, at.get('ninja'))} | {ratio(e, at.get('tup'))} | "
                    f"{ratio(e, floor)} | {own} | {rss} | {load} | {e.get('check') or '-'} |")
    return "\n".join(rows) + "\n"


def plot(results, path):
    """Median time against N, one panel per case, one line per tool."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    measured = [e for e in results.values() if "median" in e]
    known = ["tup", "ninja", "make", "floor"] + ["tupfs[" + m + "]" for m in TUPFS_MODES]
    tools = [t for t in known if any(e["tool"] == t for e in measured)]
    tools += sorted({e["tool"] for e in measured} - set(known))
    colors = {t: plt.cm.tab10(i % 10) for i, t in enumerate(tools)}  # same colour in every panel
    sizes = sorted({e["n"] for e in measured})
    fig, axes = plt.subplots(1, len(CASES), figsize=(4.2 * len(CASES), 4.4))
    for ax, case in zip(axes, CASES):
        for tool in tools:
            pts = sorted((e["n"], e["median"]) for e in measured
                         if e["tool"] == tool and e["case"] == case)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=tool,
                        color=colors[tool], linestyle="--" if tool.startswith("tupfs") else "-")
        ax.set_title(case)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: fmt_s(y)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("N (.c files)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("median wall time, -j2 (log)")
    handles = [plt.Line2D([], [], color=colors[t], marker="o",
                          linestyle="--" if t.startswith("tupfs") else "-") for t in tools]
    fig.legend(handles, tools, loc="lower center", ncol=min(len(tools), 8))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 1000,10000; --quick: 100)")
    ap.add_argument("--runs", type=int, default=None,
                    help=f"timed runs per incremental case (default 10 at N<={SMALL_N}, else 5; --quick: 3)")
    ap.add_argument("--full-runs", type=int, default=None,
                    help=f"full builds per tool (default 3 at N<={SMALL_N}, else 1; --quick: 1)")
    ap.add_argument("--full-modes", default=None,
                    help=f"tupfs modes that get a clean full build (default: all at N<={SMALL_N}, "
                         "else the first measured); the others start from the built tree")
    ap.add_argument("--tools", default="tupfs,tup,ninja,make,floor", help="comma-separated tools")
    ap.add_argument("--tupfs-modes", default=",".join(TUPFS_MODES), help="tupfs --change modes to measure")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small and fast: a smoke test")
    ap.add_argument("--reuse", action="store_true",
                    help="keep trees already generated (and built) at this size; skips the full case")
    ap.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                    help="lower --runs, then --full-runs at small N, until the estimate fits")
    ap.add_argument("--plan", action="store_true", help="print the plan and its estimated duration only")
    ap.add_argument("--fresh", action="store_true", help="forget earlier results in bench/out/results.json")
    ap.add_argument("--report", action="store_true", help="only print the table and redraw the plot")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in (args.sizes or ("100" if args.quick else "1000,10000")).split(",")]
    args.runs_for = lambda n: args.runs or (3 if args.quick else 10 if n <= SMALL_N else 5)
    args.full_runs_for = lambda n: args.full_runs or (1 if args.quick or n > SMALL_N else 3)
    args.tools = [t for t in args.tools.split(",") if t]
    args.tupfs_modes = [m for m in args.tupfs_modes.split(",") if m]
    for m in args.tupfs_modes:
        if m not in TUPFS_MODES:
            ap.error(f"unknown tupfs mode {m!r} (want {', '.join(TUPFS_MODES)})")
    first_mode = min(args.tupfs_modes, key=TUPFS_RUN_ORDER.index) if args.tupfs_modes else None
    full_modes = args.full_modes.split(",") if args.full_modes else None
    args.full_modes_for = lambda n: full_modes or (args.tupfs_modes if n <= SMALL_N else [first_mode])
    args.cases = [c for c in args.cases.split(",") if c]
    for c in args.cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r} (want {', '.join(CASES)})")
    return args


# An earlier median taken at a higher load average is no estimate.
QUIET_LOAD = 2.0
# What a run is guessed to cost when results.json has no earlier median at
# that size: seconds per .c file for a full build (gcc -O2 at -j2 on the
# reference machine: ~10 ms), and for a no-op.
GUESS_FULL_S_PER_FILE = {"floor": 0.010, "ninja": 0.010, "make": 0.0105, "tup": 0.0155,
                         "tupfs": 0.013}
GUESS_NOOP_S_PER_FILE = {"floor": 0.0, "ninja": 0.00001, "make": 0.00002, "tup": 0.00002,
                         "tupfs": 0.00006}


def guess(tool, case, n, known):
    """Seconds one run of CASE is expected to take: the last median measured
    at this size on a quiet machine, else a guess from the size."""
    e = known.get(f"{n}/{tool.name}/{case}")
    if e and "median" in e and e.get("load_before", 99) < QUIET_LOAD:
        return e["median"]
    base = tool.tree_name.split("-")[0]
    noop = GUESS_NOOP_S_PER_FILE[base] * n + 0.003
    if case == "full":
        return GUESS_FULL_S_PER_FILE[base] * n
    if case == "noop":
        return noop
    # touch-c compiles one file and links one program; edit-h seven of each.
    return noop + (0.06 if case == "touch-c" else 0.3)


def plan(tools, args, known):
    """[(what, seconds)] for the whole run, untimed work included."""
    steps = []
    for n in args.sizes:
        trees = {t.tree_name for t in tools}
        steps.append((f"N={n}: generate {len(trees)} trees", 0.0005 * n * len(trees)))
        for tool in tools:
            clean = builds_clean(tool, n, args)
            full = guess(tool, "full", n, known)
            if clean:
                runs = args.full_runs_for(n) if "full" in args.cases else 1
                steps.append((f"N={n} {tool.name}: {runs} full build(s)", runs * full * 1.02))
            else:
                steps.append((f"N={n} {tool.name}: update build", guess(tool, "noop", n, known)))
            for case in args.cases:
                if case == "full":
                    continue
                runs = args.runs_for(n) + 2  # + hyperfine's warmup + the checked run
                idle = 1.0 if case in ("touch-c", "edit-h") else 0.0  # the untimed sleep
                steps.append((f"N={n} {tool.name} {case}: {runs} runs",
                              runs * (guess(tool, case, n, known) + idle + 0.02)))
    return steps


def fit_budget(tools, args, known):
    """Lower the run counts until the plan fits --budget minutes."""
    if args.budget is None:
        return
    limit = args.budget * 60
    while sum(s for _, s in plan(tools, args, known)) > limit:
        runs = {n: args.runs_for(n) for n in args.sizes}
        fulls = {n: args.full_runs_for(n) for n in args.sizes}
        if max(runs.values()) > 3:
            r = max(runs.values()) - 1
            args.runs_for = lambda n, r=r, old=args.runs_for: min(old(n), r)
        elif max(fulls.values()) > 1:
            f = max(fulls.values()) - 1
            args.full_runs_for = lambda n, f=f, old=args.full_runs_for: min(old(n), f)
        else:
            print(f"budget: {args.budget:g} min is not enough even with 3 runs and 1 full build")
            return


def print_plan(tools, args, known):
    steps = plan(tools, args, known)
    total = sum(s for _, s in steps)
    for n in args.sizes:
        print(f"N={n}: {args.runs_for(n)} timed runs per incremental case, "
              f"{args.full_runs_for(n)} full build(s) per tool; tupfs modes with a clean full "
              f"build: {','.join(args.full_modes_for(n))}")
        sub = sum(s for what, s in steps if what.startswith((f"N={n}:", f"N={n} ")))
        print(f"  estimated {sub / 60:.1f} min")
    print(f"estimated total: {total / 60:.1f} min on a quiet machine "
          "(medians from bench/out/results.json where known, else guesses from N)")


def report(results):
    os.makedirs(OUT, exist_ok=True)
    versions = sorted({e["version"] for e in results.values() if e.get("version")})
    text = table(results) + "".join(f"\n- {v}" for v in versions) + ("\n" if versions else "")
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(text)
    print(text)
    png = os.path.join(OUT, "compare.png")
    plot(results, png)
    print(f"results: {RESULTS}\ntable: {os.path.join(OUT, 'table.md')}\nplot: {png}")


def reusable(tree, n, args):
    """With --reuse: whether TREE is already this size and seed (kept, with its build)."""
    try:
        with open(os.path.join(tree, "bench.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return False
    return args.reuse and m.get("n") == n and m.get("seed") == args.seed


def main(argv):
    args = parse_args(argv)
    tools = make_tools(args.tools, args.tupfs_modes)
    check_prerequisites(tools)
    results = load_results(args.fresh)
    if args.report:
        report(results)
        return
    known = load_results(False)
    fit_budget(tools, args, known)
    print("command: " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO)] + argv))
    print_plan(tools, args, known)
    if args.plan:
        return
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}; load {loadavg():.1f}")
    started = time.monotonic()
    for n in args.sizes:
        generated = {}
        for tool in tools:
            tree = os.path.join(OUT, f"n{n}", tool.tree_name)
            if tool.tree_name not in generated and not reusable(tree, n, args):
                subprocess.run([sys.executable, GEN, "--n", str(n), "--out", tree,
                                "--seed", str(args.seed)], check=True, stdout=subprocess.DEVNULL)
            if tool.tree_name not in generated:
                with open(os.path.join(tree, "bench.json")) as f:
                    generated[tool.tree_name] = json.load(f)
            print(f"N={n} {tool.name}: ({(time.monotonic() - started) / 60:.1f} min in)", flush=True)
            measure_tool(tool, n, args.cases, args, generated[tool.tree_name], tree, results)
            save(results)
    print(f"took {(time.monotonic() - started) / 60:.1f} min")
    report(results)


if __name__ == "__main__":
    main(sys.argv[1:])
