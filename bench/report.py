#!/usr/bin/env python3
"""Render bench/run.sh results as a markdown table (Osprey vs Lucene 8.7).

Reads the JSON files run.sh leaves in --results DIR:
  lucene-index.json, lucene-query.json, osprey-bulk.json, osprey-query.json, osprey-server.json
Any of them may be missing (e.g. --skip-osprey); those cells show "n/a".
With --report FILE, the section between the BEGIN/END markers is replaced (or appended).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

BEGIN = "<!-- osprey-bench:results:begin -->"
END = "<!-- osprey-bench:results:end -->"


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, IndexError, json.JSONDecodeError):
        return None


def load_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def fmt(v, unit="", digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}{unit}"
    return f"{v:,.{digits}f}{unit}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / 1048576:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} x {cpu}{mem}, {platform.system()} {platform.release()}"


def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--raw-bytes", type=int, required=True)
    ap.add_argument("--docs", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--lucene-threads", default="?")
    ap.add_argument("--lucene-heap", default="?")
    ap.add_argument("--batch", default="?")
    ap.add_argument("--concurrency", default="?")
    ap.add_argument("--report")
    a = ap.parse_args()
    r = a.results

    li = load(os.path.join(r, "lucene-index.json")) or {}
    ob = load(os.path.join(r, "osprey-bulk.json")) or {}
    os_ = load(os.path.join(r, "osprey-server.json")) or {}
    lq = load_lines(os.path.join(r, "lucene-query.json"))
    oq = load_lines(os.path.join(r, "osprey-query.json"))
    raw = a.raw_bytes

    def mb(kb):
        return None if not kb else kb / 1024

    rows = []

    def row(name, o, l, ratio_str=None):
        rows.append((name, o, l, ratio_str))

    o_dps, l_dps = ob.get("docs_per_s"), li.get("docs_per_s")
    row("Ingest throughput (docs/s)", fmt(o_dps, digits=0), fmt(l_dps, digits=0), ratio(o_dps, l_dps))
    o_mbs, l_mbs = ob.get("mb_per_s"), li.get("mb_per_s")
    row("Ingest throughput (raw MB/s)", fmt(o_mbs, digits=2), fmt(l_mbs, digits=2), ratio(o_mbs, l_mbs))
    o_secs, l_secs = ob.get("secs"), li.get("secs")
    row("Ingest wall time (s)", fmt(o_secs, digits=1), fmt(l_secs, digits=1), ratio(o_secs, l_secs))
    o_disk, l_disk = os_.get("disk_bytes"), li.get("index_bytes")
    row("On-disk size (MB)", fmt(o_disk and o_disk / 1e6), fmt(l_disk and l_disk / 1e6), ratio(o_disk, l_disk))
    row("On-disk size / raw NDJSON", ratio(o_disk, raw, 3), ratio(l_disk, raw, 3), "")
    o_merged = os_.get("merged_disk_bytes")
    if o_merged:
        row("On-disk size after merging past days (MB)", fmt(o_merged / 1e6), fmt(l_disk and l_disk / 1e6), ratio(o_merged, l_disk))
        row("... / raw NDJSON", ratio(o_merged, raw, 3), ratio(l_disk, raw, 3), "")
        row("Merge of past days (ms)", fmt(os_.get("merge_ms")), "n/a", "")
    o_peak = mb(os_.get("peak_rss_kb"))
    l_peak = li.get("peak_rss_bytes")
    l_peak = l_peak / 1048576 if l_peak and l_peak > 0 else None
    row("Peak RSS during ingest (MiB)", fmt(o_peak), fmt(l_peak), ratio(o_peak, l_peak))
    row("Idle RSS after start (MiB)", fmt(mb(os_.get("idle_rss_kb"))), "n/a", "")
    row("Start to ready (ms)", fmt(os_.get("ready_ms")), "n/a", "")
    row("`_refresh` after ingest (ms)", fmt(os_.get("refresh_ms")), "n/a", "")

    oc = {q["class"]: q for q in oq if q.get("type") == "class"}
    lc = {q["class"]: q for q in lq if q.get("type") == "class"}
    classes = list(dict.fromkeys([q["class"] for q in lq + oq if q.get("type") == "class"]))
    for c in classes:
        o, l = oc.get(c, {}), lc.get(c, {})
        # A class whose queries all failed has no timings: show n/a rather than 0.
        o = o if o.get("runs") else {k: v for k, v in o.items() if not k.startswith("p")}
        l = l if l.get("runs") else {k: v for k, v in l.items() if not k.startswith("p")}
        o50, l50 = o.get("p50_us"), l.get("p50_us")
        o99, l99 = o.get("p99_us"), l.get("p99_us")
        err = f" ({o['errors']} failed)" if o.get("errors") else ""
        row(f"Query `{c}` p50 (ms)", fmt(o50 and o50 / 1e3, digits=2) + err, fmt(l50 and l50 / 1e3, digits=2),
            ratio(o50, l50))
        row(f"Query `{c}` p99 (ms)", fmt(o99 and o99 / 1e3, digits=2), fmt(l99 and l99 / 1e3, digits=2),
            ratio(o99, l99))

    # Discover's first page (100 newest hits + exact total + histogram) per search.
    od = {q["name"]: q for q in load_lines(os.path.join(r, "osprey-discover.json")) if q.get("type") == "discover"}
    ld = {q["name"]: q for q in load_lines(os.path.join(r, "lucene-discover.json")) if q.get("type") == "discover"}
    for name in dict.fromkeys(list(ld) + list(od)):
        o, l = od.get(name, {}), ld.get(name, {})
        o50, l50 = o.get("p50_us"), l.get("p50_us")
        hits = o.get("hits", l.get("hits"))
        label = f"Discover `{name}` ({o.get('window', l.get('window'))}, {fmt(hits)} hits) p50 (ms)"
        row(label, fmt(o50 and o50 / 1e3, digits=2), fmt(l50 and l50 / 1e3, digits=2), ratio(o50, l50))
        s50 = o.get("server_p50_us")
        row("... Osprey server time p50 / p99 (ms)", f"{fmt(s50 and s50 / 1e3, digits=2)} / {fmt(o.get('server_p99_us') and o['server_p99_us'] / 1e3, digits=2)}", "", "")
        if o and l and o.get("hits") != l.get("hits"):
            row(f"... hits differ for `{name}`", fmt(o.get("hits")), fmt(l.get("hits")), "")
    for t in (q for q in load_lines(os.path.join(r, "osprey-discover.json")) if q.get("type") == "trace"):
        row(f"Trace of {t['spans']:,} spans by id, p50 / p99 (ms)",
            f"{fmt(t['p50_us'] / 1e3, digits=1)} / {fmt(t['p99_us'] / 1e3, digits=1)}", "n/a", "")

    scroll = load(os.path.join(r, "osprey-ui-scroll.json"))
    if scroll:
        row(f"Trace view of {scroll['spans']} spans: navigation to first rows (ms)", fmt(scroll["first_rows_ms"]), "n/a", "")
        row(f"... scrolling top to bottom, {scroll['frames']} frames: p50 / p99 / max frame (ms)",
            f"{fmt(scroll['frame_p50_ms'], digits=1)} / {fmt(scroll['frame_p99_ms'], digits=1)} / {fmt(scroll['frame_max_ms'], digits=1)}", "n/a", "")
        row("... most timeline rows in the page at once", fmt(scroll["max_rows_in_page"]), "n/a", "")

    # Hit-count agreement, per query.
    oqs = {(q["class"], q["query"]): q for q in oq if q.get("type") == "query"}
    lqs = {(q["class"], q["query"]): q for q in lq if q.get("type") == "query"}
    mismatches = []
    compared = 0
    for k, l in lqs.items():
        o = oqs.get(k)
        if o is None or o.get("error") or l.get("error"):
            continue
        compared += 1
        if o.get("hits") != l.get("hits"):
            mismatches.append((k, o.get("hits"), l.get("hits")))

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    out.append(BEGIN)
    out.append(f"### Results: {a.docs:,} docs ({raw / 1e6:,.1f} MB NDJSON), {now}")
    out.append("")
    out.append(f"- Machine: {machine()}")
    out.append(f"- Osprey: `target/release/osprey` at {git_rev()}, `_bulk` batch {a.batch}, "
               f"{a.concurrency} client threads over HTTP (loadgen on the same machine)")
    out.append(f"- Lucene 8.7 (Debian jars), in-process, {a.lucene_threads} indexing threads, heap {a.lucene_heap}; "
               "ES-like dynamic mapping, no translog/HTTP/replication")
    out.append(f"- Queries: `bench/queries.tsv`, {a.repeat} timed runs each after warm-up; Osprey latency is "
               "client-side wall time over HTTP, Lucene is in-process (parse + search + exact count + fetch 10 `_source`)")
    out.append("- Discover: `bench/discover.tsv`, `osprey-loadgen discover` (`POST /api/v1/logs/search`: 100 newest hits, exact total, "
               "histogram) against Lucene's `TopFieldCollector` on `@timestamp` + a doc-values histogram collector + 100 stored-field fetches")
    out.append("")
    out.append("| Metric | Osprey | Lucene 8.7 | Osprey / Lucene |")
    out.append("|---|---:|---:|---:|")
    for name, o, l, rt in rows:
        out.append(f"| {name} | {o} | {l} | {rt or ''} |")
    out.append("")
    if compared:
        out.append(f"Hit counts agree on {compared - len(mismatches)} of {compared} queries.")
        if mismatches:
            out.append("")
            out.append("| Class | Query | Osprey hits | Lucene hits |")
            out.append("|---|---|---:|---:|")
            for (c, q), oh, lh in mismatches:
                out.append(f"| {c} | `{q}` | {oh} | {lh} |")
    failed = [q for q in oq if q.get("type") == "query" and q.get("error")]
    if failed:
        out.append("")
        out.append("Osprey query failures:")
        for q in failed:
            out.append(f"- {q['class']} `{q['query']}`: {q['error'][:200]}")
    out.append(END)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)

    if a.report:
        try:
            with open(a.report, encoding="utf-8") as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            new = head + text.rstrip("\n") + tail
        else:
            new = old + ("\n" if old and not old.endswith("\n") else "") + ("\n" if old else "") + text
        with open(a.report, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"report.py: wrote results section to {a.report}", file=sys.stderr)


if __name__ == "__main__":
    main()
