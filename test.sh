#!/usr/bin/env bash
# Runs the full Osprey test suite: formatting, clippy, unit/integration tests, then the
# end-to-end suite (tests/e2e: the web UI in headless Chromium, the official Elasticsearch
# client, real tracing clients and the examples/flask-tracing app, the Fluentd
# forward-protocol clients (Python and Node.js), malformed input, kill -9,
# disk full, real rsyslog) against target/debug/osprey.
#
#   ./test.sh            everything
#   ./test.sh --quick    skip the end-to-end and fault suites
#   ./test.sh --e2e-only only build and run the end-to-end suite
#
# Installs what it needs (Debian packages, the Python venv in .venv) idempotently.
set -euo pipefail

cd "$(dirname "$0")"
ROOT="$(pwd)"

QUICK=0
E2E_ONLY=0
PYTEST_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --e2e-only) E2E_ONLY=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) PYTEST_ARGS+=("$arg") ;;
  esac
done

step() {
  printf '\n==== %s ====\n' "$*"
}

# ---------------------------------------------------------------- dependencies
# golang-go + sprig + sigs.k8s.io/yaml: tests/helm/render.go renders the Helm chart with Helm's
# own template engine and functions (no helm binary can be installed here).
APT_PACKAGES=(liblucene8-java openjdk-17-jdk-headless rsyslog rsyslog-elasticsearch python3-venv redis-server chromium
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)

ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  step "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
  local py
  if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py="$(command -v python3)"; fi
  if [ ! -x .venv/bin/python ]; then
    step "creating Python venv .venv"
    "$py" -m venv .venv
  fi
  local stamp=.venv/.requirements.sha256
  local want
  want="$(sha256sum tests/requirements.txt | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    step "installing Python test dependencies (tests/requirements.txt)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt
    echo "$want" > "$stamp"
  fi
}

ensure_node_clients() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    local -a APT_PACKAGES=(nodejs npm)
    ensure_apt_packages
  fi
  local stamp=tests/e2e/node/node_modules/.package-lock.sha256
  local want
  want="$(sha256sum tests/e2e/node/package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    step "installing Node.js test clients (tests/e2e/node)"
    (cd tests/e2e/node && npm ci --silent --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

# ---------------------------------------------------------------- steps
if [ "$E2E_ONLY" -eq 0 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check

  step "cargo clippy"
  cargo clippy --workspace --all-targets -- -D warnings

  step "cargo test"
  cargo test --workspace
fi

if [ "$QUICK" -eq 1 ]; then
  step "skipping the end-to-end suite (--quick)"
  exit 0
fi

step "dependencies of the end-to-end suite"
ensure_apt_packages
ensure_venv
ensure_node_clients

step "cargo build (osprey, and osprey-loadgen for the conformance corpus)"
cargo build -p osprey -p osprey-loadgen

step "end-to-end suite (pytest tests/e2e)"
export OSPREY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/osprey"
# --timeout: no single test (fixture setup included) may take more than 10 minutes
.venv/bin/python -m pytest -q -rfEs --timeout=600 tests/e2e "${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}"
