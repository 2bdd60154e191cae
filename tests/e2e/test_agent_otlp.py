"""The agent sending container logs as OTLP (`--protocol otlp`): to an endpoint read with the
OpenTelemetry project's own protobuf bindings (`opentelemetry-proto`), which answers 503 at
first, and to an Osprey server's OTLP_HTTP listener."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from osprey_e2e import osprey_bin, wait_until
from test_agent import rfc3339


class OtlpEndpoint:
    """`POST /v1/logs` decoded by the official bindings; the first `refuse` requests get 503."""

    def __init__(self, refuse: int):
        self.requests: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.encodings: list[str] = []
        self.refused = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if endpoint.refused < refuse:
                    endpoint.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert self.path == "/v1/logs", self.path
                assert self.headers["Content-Type"] == "application/x-protobuf"
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                request = logs_service_pb2.ExportLogsServiceRequest()
                request.ParseFromString(body)
                endpoint.requests.append(request)
                endpoint.encodings.append(encoding)
                answer = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self):
        for request in self.requests:
            for resource_logs in request.resource_logs:
                resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        yield resource, record


def attributes(record) -> dict:
    return {kv.key: kv.value for kv in record.attributes}


def test_container_lines_arrive_as_otlp_log_records_once_after_a_refusal(tmp_path):
    endpoint = OtlpEndpoint(refuse=2)
    logs = tmp_path / "containers"
    logs.mkdir()
    path = logs / f"cart-5d8f_shop_cart-{'e' * 64}.log"
    trace_id = "5b8efff798038103d269b633813fc60c"
    with open(path, "w") as f:
        for i in range(300):
            f.write(f"{rfc3339(time.time())} stdout F plain line {i}\n")
        message = json.dumps({"level": "error", "msg": "payment failed", "trace_id": trace_id,
                              "order": {"id": 7, "items": [1, 2]}})
        f.write(f"{rfc3339(time.time())} stderr F {message}\n")
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--protocol", "otlp", "--server", endpoint.url, "--paths", f"{logs}/*.log",
         "--data-dir", str(tmp_path / "agent"), "--kubernetes", "false"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: sum(1 for _ in endpoint.records()) >= 301, timeout=30,
                   what="every line as an OTLP record")
        time.sleep(1)  # anything sent twice would have arrived by now
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        endpoint.server.shutdown()
    assert endpoint.refused == 2, "the 503s were answered"
    assert set(endpoint.encodings) == {"gzip"}
    records = list(endpoint.records())
    bodies = [record.body.string_value for _, record in records]
    assert len(bodies) == 301 and len(set(bodies)) == 301, "every line once"
    resource, record = next((r, rec) for r, rec in records if rec.severity_text == "error")
    assert resource["k8s.pod.name"] == "cart-5d8f" and resource["k8s.namespace.name"] == "shop"
    assert resource["k8s.container.name"] == "cart" and resource["container.id"] == "e" * 64
    assert record.severity_number == 17  # SEVERITY_NUMBER_ERROR
    assert record.trace_id.hex() == trace_id
    assert record.time_unix_nano > 1_700_000_000 * 10**9 and record.observed_time_unix_nano >= record.time_unix_nano
    fields = attributes(record)
    assert fields["msg"].string_value == "payment failed"
    assert fields["log.iostream"].string_value == "stderr"
    assert fields["log.file.path"].string_value == str(path)
    order = {kv.key: kv.value for kv in fields["order"].kvlist_value.values}
    assert order["id"].int_value == 7 and [v.int_value for v in order["items"].array_value.values] == [1, 2]
    plain = [rec for _, rec in records if rec.body.string_value == "plain line 0"][0]
    assert attributes(plain)["log.offset"].int_value == 0 and attributes(plain)["log.iostream"].string_value == "stdout"


def test_an_osprey_server_takes_the_agents_otlp_logs(osprey_factory, tmp_path):
    server = osprey_factory(tracing=True)
    logs = tmp_path / "containers"
    logs.mkdir()
    with open(logs / f"web-1_shop_nginx-{'a' * 64}.log", "w") as f:
        f.write(f"{rfc3339(time.time())} stdout F GET /cart 200 via otlp\n")
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--protocol", "otlp", "--server", server.url("OTLP_HTTP"),
         "--paths", f"{logs}/*.log", "--data-dir", str(tmp_path / "agent"), "--kubernetes", "false"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def found():
        server.es("POST", "/otel-logs/_refresh")
        status, body, _ = server.es("POST", "/otel-logs/_search", {"query": {"match_phrase": {"message": "via otlp"}}})
        hits = body.get("hits", {}).get("hits", []) if status == 200 else []
        return hits[0]["_source"] if hits else None
    try:
        doc = wait_until(found, timeout=30, what="the line in otel-logs")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    assert doc["message"] == "GET /cart 200 via otlp"
    assert doc["resource"]["k8s.pod.name"] == "web-1" and doc["resource"]["k8s.namespace.name"] == "shop"
    assert doc["attributes"]["log.iostream"] == "stdout"
