"""Unchanged real tracing clients deliver traces that come back through the Jaeger query API
with every span, tag, log/event and parent link intact.

Clients (each in its own process, see trace_clients.py): jaeger-client (Python, Thrift compact
over UDP), Apache Thrift with Jaeger's IDL (binary over UDP, and POST /api/traces), grpcio with
Python's protobuf runtime for Jaeger's api_v2 PostSpans, the
OpenTelemetry Python SDK over OTLP gRPC and OTLP HTTP, and py_zipkin with JSON and proto3.
What each client sent is described from the client's own records, not written down here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from osprey_e2e import request, wait_until

OSPREY_TRACING = True
CLIENTS = Path(__file__).with_name("trace_clients.py")


def run_client(*args) -> dict:
    result = subprocess.run(
        [sys.executable, str(CLIENTS), *map(str, args)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"client {args} failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def fetch_trace(server, trace_id: str, expected_spans: int) -> dict:
    """The trace by id, once all its spans are searchable (at most 1 s after acknowledgement;
    UDP spans are written asynchronously)."""

    def complete():
        status, body = server.query_api(f"/api/traces/{trace_id}")
        if status == 200 and len(body["data"][0]["spans"]) >= expected_spans:
            return body
        return None

    body = wait_until(complete, timeout=15, what=f"trace {trace_id} with {expected_spans} spans")
    assert body["errors"] is None and body["total"] == 1
    return body["data"][0]


def same_value(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    return a == b


def triples(kvs) -> list:
    return [[kv["key"], kv["type"], kv["value"]] for kv in kvs]


def assert_tags_contain(actual: list, expected: list, where: str):
    for key, kind, value in expected:
        matches = [t for t in actual if t[0] == key and t[1] == kind and same_value(t[2], value)]
        assert matches, f"{where}: tag {key}={value!r} ({kind}) missing; tags are {actual}"


def assert_trace_matches(trace: dict, sent: dict, exact_tags: bool):
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert len(trace["spans"]) == len(sent["spans"]), (
        f"stored {len(trace['spans'])} spans, the client sent {len(sent['spans'])}"
    )
    # Jaeger prints a 128-bit id whose high half is zero as 16 digits.
    assert int(trace["traceID"], 16) == int(sent["trace_id"], 16), (trace["traceID"], sent["trace_id"])
    for expected in sent["spans"]:
        span = spans.get(expected["span_id"])
        where = f"span {expected['operation']} ({expected['span_id']})"
        assert span is not None, f"{where} missing; stored {list(spans)}"
        assert span["operationName"] == expected["operation"], where
        assert trace["processes"][span["processID"]]["serviceName"] == expected["service"], where
        refs = [(r["refType"], r["spanID"]) for r in span["references"]]
        if expected["parent_id"]:
            assert ("CHILD_OF", expected["parent_id"]) in refs, f"{where}: parent link lost: {refs}"
        else:
            assert not any(kind == "CHILD_OF" for kind, _ in refs), f"{where}: unexpected parent {refs}"
        for follows in expected["follows_from"]:
            assert ("FOLLOWS_FROM", follows) in refs, f"{where}: follows-from/link lost: {refs}"
        actual_tags = triples(span["tags"])
        assert_tags_contain(actual_tags, expected["tags"], where)
        if exact_tags:
            assert len(actual_tags) == len(expected["tags"]), f"{where}: {actual_tags} != {expected['tags']}"
        actual_logs = [triples(log["fields"]) for log in span["logs"]]
        assert len(actual_logs) == len(expected["logs"]), f"{where}: logs {actual_logs} != {expected['logs']}"
        for got, want in zip(actual_logs, expected["logs"]):
            assert len(got) == len(want), f"{where}: log fields {got} != {want}"
            assert_tags_contain(got, want, where + " log")
    for process_tag in sent.get("process_tags", []):
        all_process_tags = [t for p in trace["processes"].values() for t in triples(p["tags"])]
        assert_tags_contain(all_process_tags, [process_tag], "process")


def assert_searchable(server, sent: dict, service: str):
    """The trace is found by service, by operation and by a tag, and the catalogue knows them."""
    status, services = server.query_api("/api/services")
    assert status == 200 and service in services["data"], services
    status, operations = server.query_api(f"/api/services/{urllib.parse.quote(service)}/operations")
    assert status == 200
    assert {s["operation"] for s in sent["spans"]} <= set(operations["data"]), operations
    root = next(s for s in sent["spans"] if not s["parent_id"])
    params = {"service": service, "operation": root["operation"], "lookback": "1h", "limit": "20"}
    key, _, value = root["tags"][0]
    params["tags"] = json.dumps({key: str(value).lower() if isinstance(value, bool) else str(value)})
    status, found = server.query_api("/api/traces?" + urllib.parse.urlencode(params))
    assert status == 200, found
    found_ids = [t["traceID"] for t in found["data"]]
    assert int(sent["trace_id"], 16) in {int(i, 16) for i in found_ids}, (
        f"search {params} did not find {sent['trace_id']}: {found_ids}"
    )
    # A tag value the trace does not have finds nothing of it.
    params["tags"] = json.dumps({key: "no-such-value-xyz"})
    status, found = server.query_api("/api/traces?" + urllib.parse.urlencode(params))
    assert status == 200 and found["data"] == [], found


@pytest.mark.parametrize(
    "client",
    ["jaeger-udp", "thrift-binary", "thrift-http", "jaeger-grpc", "otel-grpc", "otel-http", "zipkin-json", "zipkin-proto"],
)
def test_real_client_round_trip(osprey_module, client):
    server = osprey_module
    service = f"e2e-{client}"
    if client == "jaeger-udp":
        sent = run_client("jaeger-udp", server.ports["JAEGER_COMPACT"], service)
    elif client == "thrift-binary":
        sent = run_client("thrift-binary", server.ports["JAEGER_BINARY"], service)
    elif client == "thrift-http":
        sent = run_client("thrift-http", server.url("JAEGER_HTTP"), service)
        assert sent["status"] == 202
    elif client == "jaeger-grpc":
        sent = run_client("jaeger-grpc", f"127.0.0.1:{server.ports['JAEGER_GRPC']}", service)
    elif client.startswith("otel-"):
        protocol = client.split("-")[1]
        endpoint = server.url("OTLP_GRPC" if protocol == "grpc" else "OTLP_HTTP")
        sent = run_client("otel", protocol, endpoint, service)
    else:
        sent = run_client("zipkin", client.split("-")[1], server.ports["ZIPKIN"], service)
    trace = fetch_trace(server, sent["trace_id"], len(sent["spans"]))
    assert_trace_matches(trace, sent, exact_tags=client.startswith(("otel", "thrift", "zipkin", "jaeger-grpc")))
    assert_searchable(server, sent, service)


def test_duration_and_time_filters(osprey_module):
    server = osprey_module
    sent = run_client("thrift-http", server.url("JAEGER_HTTP"), "e2e-filters")
    fetch_trace(server, sent["trace_id"], 2)

    def search(**params):
        params.setdefault("service", "e2e-filters")
        status, body = server.query_api("/api/traces?" + urllib.parse.urlencode(params))
        assert status == 200, body
        return [t["traceID"] for t in body["data"]]

    # The root lasts 1500 µs, its child 900 µs.
    assert search(minDuration="1ms") and search(minDuration="1ms", maxDuration="2ms")
    assert search(minDuration="2ms") == []
    assert search(operation="SELECT orders", maxDuration="1ms")
    assert search(operation="SELECT orders", minDuration="1ms") == []
    assert search(start="1", end="1000") == [], "a window in 1970 has no traces"


def test_query_api_errors_are_jaeger_shaped(osprey_module):
    server = osprey_module
    for path, status, word in [
        ("/api/traces", 400, "service"),
        ("/api/traces?service=x&minDuration=fast", 400, "minDuration"),
        ("/api/traces?service=x&tags=notjson", 400, "tags"),
        ("/api/traces?service=x&lookback=forever", 400, "lookback"),
        ("/api/traces/not-hex", 400, "trace id"),
        ("/api/traces/00000000000000000000000000000abc", 404, "not found"),
        ("/api/operations", 400, "service"),
        ("/api/dependencies?endTs=soon", 400, "endTs"),
    ]:
        code, body = server.query_api(path)
        assert code == status, f"{path}: {code} {body}"
        assert body["data"] is None and body["errors"][0]["code"] == status, body
        assert word.lower() in body["errors"][0]["msg"].lower(), body


def test_dependencies_from_parent_child_across_services(osprey_module):
    """A span whose parent belongs to another service is a call between the two services."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    import os
    import time

    now = time.time_ns()
    trace_id = os.urandom(16)
    body = ExportTraceServiceRequest()
    for service, span_id, parent in [("frontend", b"\x01" * 8, b""), ("backend", b"\x02" * 8, b"\x01" * 8),
                                     ("db", b"\x03" * 8, b"\x02" * 8), ("backend", b"\x04" * 8, b"\x02" * 8)]:
        rs = body.resource_spans.add()
        attr = rs.resource.attributes.add()
        attr.key, attr.value.string_value = "service.name", f"deps-{service}"
        span = rs.scope_spans.add().spans.add()
        span.trace_id, span.span_id, span.parent_span_id = trace_id, span_id, parent
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = "op", now, now + 1000
    status, _, _ = request("POST", server_url(osprey_module, "OTLP_HTTP") + "/v1/traces", body.SerializeToString(),
                           {"Content-Type": "application/x-protobuf"})
    assert status == 200

    def links():
        code, answer = osprey_module.query_api(f"/api/dependencies?endTs={int(time.time() * 1000) + 1000}&lookback=60000")
        assert code == 200, answer
        found = {(d["parent"], d["child"]): d["callCount"] for d in answer["data"] if d["parent"].startswith("deps-")}
        return found if len(found) == 2 else None

    found = wait_until(links, timeout=10, what="dependency links")
    assert found == {("deps-frontend", "deps-backend"): 1, ("deps-backend", "deps-db"): 1}


