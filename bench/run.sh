#!/usr/bin/env bash
# End-to-end, side-by-side benchmark: Osprey (release build, over HTTP) vs raw Lucene 8.7
# (in-process, Elasticsearch-like dynamic mapping) on the same generated documents and
# the same query strings (bench/queries.tsv).
#
#   bench/run.sh [--docs N] [--seed S] [--report FILE] [options]
#
# Options:
#   --docs N           documents to generate (default 1000000)
#   --seed S           generator seed (default 42)
#   --days D           time window of the documents in days (default 2)
#   --repeat R         timed runs per query (default 20)
#   --warmup W         untimed warm-up runs per query (default 5)
#   --batch B          docs per _bulk request (default 1000)
#   --concurrency C    _bulk client threads (default 4)
#   --lucene-threads T indexing threads for Lucene (default: nproc)
#   --lucene-heap H    JVM -Xmx/-Xms for Lucene (default 2g)
#   --out DIR          scratch/output directory (default bench/out, gitignored)
#   --report FILE      append or replace the results section in FILE (markdown)
#   --skip-lucene      reuse/skip the Lucene side
#   --skip-osprey      skip the Osprey side
#   --no-build         do not run cargo build / bench/lucene/build.sh
#   --keep-data        keep the Osprey data dir
#
# Ports: Elasticsearch API 127.0.0.1:19200, HTTP (native API, health) 127.0.0.1:17800, OTLP/HTTP
# 127.0.0.1:14318 (the large trace of the Discover phase); all other listeners are off. Requires: cargo, java 17 + liblucene8-java, curl, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DOCS=1000000
SEED=42
DAYS=2
REPEAT=20
WARMUP=5
BATCH=1000
CONC=4
LUCENE_THREADS="$(nproc)"
LUCENE_HEAP=2g
OUT="$ROOT/bench/out"
REPORT=""
SKIP_LUCENE=0
SKIP_OSPREY=0
BUILD=1
KEEP_DATA=0
ES_ADDR=127.0.0.1:19200
HTTP_ADDR=127.0.0.1:17800
OTLP_ADDR=127.0.0.1:14318
INDEX=bench-logs

while [[ $# -gt 0 ]]; do
    case "$1" in
        --docs) DOCS="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --days) DAYS="$2"; shift 2 ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --batch) BATCH="$2"; shift 2 ;;
        --concurrency) CONC="$2"; shift 2 ;;
        --lucene-threads) LUCENE_THREADS="$2"; shift 2 ;;
        --lucene-heap) LUCENE_HEAP="$2"; shift 2 ;;
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --report) REPORT="$(realpath -m "$2")"; shift 2 ;;
        --skip-lucene) SKIP_LUCENE=1; shift ;;
        --skip-osprey) SKIP_OSPREY=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --keep-data) KEEP_DATA=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OSPREY="$TARGET/release/osprey"
LOADGEN="$TARGET/release/osprey-loadgen"
mkdir -p "$OUT"
RES="$OUT/results-$DOCS"
mkdir -p "$RES"

# ---------------------------------------------------------------- build
if [[ $BUILD == 1 ]]; then
    log "cargo build --release -p osprey -p osprey-loadgen"
    cargo build --release -p osprey -p osprey-loadgen
    if [[ $SKIP_LUCENE == 0 ]]; then
        log "compiling the Lucene baseline"
        bench/lucene/build.sh
    fi
fi

# ---------------------------------------------------------------- data
DATA="$OUT/docs-$DOCS-seed$SEED-days$DAYS.ndjson"
if [[ ! -s "$DATA" ]]; then
    log "generating $DOCS docs -> $DATA"
    "$LOADGEN" generate --docs "$DOCS" --seed "$SEED" --days "$DAYS" --out "$DATA.tmp"
    mv "$DATA.tmp" "$DATA"
else
    log "reusing $DATA"
fi
RAW_BYTES=$(stat -c %s "$DATA")
# The generator's default --end (2026-11-25T00:00:00Z): Discover's windows end there.
END_MS=1795564800000

