#!/usr/bin/env bash
# Tracing benchmark: spans/s per protocol, trace-by-id and trace-search latency at scale, bytes
# on disk per span — with real Lucene 8.7 indexing and looking up the same span documents in
# the same run (what Jaeger's Elasticsearch storage does, minus Elasticsearch itself).
#
#   bench/traces.sh [--traces N] [--fill-traces F] [--lucene-traces L] [--report FILE] [--no-build]
#
#   --traces N         traces sent per protocol (default 20000, ~13 spans each)
#   --fill-traces F    traces added over OTLP gRPC before the lookups (default 760000: ~10M spans in all)
#   --lucene-traces L  traces indexed by Lucene for the side-by-side (default 80000, ~1M spans)
#   --lookups K        timed trace-by-id lookups (default 2000)
#   --udp-rate R       spans/s the Jaeger UDP sender is paced at (default 100000; UDP has no
#                      flow control, so unpaced the kernel drops what was not read yet)
#   --out DIR          scratch directory (default bench/out)
#   --report FILE      write the markdown results there (default: OUT/traces-report.md)
#   --no-build         do not rebuild
#
# Listeners: 127.0.0.1:2xxxx ports (see below), so a running Osprey on the defaults is not
# disturbed. Requires what bench/run.sh requires.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRACES=20000
FILL=760000
LUCENE_TRACES=80000
LOOKUPS=2000
UDP_RATE=100000
OUT="$ROOT/bench/out"
REPORT=""
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --traces) TRACES="$2"; shift 2 ;;
        --fill-traces) FILL="$2"; shift 2 ;;
        --lucene-traces) LUCENE_TRACES="$2"; shift 2 ;;
        --lookups) LOOKUPS="$2"; shift 2 ;;
        --udp-rate) UDP_RATE="$2"; shift 2 ;;
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --report) REPORT="$(realpath -m "$2")"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "traces.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[traces.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OSPREY="$TARGET/release/osprey"
LOADGEN="$TARGET/release/osprey-loadgen"
RES="$OUT/traces"
mkdir -p "$RES"
REPORT="${REPORT:-$OUT/traces-report.md}"
if [[ $BUILD == 1 ]]; then
    cargo build --release -p osprey -p osprey-loadgen
    bench/lucene/build.sh
fi

HTTP=127.0.0.1:27800 QUERY=127.0.0.1:26686 GRPC=127.0.0.1:24317 OTLPHTTP=127.0.0.1:24318
JHTTP=127.0.0.1:24268 COMPACT=127.0.0.1:26831 ZIPKIN=127.0.0.1:29411
DATA_DIR="$(mktemp -d /tmp/osprey-traces.XXXXXX)"
env OSPREY_HTTP_ADDR=$HTTP OSPREY_ELASTIC_ADDR=off OSPREY_JAEGER_QUERY_ADDR=$QUERY \
    OSPREY_OTLP_GRPC_ADDR=$GRPC OSPREY_OTLP_HTTP_ADDR=$OTLPHTTP OSPREY_JAEGER_HTTP_ADDR=$JHTTP \
    OSPREY_JAEGER_COMPACT_ADDR=$COMPACT OSPREY_ZIPKIN_ADDR=$ZIPKIN OSPREY_JAEGER_BINARY_ADDR=off \
    OSPREY_JAEGER_GRPC_ADDR=off OSPREY_SAMPLING_ADDR=off OSPREY_FORWARD_ADDR=off \
    "$OSPREY" serve --data-dir "$DATA_DIR" > "$RES/server.log" 2>&1 &
PID=$!
cleanup() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$DATA_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://$HTTP/health" && break
    sleep 0.1
done

stored_spans() {
    curl -s "http://$HTTP/metrics" | awk -v p="$1" '$0 ~ "osprey_spans_total\\{protocol=\""p"\",outcome=\"stored\"\\}" {print $2}' | head -1
}

