"""Disk full: the data dir is an 8 MB tmpfs.

Ingest until a _bulk is refused (HTTP 429 or 5xx, error reason mentions "disk full"),
check that every acknowledged document is still searchable, grow the tmpfs, check that
ingest resumes, restart the server on the same dir and check again. The same for spans
(OTLP over HTTP, the span store writing a block per megabyte). Needs root (mount).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from osprey_e2e import all_ids_by_seq, error_reason

INDEX = "diskfull-e2e"
DOCS_PER_BULK = 200
MAX_BULKS = 2000  # 2000 x 200 x ~600 B = 240 MB: far more than fits in 8 MB, even compressed


def _run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True)


@pytest.fixture
def tmpfs_dir():
    if os.geteuid() != 0:
        pytest.skip("disk-full test needs root to mount a tmpfs")
    mnt = Path(tempfile.mkdtemp(prefix="osprey-tmpfs-"))
    r = _run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt))
    if r.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}); disk-full test skipped")
    try:
        yield mnt
    finally:
        for _ in range(20):
            if _run("umount", str(mnt)).returncode == 0:
                break
            time.sleep(0.5)
        else:
            _run("umount", "-l", str(mnt))
        try:
            mnt.rmdir()
        except OSError:
            pass


class Loader:
    def __init__(self, srv):
        self.srv = srv
        self.rng = random.Random(7)
        self.next_seq = 0
        self.acked: dict[str, int] = {}
        self.sent: dict[str, int] = {}

    def bulk(self, n=DOCS_PER_BULK):
        """Sends one _bulk of n fresh docs. Returns (status, body, acked ids of this bulk)."""
        lines, ids = [], []
        for _ in range(n):
            seq = self.next_seq
            self.next_seq += 1
            _id = f"df-{seq}"
            ids.append((_id, seq))
            # random hex: hard to compress, so the disk really fills up
            payload = "%032x" % self.rng.getrandbits(128)
            msg = " ".join("%016x" % self.rng.getrandbits(64) for _ in range(24))
            lines.append(json.dumps({"index": {"_index": INDEX, "_id": _id}}))
            lines.append(json.dumps({"seq": seq, "token": payload, "message": msg, "level": "INFO"}))
        for _id, seq in ids:
            self.sent[_id] = seq
        body = ("\n".join(lines) + "\n").encode()
        status, res, _ = self.srv.es("POST", "/_bulk", body, {"Content-Type": "application/x-ndjson"}, timeout=60)
        acked = []
        if status == 200 and isinstance(res, dict):
            for (_id, seq), item in zip(ids, res.get("items", [])):
                r = list(item.values())[0]
                if r.get("status") in (200, 201) and r.get("_id") == _id:
                    acked.append(_id)
                    self.acked[_id] = seq
        return status, res, acked

    def verify_acked_present(self, what: str, disk_full: bool = False):
        """Every acknowledged doc is searchable, exactly once; nothing unknown appears.
        While the disk is full a _refresh may itself be refused; acknowledged docs must be
        searchable all the same (the contract: searchable <= 1 s after the ack), so then
        this polls for up to 5 s instead of relying on _refresh."""
        status, res, _ = self.srv.es("POST", f"/{INDEX}/_refresh", timeout=60)
        refresh = f"_refresh answered {status} {json.dumps(res)[:600] if isinstance(res, dict) else res!r}"
        if not disk_full:
            assert status == 200, f"{what}: {refresh}"
        deadline = time.monotonic() + (5 if status != 200 else 0)
        while True:
            pairs = all_ids_by_seq(self.srv, INDEX, page=10000)
            ids = [p[0] for p in pairs]
            found = set(ids)
            missing = [i for i in self.acked if i not in found]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        assert len(ids) == len(found), f"{what}: duplicate _ids"
        assert not missing, (f"{what}: {len(missing)} of {len(self.acked)} acknowledged docs not searchable, "
                             f"e.g. {missing[:5]} ({refresh})")
        assert found <= set(self.sent), f"{what}: unknown docs found"
        status, res, _ = self.srv.es("GET", f"/{INDEX}/_count")
        assert status == 200 and res["count"] == len(found), f"{what}: _count {res} != {len(found)} found"
        return found


@pytest.mark.fault
def test_disk_full_refuses_then_recovers(tmpfs_dir, osprey_factory):
    srv = osprey_factory(data_dir=tmpfs_dir)
    loader = Loader(srv)

    # 1. fill the disk
    refused = None
    for i in range(MAX_BULKS):
        status, res, acked = loader.bulk()
        full_success = status == 200 and isinstance(res, dict) and res.get("errors") is False \
            and len(acked) == DOCS_PER_BULK
        if not full_success:
            refused = (status, res)
            break
    assert refused is not None, (f"an 8 MB data dir took {MAX_BULKS * DOCS_PER_BULK} docs "
                                 f"(~{MAX_BULKS * DOCS_PER_BULK * 600 >> 20} MB) without refusing any")
    status, res = refused
    assert status == 429 or 500 <= status < 600, \
        f"a _bulk on a full disk must be refused with 429 or 5xx; got {status}: {json.dumps(res)[:1500]}"
    assert isinstance(res, dict) and isinstance(res.get("error"), dict), f"no JSON error body: {res!r:.1000}"
    assert "disk full" in error_reason(res).lower(), f"error reason does not say 'disk full': {res!r:.1000}"
    assert res.get("status") == status, res
    assert srv.alive() and srv.health_ok(), "server not healthy while the disk is full"
    n_acked_when_full = len(loader.acked)
    assert n_acked_when_full > 0

    # 2. everything acknowledged is searchable while the disk is full (a smaller bulk may
    #    still fit or not; whatever it acknowledges must be there too)
    loader.bulk(20)
    loader.verify_acked_present("while disk full", disk_full=True)

    # 3. free space: ingest resumes
    r = _run("mount", "-o", "remount,size=64m", str(tmpfs_dir))
    assert r.returncode == 0, f"remount failed: {r.stderr}"
    deadline = time.monotonic() + 15
    while True:
        status, res, acked = loader.bulk(50)
        if status == 200 and res.get("errors") is False and len(acked) == 50:
            break
        assert time.monotonic() < deadline, \
            f"ingest did not resume within 15 s after space was freed: {status} {res!r:.1000}"
        time.sleep(0.5)
    resumed_ids = acked
    found = loader.verify_acked_present("after space was freed")
    assert set(resumed_ids) <= found
    status, res, _ = srv.es("POST", f"/{INDEX}/_search",
                            {"query": {"ids": {"values": [resumed_ids[0]]}}, "size": 1})
    assert status == 200 and res["hits"]["total"]["value"] == 1, res

    # 4. restart on the same dir
    code = srv.stop()
    assert code == 0, f"osprey exited with {code} after SIGTERM"
    srv.start()
    loader.verify_acked_present("after restart")
    status, res, acked = loader.bulk(50)
    assert status == 200 and res.get("errors") is False, f"ingest after restart: {status} {res!r:.500}"
    loader.verify_acked_present("after restart and more ingest")
    print(f"\n[e2e] disk full after {n_acked_when_full} acked docs; {len(loader.acked)} acked in total")


@pytest.mark.fault
def test_start_on_full_disk_then_recover(tmpfs_dir, osprey_factory):
    """Restart while the disk is full: the server must come up (or fail clearly), serve
    reads of what it acknowledged, and take writes again once space is freed."""
    srv = osprey_factory(data_dir=tmpfs_dir)
    loader = Loader(srv)
    for _ in range(MAX_BULKS):
        status, res, acked = loader.bulk()
        if not (status == 200 and res.get("errors") is False):
            break
    else:
        pytest.fail("disk never filled up")
    srv.stop()
    # fill whatever is left so that the restart really meets a full disk
    filler = tmpfs_dir / "filler.bin"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    try:
        srv.start()
        started = True
    except Exception as e:  # noqa: BLE001 - reported below
        started = False
        start_error = str(e)
    if started:
        loader.verify_acked_present("restarted on a full disk", disk_full=True)
        srv.stop()
    filler.unlink()
    r = _run("mount", "-o", "remount,size=64m", str(tmpfs_dir))
    assert r.returncode == 0, r.stderr
    srv.start()
    loader.verify_acked_present("after freeing space")
    status, res, _ = loader.bulk(50)
    assert status == 200 and res.get("errors") is False, f"{status} {res!r:.500}"
    if not started:
        assert "disk" in start_error.lower() or "space" in start_error.lower(), \
            f"startup on a full disk failed without saying why: {start_error[-2000:]}"


def otlp_json_trace(rng: random.Random, spans: int = 20) -> tuple[str, bytes]:
    """One trace of random-payload spans as OTLP JSON (hex ids, as the OTLP/HTTP JSON spec says)."""
    trace_id = "%032x" % rng.getrandbits(128)
    now = time.time_ns()
    items = []
    for i in range(spans):
        items.append({
            "traceId": trace_id, "spanId": "%016x" % (rng.getrandbits(63) + 1), "name": f"op-{i}",
            "startTimeUnixNano": str(now + i), "endTimeUnixNano": str(now + 1000 + i),
            # random hex: hard to compress, so the disk really fills up
            "attributes": [{"key": "payload", "value": {"stringValue": "%0600x" % rng.getrandbits(2400)}}],
        })
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "diskfull"}}]}, "scopeSpans": [{"spans": items}]}]}
    return trace_id, json.dumps(body).encode()


def post_trace(srv, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["OTLP_HTTP"], timeout=60)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def verify_traces(srv, acked: list[str], what: str):
    missing = []
    for trace_id in acked:
        status, body = srv.query_api(f"/api/traces/{trace_id}")
        spans = len(body["data"][0]["spans"]) if status == 200 else 0
        if spans != 20:
            missing.append((trace_id, status, spans))
    assert not missing, f"{what}: {len(missing)} of {len(acked)} acknowledged traces incomplete: {missing[:5]}"


@pytest.mark.fault
def test_spans_on_a_full_disk_are_refused_then_accepted_again(tmpfs_dir, osprey_factory):
    srv = osprey_factory(data_dir=tmpfs_dir, tracing=True, extra_env={"OSPREY_TRACES_HEAD_MAX_MB": "1"})
    rng = random.Random(11)
    acked: list[str] = []
    refused = None
    for _ in range(5000):  # 5000 x 20 x ~700 B = 70 MB: far more than fits
        trace_id, body = otlp_json_trace(rng)
        status, answer = post_trace(srv, body)
        if status == 200:
            acked.append(trace_id)
        else:
            refused = (status, answer)
            break
    assert refused is not None, "an 8 MB data dir took 70 MB of spans without refusing any"
    status, answer = refused
    assert status in (429, 503), f"spans on a full disk must be refused as retryable; got {status}: {answer[:500]!r}"
    assert b"disk full" in answer.lower() or b"behind" in answer.lower(), answer[:500]
    assert srv.alive() and srv.health_ok()
    assert acked, "nothing was acknowledged before the disk filled"
    verify_traces(srv, acked, "while the disk is full")

    r = _run("mount", "-o", "remount,size=96m", str(tmpfs_dir))
    assert r.returncode == 0, f"remount failed: {r.stderr}"
    deadline = time.monotonic() + 20
    while True:
        trace_id, body = otlp_json_trace(rng)
        status, answer = post_trace(srv, body)
        if status == 200:
            acked.append(trace_id)
            break
        assert time.monotonic() < deadline, f"span ingest did not resume after space was freed: {status} {answer[:300]!r}"
        time.sleep(0.5)
    verify_traces(srv, acked, "after space was freed")

    assert srv.stop() == 0, "osprey did not exit cleanly after SIGTERM"
    srv.start()
    verify_traces(srv, acked, "after restart")
    print(f"\n[e2e] span disk full after {len(acked) - 1} acked traces")
