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
tool is run under /usr/bin/time -v: it checks that the tool builds every
output, gives the peak memory of the full build and counts as one full-build
sample. Every other case gets one more run under /usr/bin/time -v for its
peak memory. Results merge into bench/out/results.json (keyed by N, tool,
case), and every run rewrites bench/out/table.md and bench/out/compare.png.

Installs nothing: if a tool is missing it prints the apt-get line and exits.
Usage: bench/compare/run.py [--sizes 1000,10000] [--runs K] [--tools LIST]
       [--cases LIST] [--quick] [--report]
"""

import argparse
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
OUT = os.path.join(REPO, "bench", "out")
RESULTS = os.path.join(OUT, "results.json")
APT_LINE = "apt-get install tup ninja-build hyperfine python3-matplotlib"

CASES = ["full", "noop", "touch-c", "edit-h"]
TUPFS_MODES = ["mtime", "digest", "mtime+digest", "mtime+digest-inputs"]
BASE_TOOLS = ["floor", "ninja", "make", "tup"]
JOBS = 2
# A build that takes longer than this is treated as hung.
BUILD_TIMEOUT_S = 4 * 3600


class Tool:
    """How one build system builds a generated tree (run from the tree root)."""

    def __init__(self, name, tree_name, argv, mode=None):
        self.name = name  # shown in tables, e.g. "tupfs[digest]"
        self.tree_name = tree_name  # trees are shared by the tupfs modes
        self.argv = argv  # None for the floor: its script depends on the case
        self.mode = mode  # tupfs change mode, else None

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
            for m in modes:
                argv = [tupfs_bin(), "build", f"-j{JOBS}", "--change", m]
                tools.append(Tool(f"tupfs[{m}]", "tupfs", argv, m))
        else:
            raise SystemExit(f"run.py: unknown tool {name!r} (want floor, ninja, make, tup, tupfs)")
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
        if t.argv and t.tree_name != "tupfs":
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


def timed_rss(cmd, cwd):
    """Run CMD under /usr/bin/time -v: (exit code, seconds, max RSS KiB, output)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = f"/usr/bin/time -v -o {tf.name} sh -c {shlex.quote(cmd)}"
        start = time.monotonic()
        rc, out = sh(full, cwd)
        secs = time.monotonic() - start
        rss = None
        for line in tf.read().splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.split(":")[1])
    return rc, secs, rss, out


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


def check_case(tool, case, tree, manifest):
    """After one run of CASE: did the objects that had to rebuild rebuild?"""
    def mtime(p):
        return os.stat(os.path.join(tree, p)).st_mtime_ns

    if case == "touch-c" and tool.sees_touch():
        stale = [manifest["touch_o"]] if mtime(manifest["touch_o"]) < mtime(manifest["touch_c"]) else []
    elif case == "edit-h":
        h = mtime(manifest["edit_h"])
        stale = [o for o in manifest["edit_rebuilds"] + manifest["edit_relinks"] if mtime(o) < h]
    else:
        return None
    return "ok" if not stale else f"not rebuilt: {', '.join(stale[:3])}"


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


def probe(tool, tree, manifest, clean):
    """A full build under /usr/bin/time -v, from clean unless reusing a built
    tree: (sample, None) or (None, why it failed)."""
    if clean:
        sh("sh floor/clean.sh", tree)
    load = loadavg()
    # Reusing, bring the tree up to date; the floor cannot tell what is stale,
    # so it only checks (a tree copied from make's works for it too).
    rc, secs, rss, out = timed_rss(tool.command("full" if clean else "noop"), tree)
    if rc != 0:
        return None, first_line(out)
    missing = [o for o in manifest["outputs"] if not os.path.exists(os.path.join(tree, o))]
    if missing:
        return None, f"outputs missing: {missing[0]} and {len(missing) - 1} more"
    return {"secs": secs, "rss": rss, "load": load}, None


def measure_case(tool, case, n, tree, manifest, args, first):
    """Time one case (FIRST is the probe's sample); return (entry, error)."""
    json_path = os.path.join(OUT, f"n{n}", f"{tool.name}.{case}.json")
    if case == "full":
        load, times, rss = first["load"], [first["secs"]], first["rss"]
        extra = args.full_runs_for(n) - 1
        if extra > 0:
            more, err = hyperfine(tool, case, tree, extra, 0, manifest, json_path)
            if err:
                return None, err
            times += more
    else:
        load = loadavg()
        times, err = hyperfine(tool, case, tree, args.runs, 1, manifest, json_path)
        if err:
            return None, err
        prep = prepare_command(case, manifest)
        if prep:
            sh(prep, tree)
        _, _, rss, _ = timed_rss(tool.command(case), tree)  # one more run, for memory
    return {
        "n": n, "tool": tool.name, "case": case, "times": times,
        "median": statistics.median(times), "min": min(times), "max": max(times),
        "runs": len(times), "max_rss_kib": rss, "check": check_case(tool, case, tree, manifest),
        "load_before": load, "load_after": loadavg(), "when": now(),
        "command": tool.command(case), "prepare": prepare_command(case, manifest),
    }, None


