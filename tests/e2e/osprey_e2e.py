"""Shared helpers for the Osprey end-to-end suite.

Starts the real server binary as a child process and talks to it over plain HTTP
(http.client), so that the tests do not depend on any client library except where a
test explicitly wants the official Elasticsearch client.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every listener the binary has besides the Elasticsearch API and the health/metrics port.
DISABLED_LISTENERS = (
    "OSPREY_OTLP_GRPC_ADDR",
    "OSPREY_OTLP_HTTP_ADDR",
    "OSPREY_JAEGER_QUERY_ADDR",
    "OSPREY_JAEGER_GRPC_ADDR",
    "OSPREY_JAEGER_HTTP_ADDR",
    "OSPREY_JAEGER_COMPACT_ADDR",
    "OSPREY_JAEGER_BINARY_ADDR",
    "OSPREY_SAMPLING_ADDR",
    "OSPREY_ZIPKIN_ADDR",
    "OSPREY_FORWARD_ADDR",
)

# The listeners a server started with `tracing=True` serves, each on a fresh port (the span
# protocols, the Jaeger APIs and the Fluentd forward protocol).
TRACING_TCP_LISTENERS = ("OTLP_GRPC", "OTLP_HTTP", "JAEGER_QUERY", "JAEGER_GRPC", "JAEGER_HTTP", "ZIPKIN", "SAMPLING",
                         "FORWARD")
TRACING_UDP_LISTENERS = ("JAEGER_COMPACT", "JAEGER_BINARY")

HEALTH_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0

# Every server started in this pytest process that has not been stopped yet; conftest's
# report hook appends their stderr to the report of a failing test.
LIVE_SERVERS: list["OspreyServer"] = []


def osprey_bin() -> Path:
    p = Path(os.environ.get("OSPREY_BIN", "target/debug/osprey"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


class OspreyServer:
    """One osprey process on a data directory; may be stopped and started again."""

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path | None = None,
        extra_env: dict | None = None,
        tracing: bool = False,
    ):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="osprey-log-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(extra_env or {})
        self.tracing = tracing
        # listener NAME -> port, for the tracing listeners (when `tracing`)
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.es_port = 0
        self.http_port = 0
        self.stderr_path: Path | None = None
        self.last_exit_code: int | None = None
        # restart on the same ports (for clients that keep a URL, like the agent)
        self.keep_ports = False

    # ---------------------------------------------------------------- urls
    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.es_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def url(self, listener: str) -> str:
        """Base URL of a tracing listener (`JAEGER_QUERY`, `OTLP_HTTP`, `ZIPKIN`, ...)."""
        return f"http://127.0.0.1:{self.ports[listener]}"

    def query_api(self, path: str, timeout: float = 30.0):
        """GET on the Jaeger query API. Returns (status, parsed JSON)."""
        status, _, data = request("GET", self.url("JAEGER_QUERY") + path, timeout=timeout)
        return status, parse_json(data)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = HEALTH_TIMEOUT_S) -> "OspreyServer":
        binary = osprey_bin()
        if not binary.exists():
            raise ServerStartError(f"osprey binary not found at {binary} (set OSPREY_BIN or run cargo build)")
        self.starts += 1
        # fresh ports on every start: a port of a killed process may linger in TIME_WAIT
        if not (self.keep_ports and self.http_port):
            self.es_port = free_port()
            self.http_port = free_port()
            while self.http_port == self.es_port:
                self.http_port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "OSPREY_ELASTIC_ADDR": f"127.0.0.1:{self.es_port}",
                "OSPREY_HTTP_ADDR": f"127.0.0.1:{self.http_port}",
                "OSPREY_DATA_DIR": str(self.data_dir),
            }
        )
        for name in DISABLED_LISTENERS:
            env[name] = "off"
        if self.tracing:
            used = {self.es_port, self.http_port}
            for names, kind in ((TRACING_TCP_LISTENERS, socket.SOCK_STREAM), (TRACING_UDP_LISTENERS, socket.SOCK_DGRAM)):
                for name in names:
                    port = free_port(kind)
                    while port in used:
                        port = free_port(kind)
                    used.add(port)
                    self.ports[name] = port
                    env[f"OSPREY_{name}_ADDR"] = f"127.0.0.1:{port}"
        env.update(self.extra_env)
        self.stderr_path = self.log_dir / f"osprey-stderr.{self.starts}.log"
        stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(binary), "serve", "--data-dir", str(self.data_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=str(self.log_dir),
            )
        finally:
            stderr.close()
        LIVE_SERVERS.append(self)
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self._forget()
                raise ServerStartError(
                    f"osprey exited with code {code} during startup (data dir {self.data_dir})\n"
                    f"--- stderr ---\n{self.stderr_tail()}"
                )
            try:
                status, _, _ = request("GET", f"{self.http_url}/health", timeout=2)
                if status == 200:
                    return self
                last_err = f"/health answered {status}"
            except (OSError, http.client.HTTPException) as e:  # connection refused while starting
                last_err = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise ServerStartError(
            f"osprey did not answer GET /health with 200 within {timeout}s (last: {last_err})\n"
            f"--- stderr ---\n{self.stderr_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Graceful stop: SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return self.last_exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._append_note(f"[e2e] osprey ignored SIGTERM for {timeout}s and was killed\n")
        self.last_exit_code = self.proc.returncode
        self._forget()
        return self.last_exit_code

    def kill9(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.last_exit_code = self.proc.returncode
        self._forget()

    def restart(self) -> "OspreyServer":
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _forget(self) -> None:
        self.proc = None
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def _append_note(self, text: str) -> None:
        if self.stderr_path:
            with open(self.stderr_path, "a") as f:
                f.write(text)

    def stderr_tail(self, max_bytes: int = 20000) -> str:
        """Last bytes of the stderr of every start of this server (newest last)."""
        out = []
        for path in sorted(self.log_dir.glob("osprey-stderr.*.log"), key=lambda p: int(p.suffixes[0][1:])):
            data = path.read_bytes()
            if len(data) > max_bytes:
                data = b"...[cut]...\n" + data[-max_bytes:]
            out.append(f"=== {path.name} ===\n{data.decode('utf-8', 'replace')}")
        return "\n".join(out[-3:])

    # ------------------------------------------------------------- helpers
    def es(self, method: str, path: str, body=None, headers=None, timeout: float = 60.0):
        """Request to the Elasticsearch API. `body` may be bytes, str, dict/list (JSON) or None.
        Returns (status, parsed JSON or raw bytes, headers)."""
        status, hdrs, data = request(method, self.es_url + path, body, headers, timeout)
        return status, parse_json(data), hdrs

    def health_ok(self) -> bool:
        try:
            status, _, _ = request("GET", f"{self.http_url}/health", timeout=5)
            return status == 200
        except (OSError, http.client.HTTPException):
            return False

    def cleanup(self) -> None:
        shutil.rmtree(self.log_dir, ignore_errors=True)


# ------------------------------------------------------------------ HTTP helpers
def request(method: str, url: str, body=None, headers=None, timeout: float = 60.0):
    """One HTTP request on a fresh connection. Returns (status, headers dict lower-cased, body bytes)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = {}
    if body is not None and not isinstance(body, (bytes, bytearray, str)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    if body is not None and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def parse_json(data: bytes):
    try:
        return json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError):
        return data


