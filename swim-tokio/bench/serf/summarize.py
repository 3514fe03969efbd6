#!/usr/bin/env python3
"""Tables from raw/*-n50.json (written by meas.py)."""
import glob, json, os, collections, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
runs = [json.load(open(f)) | {"file": os.path.basename(f)} for f in sorted(glob.glob(f"{HERE}/raw/*-n50.json"))]
print("## runs"); [print(r["file"], "|", r["uptime_start"], "->", r["uptime_end"], "| RSS MiB/agent %.1f" % (sum(r["rss_kib"]) / len(r["rss_kib"]) / 1024), "| join %ss" % r["join"]["converged_s"]) for r in runs]
print("\n## a. events (12 per run, 3 s apart; ms from the CLI call to the handler's line)")
print("| run | all 50 delivered: median / max ms | median node ms (median over events) | first node ms (median) | events complete | duplicate lines | missing |")
for r in runs:
    e = r["events"]; per = e["per_event"]
    print(f"| {r['file']} | {e['all_delivered_ms']['median']} / {e['all_delivered_ms']['max']} | {e['median_node_ms_median']} | "
          f"{statistics.median(p['first_node_ms'] for p in per)} | {e['events_fully_delivered']}/12 | "
          f"{sum(sum(p['duplicates'].values()) for p in per)} | {sum(len(p['missing']) for p in per)} |")
print("\n## every event in the events file (12 timed + 30 of the bytes window): lines per (node, event)")
for f in sorted(glob.glob(f"{HERE}/raw/*-n50-events.txt")):
    c = collections.Counter(); ev = collections.defaultdict(set)
    for l in open(f):
        n, t, e = l.split(); c[(n, e)] += 1; ev[e].add(n)
    print(os.path.basename(f), "events", len(ev), "node-event pairs with >1 line", sum(1 for v in c.values() if v > 1),
          "events short of 50 nodes", {e: len(s) for e, s in ev.items() if len(s) < 50})
print("\n## b. bytes (30 s idle vs 30 s firing 1 event/s; nftables gossip counters, IP bytes leaving lo)")
print("| run | idle B/node/s (UDP+TCP) | idle TCP B | busy TCP B | extra B/event/node, UDP+TCP | extra B/event/node, UDP only | extra UDP pkts/event/node |")
for r in runs:
    b = r["bytes"]; i, u = b["idle"], b["busy"]; k = b["events"]; n = r["nodes"]
    udp = (u["udp_bytes"] - i["udp_bytes"] * b["busy_s"] / b["idle_s"]) / k / n
    print(f"| {r['file']} | {b['idle_B_per_node_s']} | {i['tcp_bytes']} | {u['tcp_bytes']} | {b['extra_B_per_event_per_node']} | {udp:.0f} | {b['extra_udp_pkts_per_event_per_node']} |")
print("\n## c/d. queries (10 per row, origin s1, -timeout 5s): responses of 50, and packets/bytes arriving at s1's port during the query")
print("| run | loss % | relay | responses mean (min) | complete /10 | acks median | origin rx pkts (median; minus idle) | origin rx bytes (median; minus idle) |")
for r in runs:
    for q in r["queries"]:
        print(f"| {r['file']} | {q['loss_pct']} | {q['relay_factor']} | {q['responses_mean']} ({q['responses_min']}) | {q['complete_queries']} | {q['acks_median']} | "
              f"{q['origin_rx_pkts_median']}; {q['origin_rx_pkts_minus_idle_median']} | {q['origin_rx_bytes_median']}; {q['origin_rx_bytes_minus_idle_median']} |")
        errs = [x.get("stderr") for x in q["rows"] if x.get("stderr") or x["rc"]]
        if errs: print("   errors:", errs[:3])
print("\n## swim's own /v1/metrics received.total at s1 during a query (median packets, bytes)")
for r in runs:
    if r["impl"] != "swim": continue
    for q in r["queries"]:
        m = [x["swim_metrics_rx"] for x in q["rows"] if isinstance(x.get("swim_metrics_rx"), dict)]
        print(r["file"], q["loss_pct"], q["relay_factor"], statistics.median(x["packets"] for x in m), statistics.median(x["bytes"] for x in m))
print("\n## reachability")
for r in runs:
    print(r["file"], [(x["origin"], x["rc"], x["wall_s"]) for x in r["reachability"]])