def measure_tool(tool, n, cases, args, manifest, tree, results):
    """All cases for one tool at one size; results go into RESULTS."""
    def not_measured(case, why):
        results[f"{n}/{tool.name}/{case}"] = {
            "n": n, "tool": tool.name, "case": case, "not_measured": why, "when": now()}

    first, why = probe(tool, tree, manifest, clean=not args.reuse)
    if first is None:
        print(f"{tool.name}: not measured (build failed: {why})", flush=True)
        for case in cases:
            not_measured(case, f"build failed: {why}")
        return
    print(f"  {tool.name}: {'update' if args.reuse else 'clean'} build ok in {first['secs']:.2f}s,"
          f" max RSS {first['rss']} KiB", flush=True)
    for case in cases:
        if case == "full" and args.reuse:
            print(f"  {tool.name} full: skipped (--reuse keeps the built tree)", flush=True)
            continue
        entry, err = measure_case(tool, case, n, tree, manifest, args, first)
        if err:
            print(f"{tool.name}: not measured ({case}: {err})", flush=True)
            not_measured(case, err)
            continue
        results[f"{n}/{tool.name}/{case}"] = entry
        note = f" check: {entry['check']}" if entry["check"] else ""
        print(f"  {tool.name} {case}: median {entry['median']:.3f}s over {entry['runs']} runs,"
              f" load {entry['load_before']:.1f}->{entry['load_after']:.1f}{note}", flush=True)
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


def ratio(entry, base):
    if not base or "median" not in base or base["median"] <= 0:
        return "-"
    return f"{entry['median'] / base['median']:.2f}"


def table(results):
    """A markdown table of medians and ratios, one block per size and case."""
    order = ["tupfs[" + m + "]" for m in TUPFS_MODES] + ["tup", "ninja", "make", "floor"]
    rows = ["| N | case | tool | median | min..max | runs | x ninja | x tup | x floor | max RSS | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    sizes = sorted({e["n"] for e in results.values()})
    for n in sizes:
        for case in CASES:
            at = {e["tool"]: e for e in results.values() if e["n"] == n and e["case"] == case}
            for tool in [t for t in order if t in at] + sorted(set(at) - set(order)):
                e = at[tool]
                if "median" not in e:
                    rows.append(f"| {n} | {case} | {tool} | not measured ({e['not_measured']}) "
                                "| | | | | | | |")
                    continue
                floor = at.get("floor") if case != "noop" else None
                rss = f"{e['max_rss_kib'] / 1024:.0f} MB" if e.get("max_rss_kib") else "-"
                load = f"{e['load_before']:.1f}"
                rows.append(
                    f"| {n} | {case} | {tool} | {fmt_s(e['median'])} | "
                    f"{fmt_s(e['min'])}..{fmt_s(e['max'])} | {e['runs']} | "
                    f"{ratio(e, at.get('ninja'))} | {ratio(e, at.get('tup'))} | "
                    f"{ratio(e, floor)} | {rss} | {load} |")
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
    ap.add_argument("--runs", type=int, default=None, help="timed runs per incremental case (default 10; --quick: 3)")
    ap.add_argument("--full-runs", type=int, default=None,
                    help="full builds per tool (default 3 for N<=2000, else 1; --quick: 1)")
    ap.add_argument("--tools", default="tupfs,tup,ninja,make,floor", help="comma-separated tools")
    ap.add_argument("--tupfs-modes", default=",".join(TUPFS_MODES), help="tupfs --change modes to measure")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small and fast: a smoke test")
    ap.add_argument("--reuse", action="store_true",
                    help="keep trees already generated (and built) at this size; skips the full case")
    ap.add_argument("--fresh", action="store_true", help="forget earlier results in bench/out/results.json")
    ap.add_argument("--report", action="store_true", help="only print the table and redraw the plot")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in (args.sizes or ("100" if args.quick else "1000,10000")).split(",")]
    args.runs = args.runs or (3 if args.quick else 10)
    args.full_runs_for = lambda n: args.full_runs or (1 if args.quick or n > 2000 else 3)
    args.tools = [t for t in args.tools.split(",") if t]
    args.cases = [c for c in args.cases.split(",") if c]
    for c in args.cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r} (want {', '.join(CASES)})")
    return args


def report(results):
    os.makedirs(OUT, exist_ok=True)
    text = table(results)
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
    tools = make_tools(args.tools, args.tupfs_modes.split(","))
    check_prerequisites(tools)
    results = load_results(args.fresh)
    if args.report:
        report(results)
        return
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}; load {loadavg():.1f}")
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
            print(f"N={n} {tool.name}:", flush=True)
            measure_tool(tool, n, args.cases, args, generated[tool.tree_name], tree, results)
            save(results)
    report(results)


if __name__ == "__main__":
    main(sys.argv[1:])