def ndjson(lines) -> bytes:
    """Lines (dicts or pre-encoded str/bytes) -> NDJSON body with trailing newline."""
    out = []
    for line in lines:
        if isinstance(line, bytes):
            out.append(line)
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(json.dumps(line, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"


def error_reason(body) -> str:
    """Concatenated error reasons of an ES-style error body (including root_cause/caused_by)."""
    if not isinstance(body, dict):
        return str(body)
    parts = []

    def walk(err):
        if isinstance(err, dict):
            for key in ("type", "reason"):
                if isinstance(err.get(key), str):
                    parts.append(err[key])
            for key in ("root_cause", "caused_by"):
                sub = err.get(key)
                if isinstance(sub, list):
                    for s in sub:
                        walk(s)
                elif sub is not None:
                    walk(sub)
        elif isinstance(err, str):
            parts.append(err)

    walk(body.get("error"))
    return " | ".join(parts)


def assert_es_error(status: int, body, expected_status, must_mention=()):
    """Asserts an ES-shaped error: {"error":{"type":..,"reason":..},"status":N}."""
    expected = expected_status if isinstance(expected_status, (tuple, list, set, range)) else (expected_status,)
    assert status in expected, f"expected HTTP {expected_status}, got {status}: {body!r:.2000}"
    assert isinstance(body, dict), f"error body is not JSON: {body!r:.2000}"
    err = body.get("error")
    assert isinstance(err, dict), f"no error object in {body!r:.2000}"
    assert isinstance(err.get("type"), str) and err["type"], f"error.type missing in {body!r:.2000}"
    assert isinstance(err.get("reason"), str) and err["reason"], f"error.reason missing in {body!r:.2000}"
    assert body.get("status") == status, f"body status {body.get('status')} != HTTP status {status}"
    reason = error_reason(body)
    for word in must_mention:
        assert word.lower() in reason.lower(), f"error reason does not mention {word!r}: {reason!r}"
    return reason


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value {last!r})")
        time.sleep(interval)


def all_ids_by_seq(server: OspreyServer, index: str, page: int = 5000, query=None):
    """Every (_id, seq) of an index via search_after paging sorted by the numeric `seq` field.
    Returns a list in the order seen."""
    out = []
    after = None
    body = {
        "size": page,
        "_source": False,
        "query": query or {"match_all": {}},
        "sort": [{"seq": "asc"}],
        "track_total_hits": False,
    }
    for _ in range(100000):
        if after is not None:
            body["search_after"] = after
        status, res, _ = server.es("POST", f"/{index}/_search", body, timeout=120)
        assert status == 200, f"search_after paging failed: {status} {res!r:.2000}"
        hits = res["hits"]["hits"]
        if not hits:
            return out
        for h in hits:
            out.append((h["_id"], h["sort"][0]))
        after = hits[-1]["sort"]
    raise AssertionError("search_after paging did not terminate")