def server_url(server, listener: str) -> str:
    return server.url(listener)


def test_api_v3_returns_otlp_shaped_traces(osprey_module):
    """api_v3 answers in OTLP/JSON: the spans the OTel SDK sent come back with their OTLP ids,
    kinds, attributes, events, links and status."""
    server = osprey_module
    service = "e2e-api-v3"
    sent = run_client("otel", "http", server.url("OTLP_HTTP"), service)
    fetch_trace(server, sent["trace_id"], len(sent["spans"]))
    status, body = server.query_api(f"/api/v3/traces/{sent['trace_id']}")
    assert status == 200, body
    spans = {}
    for resource_spans in body["result"]["resourceSpans"]:
        attributes = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
        assert attributes["service.name"] == {"stringValue": service}
        for scope_spans in resource_spans["scopeSpans"]:
            assert scope_spans["scope"]["name"] == "osprey.e2e"
            for span in scope_spans["spans"]:
                spans[span["spanId"]] = span
    assert set(spans) == {s["span_id"] for s in sent["spans"]}
    for expected in sent["spans"]:
        span = spans[expected["span_id"]]
        assert span["traceId"] == sent["trace_id"] and span["name"] == expected["operation"]
        assert span.get("parentSpanId", "") == (expected["parent_id"] or "")
        assert [link["spanId"] for link in span.get("links", [])] == expected["follows_from"]
    root = next(s for s in spans.values() if not s.get("parentSpanId"))
    assert root["kind"] == 2  # SERVER
    assert {"key": "http.status_code", "value": {"intValue": "200"}} in root["attributes"]
    assert root["events"][0]["name"] == "cart loaded"
    child = next(s for s in spans.values() if s["name"] == "redis GET")
    assert child["status"] == {"code": 2, "message": "timeout"}
    status, body = server.query_api("/api/v3/services")
    assert service in body["services"]
    status, body = server.query_api(f"/api/v3/operations?service={service}&span_kind=client")
    assert body["operations"] == [{"name": "redis GET", "spanKind": "client"}]
    status, body = server.query_api(f"/api/v3/traces?query.service_name={service}&query.operation_name=render")
    assert status == 200 and {s["traceId"] for rs in body["result"]["resourceSpans"]
                              for ss in rs["scopeSpans"] for s in ss["spans"]} == {sent["trace_id"]}
    status, body = server.query_api("/api/v3/traces?query.service_name=x&query.start_time_min=yesterday")
    assert status == 400 and "RFC 3339" in body["error"]["message"]
    status, body = server.query_api("/api/v3/traces/00000000000000000000000000000def")
    assert status == 404 and body["error"]["httpCode"] == 404
