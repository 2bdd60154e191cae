"""Crash safety of span ingest: kill -9 during concurrent OTLP exports (HTTP and gRPC) and
Zipkin posts, restart, and every acknowledged batch is there, whole.

Each batch is one trace of SPANS_PER_TRACE spans with a unique trace id; a batch counts as
acknowledged when the protocol answered success. The span store writes a block for every
megabyte of spans, so kills also land while blocks are written and WAL files deleted. After every restart each acknowledged trace
must come back from /api/traces/{id} with all its spans, and the services are still listed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time

import grpc
import pytest
import urllib.request
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ROUNDS = int(os.environ.get("OSPREY_TRACE_KILL9_ROUNDS", "5"))
SPANS_PER_TRACE = 20


def otlp_trace(service: str) -> tuple[str, bytes]:
    trace_id = os.urandom(16)
    body = trace_service_pb2.ExportTraceServiceRequest()
    rs = body.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    spans = rs.scope_spans.add()
    now = time.time_ns()
    parent = b""
    for i in range(SPANS_PER_TRACE):
        span = spans.spans.add()
        span.trace_id, span.span_id, span.parent_span_id = trace_id, os.urandom(7) + bytes([i + 1]), parent
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = f"op-{i}", now + i, now + 1000 + i
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "payload", "x" * 200
        parent = span.span_id
    return trace_id.hex(), body.SerializeToString()


def zipkin_trace(service: str) -> tuple[str, bytes]:
    trace_id = os.urandom(16).hex()
    now = int(time.time() * 1_000_000)
    spans = []
    parent = None
    for i in range(SPANS_PER_TRACE):
        span_id = os.urandom(8).hex()
        span = {"traceId": trace_id, "id": span_id, "name": f"op-{i}", "timestamp": now + i, "duration": 10,
                "localEndpoint": {"serviceName": service}, "tags": {"payload": "y" * 200}}
        if parent:
            span["parentId"] = parent
        spans.append(span)
        parent = span_id
    return trace_id, json.dumps(spans).encode()


def http_writer(port: int, path: str, content_type: str, make, service: str, acked: list, lock, stop):
    conn = None
    while not stop.is_set():
        trace_id, body = make(service)
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            if response.status in (200, 202):
                with lock:
                    acked.append(trace_id)
        except (OSError, http.client.HTTPException):
            conn = None
            time.sleep(0.05)


def grpc_writer(port: int, service: str, acked: list, lock, stop):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        while not stop.is_set():
            trace_id, body = otlp_trace(service)
            try:
                response = stub.Export(trace_service_pb2.ExportTraceServiceRequest.FromString(body), timeout=10)
                if not response.HasField("partial_success"):
                    with lock:
                        acked.append(trace_id)
            except grpc.RpcError:
                time.sleep(0.05)


@pytest.mark.fault
def test_kill9_during_span_ingest_loses_no_acknowledged_batch(osprey_factory):
    server = osprey_factory(tracing=True, extra_env={"OSPREY_TRACES_HEAD_MAX_MB": "1"})
    acked: list[str] = []
    lock = threading.Lock()
    rng = random.Random(7)
    acked_before = 0
    for round_no in range(ROUNDS):
        stop = threading.Event()
        threads = [
            threading.Thread(target=http_writer, args=(server.ports["OTLP_HTTP"], "/v1/traces", "application/x-protobuf",
                                                       otlp_trace, "kill9-otlp-http", acked, lock, stop)),
            threading.Thread(target=http_writer, args=(server.ports["ZIPKIN"], "/api/v2/spans", "application/json",
                                                       zipkin_trace, "kill9-zipkin", acked, lock, stop)),
            threading.Thread(target=grpc_writer, args=(server.ports["OTLP_GRPC"], "kill9-otlp-grpc", acked, lock, stop)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.5, 1.5))
        server.kill9()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.start()
        with lock:
            expected = list(acked)
        assert len(expected) > acked_before, f"round {round_no}: nothing was acknowledged before the kill"
        acked_before = len(expected)
        missing = []
        for trace_id in expected:
            status, body = server.query_api(f"/api/traces/{trace_id}")
            spans = len(body["data"][0]["spans"]) if status == 200 else 0
            if spans != SPANS_PER_TRACE:
                missing.append((trace_id, spans))
        assert not missing, f"round {round_no}: {len(missing)} of {len(expected)} acknowledged traces incomplete: {missing[:5]}"
        status, services = server.query_api("/api/services")
        assert {"kill9-otlp-http", "kill9-zipkin", "kill9-otlp-grpc"} <= set(services["data"]), services
    # Block numbers only grow (merges take new ones): the highest tells how many were written.
    blocks = [int(p.stem) for p in (server.data_dir / "traces" / "blocks").glob("*.blk")]
    assert blocks and max(blocks) >= ROUNDS, f"blocks {blocks}: the kills never met a block write"
    # The span store reports its sizes.
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    gauges = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
              if line.startswith("osprey_span_") and not line.startswith("#")}
    stored = gauges.get("osprey_span_block_spans", 0) + gauges.get("osprey_span_head_spans", 0)
    assert stored >= len(expected) * SPANS_PER_TRACE, gauges
    assert gauges.get("osprey_span_blocks", 0) >= 1 and gauges.get("osprey_span_block_bytes", 0) > 0, gauges
