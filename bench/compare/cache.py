#!/usr/bin/env python3
"""What the output cache costs and saves, at N generated C files, -j2.

    cargo build --release
    bench/compare/cache.py --n 1000 --rounds 2
    bench/compare/cache.py --n 1000 --rounds 3 --cases nocache,store   # storing only
    bench/compare/cache.py --n 1000 --rounds 1 --cases nocache,remote,http
    bench/compare/cache.py --n 1000 --rounds 3 --cases nocache,store --other-bin OLD/tupfs

Per round, each build on a freshly generated tree (bench/gen/gen.py, so no
outputs and no .tupfs/), in this order:
  nocache   full build, --no-cache                      (the baseline)
  store     full build, empty local store               (cost of storing)
  local     full build again from that local store      (rebuild after clean)
Then once per remote, on 127.0.0.1: a build that fills the remote, then a
fresh tree AND an empty local store built from the remote alone:
  remote    BuildGrid (REAPI; skipped if /opt/bgd-venv/bin/bgd is missing)
  http      nginx as a WebDAV server (Bazel's HTTP protocol; skipped if
            there is no nginx)
Before each timed build the file system is synced (`sync`): what the
previous build, the tree's generation and the removal of the previous
store left dirty is written out before, not during, the build measured.
Prints each wall time and CPU time (tupfs and its commands), the run log's
ran/cached counts, the load average after each build, the ratios to the
median nocache build, and per case the medians. tupfs from $TUPFS_BIN (default target/release/tupfs).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BGD = os.environ.get("TUPFS_TEST_BGD", "/opt/bgd-venv/bin/bgd")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def tupfs_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.environ.get("TUPFS_BIN", os.path.join(target, "release", "tupfs"))


def fresh_tree(tree, n):
    subprocess.run([sys.executable, os.path.join(REPO, "bench/gen/gen.py"),
                    "--n", str(n), "--out", tree], check=True, stdout=subprocess.DEVNULL)


def build(tree, extra, binary=None):
    """One timed build; (seconds, CPU seconds, ran, cached). CPU: user +
    system time of tupfs and every process it waited for (its commands),
    which a loaded machine moves much less than the wall time."""
    t = time.monotonic()
    p = subprocess.Popen([binary or tupfs_bin(), "build", "-j2", "-q"] + extra, cwd=tree,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build {extra} failed:\n{err}")
    with open(os.path.join(tree, ".tupfs/log/last.json")) as f:
        s = json.load(f)["summary"]
    return dt, ru.ru_utime + ru.ru_stime, s["ran"], s.get("cached", 0), os.getloadavg()[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_buildgrid(work):
    port = free_port()
    cfg = os.path.join(work, "bgd.yml")
    with open(cfg, "w") as f:
        f.write(f"""server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
storages:
  - !lru-storage &store
    size: 2GB
caches:
  - !lru-action-cache &ac
    storage: *store
    max-cached-refs: 1000000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *store
      - !bytestream
        storage: *store
""")
    log = open(os.path.join(work, "bgd.log"), "w")
    proc = subprocess.Popen([BGD, "server", "start", cfg], stdout=log, stderr=log,
                            start_new_session=True)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"grpc://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, 9)
    sys.exit("BuildGrid did not start")


def start_nginx(work):
    port = free_port()
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{}}
http {{
  access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  client_max_body_size 0;
  server {{ listen 127.0.0.1:{port}; root {d}/data;
    location / {{ dav_methods PUT; create_full_put_path on; }} }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/cache"
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, 9)
    sys.exit("nginx did not start")


def remote_rounds(name, start, work, tree, store, n, rows):
    """fill-NAME, then NAME: a fresh tree and an empty local store."""
    proc, url = start(work)
    try:
        remote = ["--cache-dir", store, "--remote-cache", url]
        for case in [f"fill-{name}", name]:
            fresh_tree(tree, n)
            shutil.rmtree(store, ignore_errors=True)
            os.sync()
            rows.append((case, 1) + build(tree, remote))
            print(*rows[-1], flush=True)
    finally:
        os.killpg(proc.pid, 9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default="nocache,store,local,remote,http",
                    help="which cases to run (comma-separated; remote = fill-remote + remote "
                         "from BuildGrid, http = fill-http + http from nginx)")
    ap.add_argument("--other-bin", help="also a `store-other` case before `store`, with this "
                    "tupfs (A/B of the cost of storing in one interleaved run)")
    args = ap.parse_args()
    cases = set(args.cases.split(","))
    work = tempfile.mkdtemp(prefix="tupfs-cache-bench-")
    tree = os.path.join(REPO, "bench/out", f"cache-n{args.n}")
    store = os.path.join(work, "store")
    rows = []
    try:
        for r in range(args.rounds):
            plan = [("nocache", ["--no-cache"], False, None),
                    ("store-other", ["--cache-dir", store], True, args.other_bin),
                    ("store", ["--cache-dir", store], True, None),
                    ("local", ["--cache-dir", store], False, None)]
            for case, extra, empty, binary in plan:
                if case not in cases and not (case == "store-other" and binary):
                    continue
                fresh_tree(tree, args.n)
                if empty:
                    shutil.rmtree(store, ignore_errors=True)
                os.sync()
                rows.append((case, r + 1) + build(tree, extra, binary))
                print(*rows[-1], flush=True)
        if "remote" in cases and os.path.exists(BGD):
            remote_rounds("remote", start_buildgrid, work, tree, store, args.n, rows)
        elif "remote" in cases:
            print(f"SKIP remote: no BuildGrid at {BGD}")
        if "http" in cases and os.path.exists(NGINX):
            remote_rounds("http", start_nginx, work, tree, store, args.n, rows)
        elif "http" in cases:
            print(f"SKIP http: no nginx at {NGINX}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not any(c == "nocache" for c, *_ in rows):
        return
    base = statistics.median(t for c, _, t, _, _, _, _ in rows if c == "nocache")
    cpu = statistics.median(u for c, _, _, u, _, _, _ in rows if c == "nocache")
    print("\n| case | round | time | x nocache | CPU | x nocache | ran | cached | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, r, t, u, ran, cached, load in rows:
        print(f"| {case} | {r} | {t:.2f} s | {t / base:.3f} | {u:.1f} s | {u / cpu:.3f} "
              f"| {ran} | {cached} | {load:.1f} |")
    print("\n| case | builds | median time | x nocache | median CPU | x nocache |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in dict.fromkeys(c for c, *_ in rows):
        ts = [t for c, _, t, *_ in rows if c == case]
        us = [u for c, _, _, u, *_ in rows if c == case]
        mt, mu = statistics.median(ts), statistics.median(us)
        print(f"| {case} | {len(ts)} | {mt:.2f} s | {mt / base:.3f} | {mu:.1f} s | {mu / cpu:.3f} |")


if __name__ == "__main__":
    main()
