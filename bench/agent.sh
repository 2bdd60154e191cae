#!/usr/bin/env bash
# Node agent benchmark: container log files → server, per core. The Osprey agent and, in the
# same run on the same files, rsyslog (imfile → mmjsonparse → omelasticsearch, the peer that
# runs here; Fluent Bit and Vector are not installable offline) ship to a fresh Osprey server.
# Measured for each: wall time until every line is acknowledged, the shipper's CPU seconds
# (/proc/PID/stat; the server's are reported apart), MiB per CPU-second, peak RSS (VmHWM)
# under load, RSS once caught up (idle), and the documents stored.
#
#   bench/agent.sh [--mib N] [--runs N] [--report FILE] [--no-build] [--skip-rsyslog]
#
#   --mib N          MiB of container log files (default 256): 61 containers, half Docker
#                    json-file, half CRI lines; JSON app logs, access logs, stack traces, klog
#   --runs N         runs of the Osprey agent (default 3); the one of median CPU is reported,
#                    with every run's CPU seconds
#   --out DIR        scratch directory (default bench/out)
#   --report FILE    replace the block between <!-- osprey-bench:agent:begin/end --> in FILE
#                    (default: print only)
#   --no-build       do not rebuild
#   --skip-rsyslog   the Osprey agent only
#
# Requires: rsyslog and rsyslog-elasticsearch (Debian), curl, python3. Ports 127.0.0.1:37800
# and :39200 (a running Osprey on the defaults is not disturbed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MIB=256
RUNS=3
OUT="$ROOT/bench/out"
REPORT=""
BUILD=1
RSYSLOG=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mib) MIB="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --report) REPORT="$(realpath -m "$2")"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --skip-rsyslog) RSYSLOG=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "agent.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[agent.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OSPREY="$TARGET/release/osprey"
LOADGEN="$TARGET/release/osprey-loadgen"
RES="$OUT/agent"
LOGS="$OUT/agent-logs-$MIB"
mkdir -p "$RES"
if [[ $BUILD == 1 ]]; then
    cargo build --release -p osprey -p osprey-loadgen
fi
if [[ ! -f "$LOGS/manifest.json" ]]; then
    rm -rf "$LOGS"
    "$LOADGEN" container-logs --mib "$MIB" --out "$LOGS"
fi
BYTES=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bytes'])" "$LOGS/manifest.json")
LINES=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['lines'])" "$LOGS/manifest.json")
EVENTS=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['events'])" "$LOGS/manifest.json")
log "$MIB MiB of container logs: $LINES lines, $EVENTS events"

