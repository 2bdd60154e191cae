"""The Fluentd forward protocol (FORWARD listener) with the Fluentd project's own clients,
unchanged: `fluent-logger` (PyPI) and `@fluent-org/logger` (npm) in every event mode, with
acknowledgements; a connection dropped before the ack leads to a resend, not a loss; malformed
input is dropped and counted without taking the connection or the server down."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import msgpack
import pytest
from fluent import sender

from osprey_e2e import REPO_ROOT, wait_until

OSPREY_TRACING = True
NODE_DIR = REPO_ROOT / "tests" / "e2e" / "node"
DAY0 = 1764115200  # 2025-11-26T00:00:00Z: the Node client's event times start here


def search_all(server, index: str, query: dict) -> list[dict]:
    status, body, _ = server.es("POST", f"/{index}/_refresh")
    if status == 404:
        return []  # nothing stored there yet
    assert status == 200, body
    status, body, _ = server.es("POST", f"/{index}/_search", {"query": query, "size": 10000})
    assert status == 200, body
    return [hit["_source"] for hit in body["hits"]["hits"]]


def node_client(port: int, mode: str, count: int, prefix: str) -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    out = subprocess.run(["node", str(NODE_DIR / "forward_client.js"), str(port), mode, str(count), prefix],
                         capture_output=True, text=True, timeout=180, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def metric(server, name: str) -> float:
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.split()[1]) for line in text.splitlines() if line.startswith(name))


def test_fluent_logger_python_events_arrive_with_tag_and_time(osprey_module):
    osprey = osprey_module
    logger = sender.FluentSender("app", host="127.0.0.1", port=osprey.ports["FORWARD"], nanosecond_precision=True)
    base = time.time() - 60
    try:
        for seq in range(200):
            assert logger.emit_with_time("web", base + seq * 0.001, {"seq": seq, "msg": f"hello {seq}", "ok": True}), \
                logger.last_error
    finally:
        logger.close()
    day = time.strftime("%Y.%m.%d", time.gmtime(base))
    # fluent-logger does not ask for acknowledgements: wait for the events to be stored.
    query = {"term": {"tag.keyword": "app.web"}}
    wait_until(lambda: len(search_all(osprey, f"logstash-{day}", query)) >= 200, timeout=15,
               what="200 events from fluent-logger")
    docs = search_all(osprey, f"logstash-{day}", query)
    assert sorted(d["seq"] for d in docs) == list(range(200))
    first = next(d for d in docs if d["seq"] == 0)
    assert first["msg"] == "hello 0" and first["ok"] is True
    # Event time to the millisecond at least (EventTime carries nanoseconds).
    stamp = first["@timestamp"]
    assert stamp.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base))), stamp
    status, body, _ = osprey.es("GET", f"/logstash-{day}/_search?q=tag:app.web%20AND%20msg:hello&size=0")
    assert status == 200 and body["hits"]["total"]["value"] == 200, body


@pytest.mark.parametrize("mode", ["Message", "Forward", "PackedForward", "CompressedPackedForward"])
def test_fluent_org_logger_every_mode_with_acks(osprey_module, mode):
    osprey = osprey_module
    prefix = f"node-{mode.lower()}"
    result = node_client(osprey.ports["FORWARD"], mode, 500, prefix)
    assert result["failed"] == 0, result
    docs = search_all(osprey, "logstash-2025.11.26", {"term": {"tag.keyword": f"{prefix}.events"}})
    seqs = sorted(d["seq"] for d in docs)
    assert seqs == list(range(500)), f"{mode}: {len(seqs)} events, {len(set(seqs))} distinct"
    doc = next(d for d in docs if d["seq"] == 7)
    assert doc["mode"] == mode and doc["message"] == f"event 7 of {mode}"
    assert doc["@timestamp"].startswith("2025-11-26T00:00:07.123"), doc["@timestamp"]


class AckDroppingProxy:
    """Relays a forward connection to Osprey, but closes both sides instead of passing on each
    of the first `drops` acknowledgements: the events are stored, the client never hears so."""

    def __init__(self, upstream_port: int, drops: int):
        self.upstream_port = upstream_port
        self.drops_left = drops
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self.pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, True), daemon=True).start()

    def pipe(self, source, target, answers: bool):
        try:
            while data := source.recv(65536):
                if answers:
                    with self.lock:
                        drop = self.drops_left > 0
                        if drop:
                            self.drops_left -= 1
                            self.dropped += 1
                    if drop:
                        break
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()


def test_a_connection_dropped_before_the_ack_leads_to_a_resend_not_a_loss(osprey_module):
    osprey = osprey_module
    proxy = AckDroppingProxy(osprey.ports["FORWARD"], drops=3)
    try:
        result = node_client(proxy.port, "PackedForward", 300, "resend")
    finally:
        proxy.close()
    assert proxy.dropped == 3
    assert result["failed"] == 0, result
    assert result["retried_errors"] >= 1, f"the client never retried: {result}"
    docs = search_all(osprey, "logstash-2025.11.26", {"term": {"tag.keyword": "resend.events"}})
    seqs = [d["seq"] for d in docs]
    assert set(seqs) == set(range(300)), f"lost: {sorted(set(range(300)) - set(seqs))[:10]}"
    duplicates = len(seqs) - len(set(seqs))
    print(f"\n[e2e] forward resend: 300 events, {duplicates} duplicates after 3 dropped acks")


def test_malformed_input_is_dropped_and_counted(osprey_module):
    osprey = osprey_module
    port = osprey.ports["FORWARD"]
    invalid_before = metric(osprey, 'osprey_forward_events_total{outcome="invalid"}')
    # A framed message with a bad record, asking for an ack: dropped, not acknowledged, and the
    # connection goes on to serve the next message.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(msgpack.packb(["bad", 1764115200, "not a map", {"chunk": "c-bad"}]))
        conn.sendall(msgpack.packb(["good.one", 1764115200, {"seq": 1}, {"chunk": "c-good"}]))
        answer = msgpack.Unpacker()
        answer.feed(conn.recv(1024))
        assert list(answer) == [{"ack": "c-good"}]
    # Bytes that are not MessagePack close the connection; the server stays up.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"\xc1GARBAGE")
        assert conn.recv(1024) == b""
    assert osprey.alive() and osprey.health_ok()
    assert metric(osprey, 'osprey_forward_events_total{outcome="invalid"}') >= invalid_before + 2
    docs = search_all(osprey, "logstash-2025.11.26", {"term": {"tag.keyword": "good.one"}})
    assert [d["seq"] for d in docs] == [1]
