"""Logs and traces linked: log documents that carry a trace id (OTLP logs from the OpenTelemetry
SDK, or a `trace_id`/`traceID` field in any shipped log line) are found from the trace, and a
span lists its own logs (`GET /api/traces/{id}/logs?spanID=`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from osprey_e2e import ndjson, wait_until

OSPREY_TRACING = True

SDK_CLIENT = textwrap.dedent("""
    import json, logging, sys
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    protocol, endpoint, service = sys.argv[1:4]
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        spans, logs = OTLPSpanExporter(endpoint=endpoint, insecure=True), OTLPLogExporter(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        spans, logs = OTLPSpanExporter(endpoint=endpoint + "/v1/traces"), OTLPLogExporter(endpoint=endpoint + "/v1/logs")
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logging.getLogger("checkout")
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
    tracer = tracer_provider.get_tracer("e2e")
    with tracer.start_as_current_span("checkout") as root:
        logger.info("cart has %d items", 3)
        with tracer.start_as_current_span("charge") as child:
            logger.error("card declined")
    logger.warning("outside any span")
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(json.dumps({"trace_id": format(root.get_span_context().trace_id, "032x"),
                      "root": format(root.get_span_context().span_id, "016x"),
                      "child": format(child.get_span_context().span_id, "016x")}))
""")


def logs_of(server, trace_id: str, span_id: str | None = None, expected: int = 1):
    path = f"/api/traces/{trace_id}/logs" + (f"?spanID={span_id}" if span_id else "")

    def found():
        status, body = server.query_api(path)
        assert status == 200, body
        return body["data"] if len(body["data"]) >= expected else None

    return wait_until(found, timeout=15, what=f"{expected} log lines of {trace_id}")


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_otel_sdk_logs_link_to_their_trace_and_span(osprey_module, protocol):
    server = osprey_module
    endpoint = server.url("OTLP_GRPC" if protocol == "grpc" else "OTLP_HTTP")
    service = f"logs-{protocol}"
    result = subprocess.run([sys.executable, "-c", SDK_CLIENT, protocol, endpoint, service],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = json.loads(result.stdout.strip().splitlines()[-1])
    logs = logs_of(server, ids["trace_id"], expected=2)
    messages = [line["source"]["message"] for line in logs]
    assert messages == ["cart has 3 items", "card declined"], messages
    assert all(line["index"] == "otel-logs" for line in logs)
    assert logs[1]["source"]["level"] == "ERROR" and logs[1]["source"]["service"]["name"] == service
    child_logs = logs_of(server, ids["trace_id"], ids["child"])
    assert [line["source"]["message"] for line in child_logs] == ["card declined"]
    assert child_logs[0]["source"]["span_id"] == ids["child"]
    # The log outside any span is stored, but belongs to no trace.
    assert server.es("POST", "/otel-logs/_refresh")[0] == 200
    query = {"bool": {"filter": [{"match_phrase": {"message": "outside any span"}},
                                 {"term": {"service.name.keyword": service}}]}}
    status, body, _ = server.es("POST", "/otel-logs/_search", {"query": query})
    assert status == 200 and body["hits"]["total"]["value"] == 1
    assert "trace_id" not in body["hits"]["hits"][0]["_source"]


def test_shipped_log_lines_with_trace_fields_are_found(osprey_module):
    server = osprey_module
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    trace_64 = "00f067aa0ba902b7"
    trace_128 = "4bf92f3577b34da6a3ce929d0e0e4736"
    lines = [
        {"index": {"_index": "logstash-e2e"}},
        {"@timestamp": now, "message": "jaeger-style id", "traceID": trace_64, "spanID": "00000000000000aa"},
        {"index": {"_index": "logstash-e2e"}},
        {"@timestamp": now, "message": "zero-padded id", "trace_id": "0" * 16 + trace_64},
        {"index": {"_index": "logstash-e2e"}},
        {"@timestamp": now, "message": "ecs id", "trace": {"id": trace_128}, "span": {"id": "00000000000000bb"}},
        {"index": {"_index": "logstash-e2e"}},
        {"@timestamp": now, "message": "someone else's trace", "trace_id": "ffffffffffffffffffffffffffffffff"},
    ]
    status, body, _ = server.es("POST", "/_bulk?refresh=true", ndjson(lines), {"Content-Type": "application/x-ndjson"})
    assert status == 200 and not body["errors"], body
    found = sorted(line["source"]["message"] for line in logs_of(server, trace_64, expected=2))
    assert found == ["jaeger-style id", "zero-padded id"]
    assert [line["source"]["message"] for line in logs_of(server, trace_64, "00000000000000aa")] == ["jaeger-style id"]
    assert [line["source"]["message"] for line in logs_of(server, trace_128)] == ["ecs id"]
    status, body = server.query_api(f"/api/traces/{trace_128}/logs?spanID=00000000000000aa")
    assert status == 200 and body["data"] == []
    status, body = server.query_api("/api/traces/xyz/logs")
    assert status == 400 and "trace id" in body["errors"][0]["msg"]