# ---------------------------------------------------------------- lucene
if [[ $SKIP_LUCENE == 0 ]]; then
    CP="$(cat bench/lucene/classes/classpath.txt)"
    JAVA=(java "-Xms$LUCENE_HEAP" "-Xmx$LUCENE_HEAP" -XX:+UseG1GC -cp "$CP" LuceneBench)
    LIDX="$OUT/lucene-index-$DOCS"
    log "lucene: indexing ($LUCENE_THREADS threads, heap $LUCENE_HEAP)"
    "${JAVA[@]}" index "$DATA" "$LIDX" --threads "$LUCENE_THREADS" --json > "$RES/lucene-index.json"
    cat "$RES/lucene-index.json" >&2
    log "lucene: querying (repeat $REPEAT, warmup $WARMUP)"
    "${JAVA[@]}" query "$LIDX" bench/queries.tsv "$REPEAT" --warmup "$WARMUP" --json > "$RES/lucene-query.json"
    log "lucene: Discover's first page (bench/discover.tsv)"
    "${JAVA[@]}" discover "$LIDX" bench/discover.tsv "$REPEAT" --warmup "$WARMUP" --end "$END_MS" > "$RES/lucene-discover.json"
fi

# ---------------------------------------------------------------- osprey
alive() { [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

if [[ $SKIP_OSPREY == 0 ]]; then
    for addr in "$ES_ADDR" "$HTTP_ADDR"; do
        if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
            echo "run.sh: something is already listening on $addr" >&2
            exit 1
        fi
    done
    DATA_DIR="$(mktemp -d /tmp/osprey-bench.XXXXXX)"
    SERVER_LOG="$RES/osprey-server.log"
    log "osprey: starting $OSPREY serve --data-dir $DATA_DIR"
    start_ns=$(date +%s%N)
    env OSPREY_ELASTIC_ADDR="$ES_ADDR" OSPREY_HTTP_ADDR="$HTTP_ADDR" \
        OSPREY_OTLP_GRPC_ADDR=off OSPREY_OTLP_HTTP_ADDR="$OTLP_ADDR" \
        OSPREY_JAEGER_QUERY_ADDR=off OSPREY_JAEGER_GRPC_ADDR=off OSPREY_JAEGER_HTTP_ADDR=off \
        OSPREY_JAEGER_COMPACT_ADDR=off OSPREY_JAEGER_BINARY_ADDR=off \
        OSPREY_SAMPLING_ADDR=off OSPREY_ZIPKIN_ADDR=off OSPREY_FORWARD_ADDR=off \
        "$OSPREY" serve --data-dir "$DATA_DIR" > "$SERVER_LOG" 2>&1 &
    PID=$!
    cleanup() {
        if alive "$PID"; then
            kill -TERM "$PID" 2>/dev/null || true
            for _ in $(seq 1 100); do alive "$PID" || break; sleep 0.1; done
            kill -KILL "$PID" 2>/dev/null || true
        fi
        wait "$PID" 2>/dev/null || true
        if [[ $KEEP_DATA == 0 ]]; then rm -rf "$DATA_DIR"; else log "kept $DATA_DIR"; fi
    }
    trap cleanup EXIT

    ready=0
    for _ in $(seq 1 3000); do
        if ! alive "$PID"; then
            echo "run.sh: osprey exited during startup; log:" >&2
            cat "$SERVER_LOG" >&2
            exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$HTTP_ADDR/health" || true)
        if [[ $code == 200 ]]; then ready=1; break; fi
        sleep 0.01
    done
    if [[ $ready != 1 ]]; then
        echo "run.sh: osprey not ready after 30s; log:" >&2
        cat "$SERVER_LOG" >&2
        exit 1
    fi
    READY_MS=$(( ($(date +%s%N) - start_ns) / 1000000 ))
    sleep 1
    IDLE_RSS_KB=$(rss_kb "$PID" VmRSS)
    log "osprey: ready after ${READY_MS} ms, idle RSS ${IDLE_RSS_KB} kB"

    log "osprey: bulk ingest (batch $BATCH, concurrency $CONC)"
    "$LOADGEN" bulk --url "http://$ES_ADDR" --index "$INDEX" --file "$DATA" \
        --batch "$BATCH" --concurrency "$CONC" --json > "$RES/osprey-bulk.json"
    cat "$RES/osprey-bulk.json" >&2
    refresh_start=$(date +%s%N)
    curl -sS --fail-with-body --max-time 600 -X POST "http://$ES_ADDR/_refresh" -o /dev/null
    REFRESH_MS=$(( ($(date +%s%N) - refresh_start) / 1000000 ))
    PEAK_RSS_KB=$(rss_kb "$PID" VmHWM)
    sync
    # Data at rest: wait (up to 60 s) for background merges to settle. The disk reserve
    # (reserve.ballast, preallocated space kept for commits on a full disk) is not data.
    data_bytes() { du -sb --exclude=reserve.ballast "$DATA_DIR" | cut -f1; }
    DISK_BYTES=$(data_bytes); stable=0
    for _ in $(seq 60); do
        sleep 1
        now_bytes=$(data_bytes)
        if [[ "$now_bytes" == "$DISK_BYTES" ]]; then stable=$((stable + 1)); else stable=0; fi
        DISK_BYTES=$now_bytes
        [[ $stable -ge 3 ]] && break
    done
    log "osprey: refresh ${REFRESH_MS} ms, peak RSS ${PEAK_RSS_KB} kB, data dir ${DISK_BYTES} bytes"
    # The documents are all from past days: Osprey merges such partitions into one segment by
    # itself once their writer is idle (30 s). Ask for it now rather than wait.
    merge_start=$(date +%s%N)
    curl -sS --fail-with-body --max-time 600 -X POST "http://$ES_ADDR/$INDEX/_forcemerge" -o /dev/null
    MERGE_MS=$(( ($(date +%s%N) - merge_start) / 1000000 ))
    sync
    MERGED_BYTES=$(data_bytes)
    log "osprey: merge of past days ${MERGE_MS} ms, data dir ${MERGED_BYTES} bytes"

    log "osprey: querying (repeat $REPEAT, warmup $WARMUP)"
    if ! "$LOADGEN" query --url "http://$ES_ADDR" --index "$INDEX" --queries bench/queries.tsv \
        --repeat "$REPEAT" --warmup "$WARMUP" --json > "$RES/osprey-query.json"; then
        log "osprey: some queries failed (see above); continuing with partial results"
    fi
    log "osprey: Discover's first page (bench/discover.tsv) and a 10,000-span trace"
    "$LOADGEN" discover --url "http://$HTTP_ADDR" --index "$INDEX" --queries bench/discover.tsv \
        --repeat "$REPEAT" --warmup "$WARMUP" --trace-spans 10000 --otlp "http://$OTLP_ADDR" \
        --json > "$RES/osprey-discover.json"
    TRACE_ID=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"trace\"" in l][-1]["trace_id"])' "$RES/osprey-discover.json")
    if command -v node >/dev/null && [[ -x /usr/bin/chromium && -d tests/e2e/node/node_modules/playwright-core ]]; then
        log "osprey: the 10,000-span trace in the web UI (headless Chromium)"
        node bench/ui_scroll.mjs "http://$HTTP_ADDR" "$TRACE_ID" > "$RES/osprey-ui-scroll.json" || log "ui_scroll failed"
    else
        log "skipping the browser measurement: needs node, /usr/bin/chromium and tests/e2e/node's playwright-core (./test.sh installs them)"
        rm -f "$RES/osprey-ui-scroll.json"
    fi
    POST_QUERY_RSS_KB=$(rss_kb "$PID" VmRSS)
    cat > "$RES/osprey-server.json" <<EOF
{"ready_ms": $READY_MS, "idle_rss_kb": ${IDLE_RSS_KB:-0}, "peak_rss_kb": ${PEAK_RSS_KB:-0}, "post_query_rss_kb": ${POST_QUERY_RSS_KB:-0}, "refresh_ms": $REFRESH_MS, "disk_bytes": $DISK_BYTES, "merge_ms": $MERGE_MS, "merged_disk_bytes": $MERGED_BYTES}
EOF
    cleanup
    trap - EXIT
fi

# ---------------------------------------------------------------- report
python3 bench/report.py --results "$RES" --raw-bytes "$RAW_BYTES" --docs "$DOCS" \
    --repeat "$REPEAT" --lucene-threads "$LUCENE_THREADS" --lucene-heap "$LUCENE_HEAP" \
    --batch "$BATCH" --concurrency "$CONC" ${REPORT:+--report "$REPORT"}