# ---------------------------------------------------------------- spans/s per protocol
seed=1
for protocol in otlp-grpc otlp-http jaeger-http zipkin jaeger-udp; do
    case $protocol in
        otlp-grpc) addr="http://$GRPC" ;;
        otlp-http) addr="http://$OTLPHTTP" ;;
        jaeger-http) addr="http://$JHTTP" ;;
        zipkin) addr="http://$ZIPKIN" ;;
        jaeger-udp) addr="$COMPACT" ;;
    esac
    # Jaeger batches hold one process: more traces per request keep them realistic
    # (a client flushes everything its process made in a second); UDP datagrams stay < 65 KB.
    batch=20
    pacing=()
    [[ $protocol == jaeger-http ]] && batch=200
    [[ $protocol == jaeger-udp ]] && batch=5 && pacing=(--rate "$UDP_RATE")
    log "$protocol: $TRACES traces"
    start=$(date +%s%N)
    "$LOADGEN" spans --protocol "$protocol" --addr "$addr" --traces "$TRACES" --batch "$batch" \
        --seed "$seed" "${pacing[@]}" --json > "$RES/$protocol.json"
    if [[ $protocol == jaeger-udp ]]; then
        # Not acknowledged: the rate is what got stored, timed until the count stops moving.
        last=0; last_change=$(date +%s%N)
        for _ in $(seq 1 100); do
            now=$(stored_spans jaeger_compact); now=${now:-0}
            if [[ $now != "$last" ]]; then last=$now; last_change=$(date +%s%N); fi
            (( $(date +%s%N) - last_change > 2000000000 )) && break
            sleep 0.2
        done
        python3 - "$RES/$protocol.json" "$last" "$start" "$last_change" <<'EOF'
import json, sys
path, stored, start, end = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
result = json.load(open(path))
result["stored"] = stored
result["spans_per_second"] = stored / ((end - start) / 1e9)
json.dump(result, open(path, "w"))
EOF
    fi
    cat "$RES/$protocol.json" >&2
    seed=$((seed + 1))
done

# ---------------------------------------------------------------- fill, then look up
log "filling with $FILL traces over OTLP gRPC"
"$LOADGEN" spans --protocol otlp-grpc --addr "http://$GRPC" --traces "$FILL" --batch 50 \
    --seed 100 --ids-out "$RES/ids.txt" --json > "$RES/fill.json"
cat "$RES/fill.json" >&2
sleep 2
TOTAL_SPANS=$(curl -s "http://$HTTP/metrics" | awk '/osprey_spans_total\{.*outcome="stored"\}/ {s += $2} END {print s}')
sync
DISK_BYTES=$(du -sb --exclude=reserve.ballast "$DATA_DIR" | cut -f1)
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
BLOCKS_AFTER_FILL=$(find "$DATA_DIR/traces/blocks" -name '*.blk' | wc -l)
log "stored $TOTAL_SPANS spans in $DISK_BYTES bytes; peak RSS $RSS_KB kB"
"$LOADGEN" trace-query --url "http://$QUERY" --ids "$RES/ids.txt" --lookups "$LOOKUPS" --searches 50 \
    --json > "$RES/queries.json"
cat "$RES/queries.json" >&2
# Again once compaction has settled (the block count unchanged for 10 s, at most 3 minutes).
span_blocks() { curl -s "http://$HTTP/metrics" | awk '/^osprey_span_blocks / {print $2}'; }
last_blocks=$(span_blocks); stable_since=$(date +%s); deadline=$(( $(date +%s) + 180 ))
while (( $(date +%s) - stable_since < 10 && $(date +%s) < deadline )); do
    sleep 1
    now_blocks=$(span_blocks)
    if [[ $now_blocks != "$last_blocks" ]]; then last_blocks=$now_blocks; stable_since=$(date +%s); fi
done
log "compaction settled at $last_blocks blocks"
"$LOADGEN" trace-query --url "http://$QUERY" --ids "$RES/ids.txt" --lookups "$LOOKUPS" --searches 50 \
    --seed 8 --json > "$RES/queries-settled.json"
cat "$RES/queries-settled.json" >&2

# ---------------------------------------------------------------- Lucene, same documents
CP="$(cat bench/lucene/classes/classpath.txt)"
JAVA=(java -Xms2g -Xmx2g -XX:+UseG1GC -cp "$CP" LuceneBench)
DOCS="$OUT/span-docs-$LUCENE_TRACES.ndjson"
if [[ ! -s "$DOCS" ]]; then
    "$LOADGEN" spans --protocol otlp-grpc --addr unused --traces "$LUCENE_TRACES" --seed 100 --dry-run \
        --ids-out "$RES/lucene-ids.txt" --docs-out "$DOCS.tmp" > /dev/null
    mv "$DOCS.tmp" "$DOCS"
else
    "$LOADGEN" spans --protocol otlp-grpc --addr unused --traces "$LUCENE_TRACES" --seed 100 --dry-run \
        --ids-out "$RES/lucene-ids.txt" > /dev/null
