#!/usr/bin/env python3
"""Measures N `swim agent` processes on loopback: convergence time, idle CPU
and RSS per agent.

Usage: python3 swim-tokio/scripts/measure.py [--swim PATH] [--nodes 50] [--idle 30]

Without --swim it builds the release binary with cargo and takes the path
cargo reports (so CARGO_TARGET_DIR and .cargo/config.toml are honoured).
Every agent uses preset local, binds 127.0.0.1 on a free port and joins the
first one. Only loopback addresses are used; all agents are killed at the end.
"""

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def members(control):
    try:
        with urllib.request.urlopen(f"http://{control}/v1/members", timeout=5) as r:
            return json.load(r)
    except OSError:
        return None


def build_swim():
    """Builds `swim` in release mode and returns the executable cargo made."""
    root = pathlib.Path(__file__).resolve().parents[2]
    cmd = ["cargo", "build", "--release", "-p", "swim-tokio", "--bin", "swim",
           "--message-format=json-render-diagnostics"]
    try:
        out = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        sys.exit("measure.py: cargo is not on PATH; install Rust or pass --swim PATH")
    if out.returncode != 0:
        sys.exit(f"measure.py: `{' '.join(cmd)}` failed (exit {out.returncode}); see its errors above")
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if (msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "swim"
                and msg.get("executable")):
            return msg["executable"]
    sys.exit("measure.py: cargo built no `swim` executable; pass --swim PATH")


def start(swim, name, join):
    cmd = [swim, "agent", "--name", name, "--bind", "127.0.0.1:0", "--control", "127.0.0.1:0",
           "--preset", "local", "--log", "warn"]
    for j in join:
        cmd += ["--join", j]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
    if "gossip" not in fields or "control" not in fields:
        p.kill()
        p.wait()
        raise RuntimeError(f"agent {name} did not start (printed {line!r}); run `{' '.join(cmd)}` to see why")
    return p, fields["gossip"], fields["control"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swim", help="the swim binary (default: build it with cargo and use cargo's path)")
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    args = ap.parse_args()
    swim = args.swim or build_swim()
    if not os.access(swim, os.X_OK):
        sys.exit(f"measure.py: {swim} is not an executable; build it or pass --swim PATH")
    args.swim = swim
    procs = []
    try:
        t0 = time.monotonic()
        p, seed, control = start(args.swim, "m1", [])
        procs.append((p, control))
        for i in range(2, args.nodes + 1):
            p, _, control = start(args.swim, f"m{i}", [seed])
            procs.append((p, control))
        started = time.monotonic()
        print(f"started {args.nodes} agents in {started - t0:.2f}s")
        deadline = started + 120
        while True:
            views = [members(c) for _, c in procs]
            done = all(v is not None and len(v) == args.nodes and all(m["status"] == "alive" for m in v)
                       for v in views)
            if done:
                break
            if time.monotonic() > deadline:
                print("did not converge within 120s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        converged = time.monotonic()
        print(f"converged: every agent sees {args.nodes} alive {converged - started:.2f}s after the last start "
              f"({converged - t0:.2f}s after the first)")
        time.sleep(5)  # let the join wave's gossip settle
        before = {p.pid: cpu_seconds(p.pid) for p, _ in procs}
        time.sleep(args.idle)
        used = [cpu_seconds(p.pid) - before[p.pid] for p, _ in procs]
        rss = [rss_kib(p.pid) for p, _ in procs]
        mean_cpu = sum(used) / len(used) / args.idle * 100
        print(f"idle CPU per agent over {args.idle:.0f}s: mean {mean_cpu:.3f}% of a core, "
              f"max {max(used) / args.idle * 100:.3f}%")
        print(f"RSS per agent: mean {sum(rss) / len(rss) / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB")
        views = [members(c) for _, c in procs]
        still = sum(1 for v in views if v and len(v) == args.nodes and all(m["status"] == "alive" for m in v))
        print(f"after the idle period {still}/{args.nodes} agents still see everyone alive")
        return 0
    except RuntimeError as e:
        print(f"measure.py: {e}", file=sys.stderr)
        return 1
    finally:
        for p, _ in procs:
            p.send_signal(signal.SIGKILL)
        for p, _ in procs:
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
