#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each) on the stable toolchain.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz if missing. Uses `--sanitizer none` so no nightly toolchain is needed;
# libFuzzer still guides inputs by coverage. Crashes are saved under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=(bulk_decode query_string query_dsl wal_decode lucene_regexp kql jaeger_thrift jaeger_proto otlp_decode zipkin_decode span_store_decode forward_decode agent_formats agent_buffer source_holes wildcard source_parse block_file native_search)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in "${TARGETS[@]}"; do
  echo "==== fuzzing $target for ${SECONDS_EACH}s"
  cargo fuzz run --sanitizer none -O "$target" -- -max_total_time="$SECONDS_EACH" -timeout=5
done
