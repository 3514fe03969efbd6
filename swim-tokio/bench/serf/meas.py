#!/usr/bin/env python3
"""User events / queries side by side: swim (`swim-h20 agent`) vs HashiCorp Serf.

Run inside the mlpeer namespace (it reads/sets the nftables table `inet mlpeer`
made by ../shared/peers/memberlist/netns.sh (outside this repository) and adds/deletes its own table
`inet serfmeas` that counts packets arriving at the querying agent's port):

  ip netns exec mlpeer nice -n 10 python3 meas.py --impl swim --bin target/release/swim --nodes 50
  ip netns exec mlpeer nice -n 10 python3 meas.py --impl serf --bin /tmp/serf --nodes 50

Phases: join (all N see N alive), events (>=10 user events a few s apart,
delivery times from the handlers' lines), bytes (idle window vs window firing
1 event/s, nftables gossip counters), queries (0/1/5 % UDP input loss x relay
factor 0/2, responses vs N, and packets/bytes arriving at the origin's port).
"""
import argparse, json, os, signal, statistics, subprocess, sys, time
import concurrent.futures as cf
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
POOL = cf.ThreadPoolExecutor(16)
TABLE = "mlpeer"


def sh(*cmd, check=True, timeout=None):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def nft_counters():
    out = json.loads(sh("nft", "-j", "list", "counters").stdout)
    c = {}
    for item in out["nftables"]:
        if "counter" in item:
            k = item["counter"]
            c[(k["table"], k["name"])] = (k["packets"], k["bytes"])
    return c


def nft_loss(pct):
    sh("nft", "flush", "chain", "inet", TABLE, "loss")
    if pct > 0:
        sh("nft", "add", "rule", "inet", TABLE, "loss", "meta", "l4proto", "udp", "numgen", "random",
           "mod", "100", "<", str(pct), "counter", "name", "dropped_udp", "drop")


