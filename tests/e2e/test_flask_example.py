"""The seed's example, made real: examples/flask-tracing, a Flask + Redis app traced with the
Jaeger client (UDP compact) and, in a second variant, with OpenTelemetry (OTLP gRPC and HTTP).

`/remote` must yield one trace with the server span and its `github-api` and `parse-json`
children; `/ready` must yield `redis-ping` with its tag. Real Redis, a local stand-in for the
GitHub API, and the app run as separate processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from osprey_e2e import REPO_ROOT, free_port, wait_until

OSPREY_TRACING = True
EXAMPLE = REPO_ROOT / "examples" / "flask-tracing"


def start(cmd, env=None, cwd=None) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30.0):
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited: {proc.stderr.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    wait_until(up, timeout=timeout, interval=0.2, what=url)


@pytest.fixture(scope="module")
def redis_port():
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.fail("redis-server is not installed (test.sh installs the redis-server package)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="osprey-redis-")
    proc = start([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", workdir])
    try:
        import redis

        wait_until(lambda: _redis_ping(redis, port), timeout=15, what="redis-server")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _redis_ping(redis, port):
    try:
        return redis.Redis(port=port).ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="module")
def github_url():
    port = free_port()
    proc = start([sys.executable, str(EXAMPLE / "fake_github.py"), str(port)])
    url = f"http://127.0.0.1:{port}/users/octocat/repos"
    try:
        wait_http(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_app(script: str, env_extra: dict, redis_port: int, github_url: str):
    port = free_port()
    env = dict(os.environ)
    env.update({"PORT": str(port), "REDIS_PORT": str(redis_port), "GITHUB_URL": github_url, **env_extra})
    proc = start([sys.executable, str(EXAMPLE / script)], env=env, cwd=str(EXAMPLE))
    base = f"http://127.0.0.1:{port}"
    return proc, base


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read()


def find_trace(server, service: str, operation: str, expected_spans: int) -> dict:
    """The newest trace of `service` with a span named `operation`, once it has all its spans."""

    def found():
        query = urllib.parse.urlencode({"service": service, "operation": operation, "lookback": "1h", "limit": "5"})
        status, body = server.query_api(f"/api/traces?{query}")
        assert status == 200, body
        for trace in body["data"]:
            if len(trace["spans"]) >= expected_spans:
                return trace
        return None

    return wait_until(found, timeout=20, interval=0.3, what=f"{service} trace with {operation}")


def tags(span) -> dict:
    return {t["key"]: t["value"] for t in span["tags"]}


def check_remote_trace(trace: dict, server_operation: str):
    by_name = {s["operationName"]: s for s in trace["spans"]}
    assert set(by_name) == {server_operation, "github-api", "parse-json"}, sorted(by_name)
    server_span = by_name[server_operation]
    assert tags(server_span)["span.kind"] == "server"
    assert not [r for r in server_span["references"] if r["refType"] == "CHILD_OF"]
    for child in ("github-api", "parse-json"):
        refs = [(r["refType"], r["spanID"]) for r in by_name[child]["references"]]
        assert refs == [("CHILD_OF", server_span["spanID"])], f"{child}: {refs}"
    assert tags(by_name["github-api"])["http.status_code"] == 200
    assert tags(by_name["parse-json"])["repos.count"] == 2
    # Children start within their parent.
    for child in ("github-api", "parse-json"):
        assert server_span["startTime"] <= by_name[child]["startTime"]
        assert (by_name[child]["startTime"] + by_name[child]["duration"]
                <= server_span["startTime"] + server_span["duration"] + 1000)


def check_ready_trace(trace: dict, server_operation: str):
    by_name = {s["operationName"]: s for s in trace["spans"]}
    assert set(by_name) == {server_operation, "redis-ping"}, sorted(by_name)
    ping = by_name["redis-ping"]
    assert tags(ping)["redis.ping"] is True
    assert [(r["refType"], r["spanID"]) for r in ping["references"]] == [("CHILD_OF", by_name[server_operation]["spanID"])]


def test_jaeger_client_variant(osprey_module, redis_port, github_url):
    server = osprey_module
    proc, base = run_app(
        "app.py",
        {"JAEGER_AGENT_HOST": "127.0.0.1", "JAEGER_AGENT_PORT": str(server.ports["JAEGER_COMPACT"])},
        redis_port, github_url,
    )
    try:
        wait_http(base + "/ready", proc)
        assert b"osprey" in get(base + "/remote")
        check_remote_trace(find_trace(server, "flask-app", "github-api", 3), "remote")
        check_ready_trace(find_trace(server, "flask-app", "redis-ping", 2), "ready")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_opentelemetry_variant(osprey_module, redis_port, github_url, protocol):
    server = osprey_module
    service = "flask-app-otel-" + protocol.split("/")[0]
    endpoint = server.url("OTLP_GRPC" if protocol == "grpc" else "OTLP_HTTP")
    proc, base = run_app(
        "app_otel.py",
        {"OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": service},
        redis_port, github_url,
    )
    try:
        wait_http(base + "/ready", proc)
        get(base + "/remote")
        check_remote_trace(find_trace(server, service, "github-api", 3), "GET /remote")
        check_ready_trace(find_trace(server, service, "redis-ping", 2), "GET /ready")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