fi
LIDX="$OUT/lucene-spans-$LUCENE_TRACES"
rm -rf "$LIDX"
log "lucene: indexing $DOCS"
# The span itself is kept in _source but not indexed, as Osprey's mapping does ("enabled": false).
"${JAVA[@]}" index "$DOCS" "$LIDX" --threads "$(nproc)" --not-indexed span --json > "$RES/lucene-index.json"
cat "$RES/lucene-index.json" >&2
LUCENE_BYTES=$(du -sb "$LIDX" | cut -f1)
LUCENE_SPANS=$(wc -l < "$DOCS")
{
    printf '# class\tLucene query\n'
    shuf -n 500 --random-source=<(yes) "$RES/lucene-ids.txt" | awk '{print "trace_by_id\ttraceID:" $1}'
} > "$RES/lucene-queries.tsv"
"${JAVA[@]}" query "$LIDX" "$RES/lucene-queries.tsv" 5 --warmup 1 --json > "$RES/lucene-query.json"

# ---------------------------------------------------------------- report
python3 - "$RES" "$TOTAL_SPANS" "$DISK_BYTES" "$RSS_KB" "$LUCENE_SPANS" "$LUCENE_BYTES" "$REPORT" "$BLOCKS_AFTER_FILL" "$last_blocks" <<'EOF'
import json, statistics, sys, platform, os
res, total, disk, rss, lucene_spans, lucene_bytes, report, blocks, settled_blocks = sys.argv[1:10]
total, disk, lucene_spans, lucene_bytes = float(total), float(disk), float(lucene_spans), float(lucene_bytes)
load = lambda name: json.load(open(os.path.join(res, name)))
lines = ["| protocol | spans stored | spans/s | request p50 ms | request p99 ms |", "|---|---:|---:|---:|---:|"]
for p in ["otlp-grpc", "otlp-http", "jaeger-http", "zipkin", "jaeger-udp"]:
    r = load(p + ".json")
    spans = r.get("stored", r["spans"])
    if "stored" in r:
        p = f"{p} (paced, {r['spans'] - r['stored']:,.0f} of {r['spans']:,.0f} lost)"
    lines.append(f"| {p} | {spans:,.0f} | {r['spans_per_second']:,.0f} | {r['request_p50_ms']:.1f} | {r['request_p99_ms']:.1f} |")
fill = load("fill.json")
lines.append(f"| otlp-grpc, the fill to {float(total):,.0f} spans (50 traces per export) | {fill['spans']:,.0f} | {fill['spans_per_second']:,.0f} | {fill['request_p50_ms']:.1f} | {fill['request_p99_ms']:.1f} |")
lucene_index = [json.loads(l) for l in open(os.path.join(res, "lucene-index.json")) if l.strip()][-1]
lucene_rate = lucene_index["docs_per_s"]
grpc = load("otlp-grpc.json")["spans_per_second"]
lines.append(f"| Lucene 8.7, the same span documents, `span` stored not indexed (in-process, no durability) | {lucene_spans:,.0f} | {lucene_rate:,.0f} | | |")
lines.append("")
lines.append(f"OTLP gRPC / Lucene indexing: **{grpc / lucene_rate:.2f}×**.")
lines.append("")
q = load("queries.json")
lucene_q = [json.loads(l) for l in open(os.path.join(res, "lucene-query.json")) if l.strip()]
lucene_q = [x for x in lucene_q if x.get("type") == "query"]
l50 = statistics.median(x["p50_us"] for x in lucene_q) / 1000
l99 = sorted(x["p99_us"] for x in lucene_q)[int(0.99 * (len(lucene_q) - 1))] / 1000
settled = load("queries-settled.json")
lines += ["| query (at %s stored spans) | count | right after the fill ({blocks} blocks, merging): p50 ms | p99 ms | compaction settled ({settled_blocks} blocks): p50 ms | p99 ms |".replace("{blocks}", blocks).replace("{settled_blocks}", settled_blocks) % f"{total:,.0f}",
          "|---|---:|---:|---:|---:|---:|"]
for name, v in q.items():
    w = settled[name]
    lines.append(f"| {name} | {v['count']} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} |")
lines.append(f"| Lucene term lookup `traceID:…` ({lucene_spans:,.0f} spans, no documents fetched) | {len(lucene_q)} | {l50:.2f} | {l99:.2f} | | |")
lines.append("")
lines.append(f"Disk: {disk / total:,.0f} bytes per span ({disk / 1e9:.2f} GB for {total:,.0f} spans, WAL included); "
             f"Lucene: {lucene_bytes / lucene_spans:,.0f} bytes per span. Peak RSS {int(rss) / 1024:,.0f} MiB.")
text = "\n".join(lines) + "\n"
open(report, "w").write(text)
print(text)
EOF
log "report: $REPORT"