def origin_counter_setup(port):
    """table inet serfmeas: packets arriving at the origin's gossip port (after the loss chain)."""
    sh("nft", "delete", "table", "inet", "serfmeas", check=False)
    rules = f"""
table inet serfmeas {{
    counter origin_udp {{ }}
    counter origin_tcp {{ }}
    chain inc {{
        type filter hook input priority 10; policy accept;
        udp dport {port} counter name "origin_udp"
        tcp dport {port} counter name "origin_tcp"
    }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def get_json(port, path, timeout=3):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body) if r.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


class Cluster:
    def __init__(self, a):
        self.a = a
        self.impl, self.bin, self.n = a.impl, a.bin, a.nodes
        base = 20000 + 1000 * a.slot
        self.gossip = {i: base + i for i in range(1, self.n + 1)}
        self.ctl = {i: base + 10000 + i for i in range(1, self.n + 1)}
        self.procs = {}
        self.evfile = os.path.join(a.out, f"{a.tag}-events.txt")
        open(self.evfile, "w").close()

    def name(self, i):
        return f"s{i}"

    def cmd(self, i, seed):
        ev = f"{HERE}/h_event.sh {self.evfile}"
        q = f"{HERE}/h_query.sh"
        if self.impl == "swim":
            c = [self.bin, "agent", "--name", self.name(i), "--bind", f"127.0.0.1:{self.gossip[i]}",
                 "--control", f"127.0.0.1:{self.ctl[i]}", "--log", "warn",
                 "--event-handler", ev, "--event-handler", f"query={q}"]
            if seed:
                c += ["--join", seed]
        else:
            c = [self.bin, "agent", "-node", self.name(i), "-bind", f"127.0.0.1:{self.gossip[i]}",
                 "-rpc-addr", f"127.0.0.1:{self.ctl[i]}", "-log-level", "warn",
                 "-event-handler", f"user={ev}", "-event-handler", f"query={q}"]
            if seed:
                c += ["-join", seed]
        return c

    def start(self, i, seed):
        log = open(os.path.join(self.a.logdir, f"{self.name(i)}.log"), "w")
        self.procs[i] = subprocess.Popen(self.cmd(i, seed), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        log.close()

    def alive_view(self, i):
        """names this node holds alive, or None"""
        if self.impl == "swim":
            v = get_json(self.ctl[i], "/v1/members")
            if v is None:
                return None
            return {m["name"] for m in v if m.get("status") == "alive"}
        r = sh(self.bin, "members", "-rpc-addr", f"127.0.0.1:{self.ctl[i]}", "-status", "alive",
               "-format", "json", check=False, timeout=10)
        if r.returncode != 0:
            return None
        try:
            return {m["name"] for m in json.loads(r.stdout)["members"]}
        except (ValueError, KeyError):
            return None

    def sweep(self):
        return list(POOL.map(self.alive_view, range(1, self.n + 1)))

    def fire(self, i, name):
        if self.impl == "swim":
            c = [self.bin, "event", "--control", f"127.0.0.1:{self.ctl[i]}", "--no-coalesce", name]
        else:
            c = [self.bin, "event", "-rpc-addr", f"127.0.0.1:{self.ctl[i]}", "-coalesce=false", name]
        r = sh(*c, check=False, timeout=20)
        return r.returncode, (r.stdout + r.stderr).strip()

    def query(self, i, name, rf, timeout):
        if self.impl == "swim":
            c = [self.bin, "query", "--control", f"127.0.0.1:{self.ctl[i]}", "--json",
                 "--timeout", timeout, "--relay-factor", str(rf), name]
        else:
            c = [self.bin, "query", "-rpc-addr", f"127.0.0.1:{self.ctl[i]}", "-format", "json",
                 "-timeout", timeout, f"-relay-factor={rf}", name]
        t0 = time.monotonic()
        r = sh(*c, check=False, timeout=60)
        dt = time.monotonic() - t0
        res = {"rc": r.returncode, "wall_s": round(dt, 3)}
        if r.returncode != 0 or r.stderr.strip():
            res["stderr"] = r.stderr.strip()[:500]
        if self.impl == "swim":
            resp, acks, summ = [], [], None
            for line in r.stdout.splitlines():
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                t = v.get("type")
                if t == "response":
                    resp.append(v.get("member"))
                elif t == "ack":
                    acks.append(v.get("member"))
                elif t == "summary":
                    summ = v
            res.update(responses=len(set(resp)), response_lines=len(resp), acks=len(set(acks)),
                       summary={k: summ.get(k) for k in ("asked", "acks", "responses", "missing")} if summ else None)
        else:
            try:
                v = json.loads(r.stdout)
                res.update(responses=len(v.get("Responses") or {}), acks=len(v.get("Acks") or []))
            except ValueError:
                res.update(responses=None, acks=None, stdout=r.stdout[:300])
        return res

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs.values():
            p.wait()


def phase_join(c, res):
    c.start(1, None)
    t = time.monotonic()
    while c.alive_view(1) is None:
        if time.monotonic() - t > 20:
            raise RuntimeError("seed did not come up")
        time.sleep(0.2)
    seed = f"127.0.0.1:{c.gossip[1]}"
    t0 = time.monotonic()
    for i in range(2, c.n + 1):
        c.start(i, seed)
    names = {c.name(i) for i in range(1, c.n + 1)}
    while True:
        ts = time.monotonic()
        views = c.sweep()
        full = sum(1 for v in views if v is not None and names <= v)
        if full == c.n:
            break
        if ts - t0 > 180:
            raise RuntimeError(f"no convergence in 180 s: {full}/{c.n} full")
        time.sleep(max(0, 1 - (time.monotonic() - ts)))
    res["join"] = {"converged_s": round(ts - t0, 2), "loadavg": loadavg()}
    print(f"[{c.impl}] join: all {c.n} see {c.n} alive after {ts - t0:.1f}s", flush=True)


def read_events(c):
    out = {}
    for line in open(c.evfile):
        p = line.split()
        if len(p) != 3:
            continue
        out.setdefault(p[2], []).append((p[0], int(p[1])))
    return out


def phase_events(c, res, k, gap):
    fired = {}
    errs = []
    for j in range(k):
        name = f"ev{j}"
        origin = 1 + (j * 7) % c.n
        t0 = time.time_ns()
        rc, out = c.fire(origin, name)
        fired[name] = (t0, origin)
        if rc != 0:
            errs.append((name, rc, out))
        time.sleep(gap)
    time.sleep(10)
    seen = read_events(c)
    names = [c.name(i) for i in range(1, c.n + 1)]
    per = []
    for name, (t0, origin) in fired.items():
        lines = seen.get(name, [])
        by = {}
        for who, t in lines:
            by.setdefault(who, []).append(t)
        delivered = [n for n in names if n in by]
        dups = {n: len(v) for n, v in by.items() if len(v) != 1}
        firsts = sorted((min(v) - t0) / 1e6 for v in by.values())
        per.append({"event": name, "origin": c.name(origin), "delivered": len(delivered),
                    "missing": [n for n in names if n not in by], "duplicates": dups,
                    "all_delivered_ms": round(firsts[-1], 1) if len(delivered) == c.n else None,
                    "median_node_ms": round(statistics.median(firsts), 1) if firsts else None,
                    "first_node_ms": round(firsts[0], 1) if firsts else None})
    alls = [p["all_delivered_ms"] for p in per if p["all_delivered_ms"] is not None]
    res["events"] = {"fired": k, "gap_s": gap, "errors": errs, "per_event": per,
                     "all_delivered_ms": {"median": statistics.median(alls) if alls else None,
                                          "max": max(alls) if alls else None, "n": len(alls)},
                     "median_node_ms_median": statistics.median([p["median_node_ms"] for p in per if p["median_node_ms"] is not None]),
                     "events_fully_delivered": len(alls),
                     "events_with_duplicates": sum(1 for p in per if p["duplicates"]),
                     "loadavg": loadavg()}
    print(f"[{c.impl}] events: {json.dumps({k: v for k, v in res['events'].items() if k != 'per_event'})}", flush=True)


def gossip_bytes(cnt):
    u = cnt[("mlpeer", "gossip_udp")]
    t = cnt[("mlpeer", "gossip_tcp")]
    o = (cnt.get(("serfmeas", "origin_udp"), (0, 0)), cnt.get(("serfmeas", "origin_tcp"), (0, 0)))
    return {"udp_pkts": u[0], "udp_bytes": u[1], "tcp_pkts": t[0], "tcp_bytes": t[1],
            "origin_udp_pkts": o[0][0], "origin_udp_bytes": o[0][1],
            "origin_tcp_pkts": o[1][0], "origin_tcp_bytes": o[1][1]}


def dif(a, b):
    return {k: b[k] - a[k] for k in a}


def phase_bytes(c, res, window):
    time.sleep(5)
    a = gossip_bytes(nft_counters()); t0 = time.monotonic()
    time.sleep(window)
    b = gossip_bytes(nft_counters()); t1 = time.monotonic()
    idle = dif(a, b); idle_s = t1 - t0
    k = 0
    a = gossip_bytes(nft_counters()); t0 = time.monotonic()
    while time.monotonic() - t0 < window - 0.5:
        tk = time.monotonic()
        c.fire(1 + (k * 11) % c.n, f"by{k}")
        k += 1
        time.sleep(max(0, 1 - (time.monotonic() - tk)))
    time.sleep(max(0, window - (time.monotonic() - t0)))
    b = gossip_bytes(nft_counters()); t1 = time.monotonic()
    busy = dif(a, b); busy_s = t1 - t0
    tot = lambda d: d["udp_bytes"] + d["tcp_bytes"]
    idle_rate = tot(idle) / idle_s
    extra = tot(busy) - idle_rate * busy_s
    res["bytes"] = {"idle": idle, "idle_s": round(idle_s, 2), "busy": busy, "busy_s": round(busy_s, 2),
                    "events": k, "idle_B_per_node_s": round(idle_rate / c.n, 1),
                    "busy_B_per_node_s": round(tot(busy) / busy_s / c.n, 1),
                    "extra_B_per_event_per_node": round(extra / k / c.n, 1),
                    "extra_udp_pkts_per_event_per_node": round((busy["udp_pkts"] - idle["udp_pkts"] * busy_s / idle_s) / k / c.n, 2),
                    "origin_idle_pkts_per_s": round((idle["origin_udp_pkts"] + idle["origin_tcp_pkts"]) / idle_s, 2),
                    "origin_idle_bytes_per_s": round((idle["origin_udp_bytes"] + idle["origin_tcp_bytes"]) / idle_s, 1),
                    "loadavg": loadavg()}
    print(f"[{c.impl}] bytes: {json.dumps({k: v for k, v in res['bytes'].items() if k not in ('idle', 'busy')})}", flush=True)


def swim_recv(c, i):
    m = get_json(c.ctl[i], "/v1/metrics", timeout=5)
    if not m:
        return None
    return m.get("received", {}).get("total")


def phase_queries(c, res, reps, losses, rfs, timeout):
    out = []
    base = res.get("bytes", {})
    idle_pkt_rate = base.get("origin_idle_pkts_per_s", 0)
    idle_byte_rate = base.get("origin_idle_bytes_per_s", 0)
    for loss in losses:
        nft_loss(loss)
        for rf in rfs:
            rows = []
            for j in range(reps):
                origin = 1
                m0 = swim_recv(c, origin) if c.impl == "swim" else None
                a = gossip_bytes(nft_counters()); t0 = time.monotonic()
                q = c.query(origin, f"q{loss}x{rf}x{j}", rf, timeout)
                b = gossip_bytes(nft_counters()); dt = time.monotonic() - t0
                m1 = swim_recv(c, origin) if c.impl == "swim" else None
                d = dif(a, b)
                q["origin_rx_pkts"] = d["origin_udp_pkts"] + d["origin_tcp_pkts"]
                q["origin_rx_bytes"] = d["origin_udp_bytes"] + d["origin_tcp_bytes"]
                q["origin_rx_pkts_minus_idle"] = round(q["origin_rx_pkts"] - idle_pkt_rate * dt, 1)
                q["origin_rx_bytes_minus_idle"] = round(q["origin_rx_bytes"] - idle_byte_rate * dt)
                q["cluster_bytes"] = d["udp_bytes"] + d["tcp_bytes"]
                if m0 is not None and m1 is not None:
                    q["swim_metrics_rx"] = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1} if isinstance(m1, dict) else m1 - m0
                rows.append(q)
                time.sleep(1)
            resp = [r["responses"] for r in rows if r["responses"] is not None]
            summ = {"loss_pct": loss, "relay_factor": rf, "queries": reps, "timeout": timeout,
                    "responses_median": statistics.median(resp) if resp else None,
                    "responses_min": min(resp) if resp else None,
                    "responses_mean": round(sum(resp) / len(resp), 2) if resp else None,
                    "complete_queries": sum(1 for r in resp if r == c.n),
                    "acks_median": statistics.median([r["acks"] for r in rows if r["acks"] is not None] or [0]),
                    "origin_rx_pkts_median": statistics.median(r["origin_rx_pkts"] for r in rows),
                    "origin_rx_bytes_median": statistics.median(r["origin_rx_bytes"] for r in rows),
                    "origin_rx_pkts_minus_idle_median": statistics.median(r["origin_rx_pkts_minus_idle"] for r in rows),
                    "origin_rx_bytes_minus_idle_median": statistics.median(r["origin_rx_bytes_minus_idle"] for r in rows),
                    "wall_s_median": statistics.median(r["wall_s"] for r in rows),
                    "errors": [r.get("stderr") for r in rows if r.get("stderr")][:3],
                    "loadavg": loadavg(), "rows": rows}
            out.append(summ)
            print(f"[{c.impl}] query loss={loss}% rf={rf}: " +
                  json.dumps({k: v for k, v in summ.items() if k != "rows"}), flush=True)
    nft_loss(0)
    res["queries"] = out


def phase_reach(c, res, reps):
    out = []
    for j in range(reps):
        i = 1 + (j * 13) % c.n
        if c.impl == "swim":
            cmd = [c.bin, "reachability", "--control", f"127.0.0.1:{c.ctl[i]}", "--json"]
        else:
            cmd = [c.bin, "reachability", "-rpc-addr", f"127.0.0.1:{c.ctl[i]}"]
        t0 = time.monotonic()
        r = sh(*cmd, check=False, timeout=60)
        out.append({"origin": c.name(i), "rc": r.returncode, "wall_s": round(time.monotonic() - t0, 3),
                    "stdout_tail": r.stdout.strip()[-400:], "stderr": r.stderr.strip()[-300:]})
        print(f"[{c.impl}] reachability from {c.name(i)}: rc={r.returncode} {out[-1]['wall_s']}s {out[-1]['stdout_tail'][-200:]!r}", flush=True)
        time.sleep(1)
    res["reachability"] = out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["swim", "serf"], required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--slot", type=int, default=0)
    ap.add_argument("--phases", default="events,bytes,reach,queries")
    ap.add_argument("--events", type=int, default=12)
    ap.add_argument("--gap", type=float, default=3)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--losses", default="0,1,5")
    ap.add_argument("--rfs", default="0,2")
    ap.add_argument("--qtimeout", default="5s")
    ap.add_argument("--out", default=os.path.join(HERE, "raw"))
    a = ap.parse_args()
    a.tag = time.strftime("%Y%m%dT%H%M%S") + f"-{a.impl}-n{a.nodes}"
    a.logdir = os.path.join(HERE, "logs", a.tag)
    os.makedirs(a.logdir, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    c = Cluster(a)
    res = {"impl": a.impl, "bin": a.bin, "nodes": a.nodes, "argv": sys.argv, "loadavg_start": loadavg(),
           "uptime_start": sh("uptime").stdout.strip()}
    phases = a.phases.split(",")
    nft_loss(0)
    origin_counter_setup(c.gossip[1])
    rc = 0
    try:
        phase_join(c, res)
        time.sleep(5)
        if "events" in phases:
            phase_events(c, res, a.events, a.gap)
        if "bytes" in phases:
            phase_bytes(c, res, a.window)
        if "reach" in phases:
            phase_reach(c, res, 3)
        if "queries" in phases:
            phase_queries(c, res, a.reps, [int(x) for x in a.losses.split(",")],
                          [int(x) for x in a.rfs.split(",")], a.qtimeout)
    except Exception as e:
        print(f"meas.py: {e!r}", file=sys.stderr)
        res["error"] = repr(e)
        rc = 1
    finally:
        nft_loss(0)
        res["uptime_end"] = sh("uptime").stdout.strip()
        res["rss_kib"] = []
        for p in c.procs.values():
            try:
                for line in open(f"/proc/{p.pid}/status"):
                    if line.startswith("VmRSS:"):
                        res["rss_kib"].append(int(line.split()[1]))
            except OSError:
                pass
        c.stop()
        sh("nft", "delete", "table", "inet", "serfmeas", check=False)
        path = os.path.join(a.out, a.tag + ".json")
        json.dump(res, open(path, "w"), indent=1)
        print(f"wrote {path}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