HTTP=127.0.0.1:37800 ES=127.0.0.1:39200
SERVER_PID="" SHIPPER_PID="" WORK=""
start_server() {
    DATA_DIR="$(mktemp -d /tmp/osprey-agent-bench.XXXXXX)"
    env OSPREY_HTTP_ADDR=$HTTP OSPREY_ELASTIC_ADDR=$ES OSPREY_OTLP_GRPC_ADDR=off \
        OSPREY_OTLP_HTTP_ADDR=off OSPREY_JAEGER_QUERY_ADDR=off OSPREY_JAEGER_GRPC_ADDR=off \
        OSPREY_JAEGER_HTTP_ADDR=off OSPREY_JAEGER_COMPACT_ADDR=off OSPREY_JAEGER_BINARY_ADDR=off \
        OSPREY_SAMPLING_ADDR=off OSPREY_ZIPKIN_ADDR=off OSPREY_FORWARD_ADDR=off \
        "$OSPREY" serve --data-dir "$DATA_DIR" > "$RES/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "http://$HTTP/health" && return
        sleep 0.1
    done
    log "the server did not start"; exit 1
}
stop_all() {
    [[ -n "$SHIPPER_PID" ]] && { kill -TERM "$SHIPPER_PID" 2>/dev/null || true; wait "$SHIPPER_PID" 2>/dev/null || true; }
    [[ -n "$SERVER_PID" ]] && { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
    [[ -n "${DATA_DIR:-}" ]] && rm -rf "$DATA_DIR"
    [[ -n "$WORK" ]] && rm -rf "$WORK"
    SHIPPER_PID="" SERVER_PID="" WORK=""
}
trap stop_all EXIT

cpu_seconds() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
count() {
    curl -sf -XPOST "http://$ES/$1/_refresh" > /dev/null || true
    curl -sf "http://$ES/$1/_count" | python3 -c "import json,sys; print(json.load(sys.stdin)['count'])" 2>/dev/null || echo 0
}

# measure NAME DONE_COMMAND: waits until DONE_COMMAND succeeds, then records the shipper's and
# the server's CPU, the shipper's peak RSS and, 5 s later, its idle RSS.
measure() {
    local name=$1; shift
    local started ended
    started=$(date +%s.%N)
    until "$@"; do
        if ! kill -0 "$SHIPPER_PID" 2>/dev/null; then log "$name exited early"; exit 1; fi
        sleep 0.25
    done
    ended=$(date +%s.%N)
    local cpu server_cpu peak
    cpu=$(cpu_seconds "$SHIPPER_PID")
    server_cpu=$(cpu_seconds "$SERVER_PID")
    peak=$(rss_kib "$SHIPPER_PID" VmHWM)
    sleep 5
    local idle
    idle=$(rss_kib "$SHIPPER_PID" VmRSS)
    python3 - "$RES/$name.json" "$started" "$ended" "$cpu" "$server_cpu" "$peak" "$idle" <<'EOF'
import json, sys
out, started, ended, cpu, server_cpu, peak, idle = sys.argv[1:]
json.dump({"wall_s": float(ended) - float(started), "cpu_s": float(cpu), "server_cpu_s": float(server_cpu),
           "peak_rss_kib": int(peak), "idle_rss_kib": int(idle)}, open(out, "w"))
EOF
}

# ---- the Osprey agent ---------------------------------------------------------------------
agent_run() {
    local name=$1
    start_server "$name"
    WORK="$(mktemp -d /tmp/osprey-agent-state.XXXXXX)"
    "$OSPREY" agent --server "http://$HTTP" --paths "$LOGS/*.log" --data-dir "$WORK" \
        > "$RES/$name.log" 2>&1 &
    SHIPPER_PID=$!
    measure "$name" agent_caught_up
    STORED=$(count 'logstash-*')
    python3 - "$RES/$name.json" "$STORED" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r["stored"] = int(sys.argv[2]); json.dump(r, open(sys.argv[1], "w"))
EOF
    stop_all
}
agent_caught_up() {
    python3 - "$WORK/checkpoints.json" "$BYTES" <<'EOF'
import json, sys
try:
    done = sum(c["offset"] for c in json.load(open(sys.argv[1])))
except (OSError, ValueError):
    done = 0
sys.exit(0 if done >= int(sys.argv[2]) else 1)
EOF
}
for run in $(seq 1 "$RUNS"); do
    log "Osprey agent (run $run of $RUNS)"
    agent_run "osprey-agent-$run"
done
# The run of median CPU stands for all (the machine is noisy); every run's CPU is kept.
python3 - "$RES" "$RUNS" <<'EOF'
import json, sys
res, runs = sys.argv[1], int(sys.argv[2])
results = [json.load(open(f"{res}/osprey-agent-{i}.json")) for i in range(1, runs + 1)]
median = sorted(results, key=lambda r: r["cpu_s"])[runs // 2]
median["runs_cpu_s"] = [r["cpu_s"] for r in results]
json.dump(median, open(f"{res}/osprey-agent.json", "w"))
EOF

# ---- rsyslog: imfile → mmjsonparse → omelasticsearch ---------------------------------------
if [[ $RSYSLOG == 1 ]]; then
    RSYSLOGD="$(command -v rsyslogd || echo /usr/sbin/rsyslogd)"
    log "rsyslog ($("$RSYSLOGD" -v | head -1))"
    start_server rsyslog
    WORK="$(mktemp -d /tmp/osprey-rsyslog-bench.XXXXXX)"
    cat > "$WORK/rsyslog.conf" <<EOF
global(workDirectory="$WORK" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="mmjsonparse")
module(load="omelasticsearch")
template(name="docker" type="list") {
  constant(value="{\"@timestamp\":\"") property(name="\$!time")
  constant(value="\",\"message\":\"") property(name="\$!log" format="json" droplastlf="on")
  constant(value="\",\"stream\":\"") property(name="\$!stream")
  constant(value="\",\"log\":{\"file\":{\"path\":\"") property(name="\$!metadata!filename" format="json")
  constant(value="\"}}}")
}
template(name="plain" type="list") {
  constant(value="{\"@timestamp\":\"") property(name="timegenerated" dateFormat="rfc3339")
  constant(value="\",\"message\":\"") property(name="msg" format="json")
  constant(value="\",\"log\":{\"file\":{\"path\":\"") property(name="\$!metadata!filename" format="json")
  constant(value="\"}}}")
}
ruleset(name="to-osprey" queue.type="linkedlist" queue.size="200000" queue.dequeueBatchSize="2000") {
  action(type="mmjsonparse" cookie="")
  if \$parsesuccess == "OK" then {
    action(type="omelasticsearch" server="127.0.0.1" serverport="${ES##*:}" searchIndex="rsyslog-bench"
           searchType="" esVersion.major="8" template="docker" bulkmode="on" maxbytes="4m"
           action.resumeRetryCount="-1" action.resumeInterval="1")
  } else {
    action(type="omelasticsearch" server="127.0.0.1" serverport="${ES##*:}" searchIndex="rsyslog-bench"
           searchType="" esVersion.major="8" template="plain" bulkmode="on" maxbytes="4m"
           action.resumeRetryCount="-1" action.resumeInterval="1")
  }
}
input(type="imfile" File="$LOGS/*.log" Tag="k8s" ruleset="to-osprey" addMetadata="on" freshStartTail="off")
EOF
    "$RSYSLOGD" -N1 -f "$WORK/rsyslog.conf" > "$RES/rsyslog-check.log" 2>&1
    "$RSYSLOGD" -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslogd.pid" > "$RES/rsyslog.log" 2>&1 &
    SHIPPER_PID=$!
    rsyslog_caught_up() { [[ "$(count rsyslog-bench)" -ge "$LINES" ]]; }
    measure rsyslog rsyslog_caught_up
    STORED=$(count rsyslog-bench)
    python3 - "$RES/rsyslog.json" "$STORED" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r["stored"] = int(sys.argv[2]); json.dump(r, open(sys.argv[1], "w"))
EOF
    stop_all
fi

# ---- report -------------------------------------------------------------------------------
python3 - "$RES" "$BYTES" "$LINES" "$EVENTS" "$MIB" "$REPORT" <<'EOF'
import json, os, platform, subprocess, sys
res, nbytes, lines, events, mib, report = sys.argv[1:]
nbytes, lines, events = int(nbytes), int(lines), int(events)
mb = nbytes / 2**20
runs = {name: json.load(open(os.path.join(res, f"{name}.json")))
        for name in ("osprey-agent", "rsyslog") if os.path.exists(os.path.join(res, f"{name}.json"))}
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rows = [
    ("wall time until all acknowledged", lambda r: f"{r['wall_s']:.1f} s", lambda o, p: p["wall_s"] / o["wall_s"]),
    ("throughput, wall (server on the same 2 cores)", lambda r: f"{mb / r['wall_s']:.1f} MiB/s", lambda o, p: p["wall_s"] / o["wall_s"]),
    ("shipper CPU", lambda r: f"{r['cpu_s']:.2f} s", lambda o, p: p["cpu_s"] / o["cpu_s"]),
    ("**throughput per core** (MiB per CPU-second)", lambda r: f"**{mb / r['cpu_s']:.0f} MiB/s**", lambda o, p: p["cpu_s"] / o["cpu_s"]),
    ("CPU per MiB", lambda r: f"{1000 * r['cpu_s'] / mb:.1f} ms", lambda o, p: p["cpu_s"] / o["cpu_s"]),
    ("**peak RSS** under load", lambda r: f"**{r['peak_rss_kib'] / 1024:.1f} MiB**", lambda o, p: p["peak_rss_kib"] / o["peak_rss_kib"]),
    ("RSS once caught up (idle)", lambda r: f"{r['idle_rss_kib'] / 1024:.1f} MiB", lambda o, p: p["idle_rss_kib"] / o["idle_rss_kib"]),
    ("server CPU for the same lines", lambda r: f"{r['server_cpu_s']:.1f} s", lambda o, p: p["server_cpu_s"] / o["server_cpu_s"]),
    ("documents stored", lambda r: f"{r['stored']:,}", None),
]
o, p = runs.get("osprey-agent"), runs.get("rsyslog")
runs_note = ""
if o and o.get("runs_cpu_s"):
    per_core = ", ".join(f"{mb / c:.0f}" for c in o["runs_cpu_s"])
    runs_note = (f" The Osprey agent ran {len(o['runs_cpu_s'])} times (MiB per CPU-second: {per_core});"
                 " the run of median CPU is shown.")
out = [f"`bench/agent.sh --mib {mib}` on {os.cpu_count()} × {cpu_model} ({platform.release()}): "
       f"{mb:.0f} MiB in 61 container files ({lines:,} lines, {events:,} events once stack traces are joined)."
       + runs_note,
       "", "| | Osprey agent | rsyslog imfile → omelasticsearch | Osprey vs rsyslog |", "|---|---:|---:|---:|"]
for label, fmt, ratio in rows:
    cells = [fmt(r) if r else "–" for r in (o, p)]
    r = f"{ratio(o, p):.2f}×" if (ratio and o and p) else ""
    out.append(f"| {label} | {cells[0]} | {cells[1]} | {r} |")
out += ["", "Ratios > 1 favour Osprey (for time, CPU and memory: rsyslog's value over Osprey's). "
        "The Osprey agent does more per line: container format undone (CRI partial lines, json-file), "
        "stack traces joined, JSON messages spread into fields, level detected, `kubernetes.*` from "
        "the file name, zstd-compressed `_bulk`, checkpoints saved per batch (fsynced each second); rsyslog parses the "
        "json-file lines and sends them as they are (one document per physical line)."]
text = "\n".join(out)
print(text)
if report:
    begin, end = "<!-- osprey-bench:agent:begin -->", "<!-- osprey-bench:agent:end -->"
    doc = open(report).read() if os.path.exists(report) else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n## Node agent\n\n" + block + "\n"
    open(report, "w").write(doc)
EOF
