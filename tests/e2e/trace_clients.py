"""Real tracing clients, unchanged, each run in its own process by test_tracing_clients.py:

    python trace_clients.py jaeger-udp    PORT SERVICE   # jaeger-client, Thrift compact over UDP
    python trace_clients.py thrift-binary PORT SERVICE   # Apache Thrift + Jaeger's IDL, binary over UDP
    python trace_clients.py thrift-http   URL  SERVICE   # Apache Thrift + Jaeger's IDL, POST /api/traces
    python trace_clients.py jaeger-grpc   HOST:PORT SERVICE  # grpcio + Python protobuf, api_v2 PostSpans
    python trace_clients.py otel          grpc|http ENDPOINT SERVICE   # OpenTelemetry SDK, OTLP
    python trace_clients.py zipkin        json|proto PORT SERVICE      # py_zipkin, /api/v2/spans

Each prints one JSON object on stdout describing what the client sent, from the client's own
records (the OTel SDK's in-memory exporter, py_zipkin's encoded payload, the Thrift structs):

    {"trace_id": "<hex>", "spans": [{"span_id", "parent_id", "operation", "tags": [[key, type, value]],
      "logs": [[[key, type, value], ...]], "follows_from": [span ids], "service"}]}

with Jaeger's tag types (string, bool, int64, float64).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time


def jaeger_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def tag(key, value):
    return [key, jaeger_type(value), value]


# ---------------------------------------------------------------- jaeger-client (UDP compact)
def jaeger_udp(port: int, service: str) -> dict:
    from jaeger_client import Config
    from opentracing import follows_from

    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port},
            "logging": False,
        },
        service_name=service,
        validate=True,
    )
    tracer = config.initialize_tracer()
    described = []

    def describe(span, tags, logs, parent=None, follows=()):
        described.append(
            {
                "span_id": format(span.span_id, "016x"),
                "parent_id": format(parent.span_id, "016x") if parent else None,
                "operation": span.operation_name,
                "tags": tags,
                "logs": logs,
                "follows_from": [format(f.span_id, "016x") for f in follows],
                "service": service,
            }
        )

    with tracer.start_span("checkout") as root:
        root.set_tag("http.method", "POST")
        root.set_tag("http.status_code", 201)
        root.set_tag("cart.ratio", 0.75)
        root.set_tag("user.vip", True)
        root.log_kv({"event": "cart loaded", "items": 3})
        with tracer.start_span("charge-card", child_of=root) as charge:
            charge.set_tag("payment.provider", "stripe")
            charge.set_tag("error", True)
            charge.log_kv({"event": "error", "message": "card declined"})
        with tracer.start_span("send-receipt", references=[follows_from(root.context)]) as receipt:
            receipt.set_tag("mail.to", "user@example.com")
        describe(
            root,
            [tag("http.method", "POST"), tag("http.status_code", 201), tag("cart.ratio", 0.75), tag("user.vip", True)],
            [[tag("event", "cart loaded"), tag("items", 3)]],
        )
        describe(
            charge,
            [tag("payment.provider", "stripe"), tag("error", True)],
            [[tag("event", "error"), tag("message", "card declined")]],
            parent=root,
        )
        describe(receipt, [tag("mail.to", "user@example.com")], [], follows=[root])
    trace_id = format(root.trace_id, "016x")
    time.sleep(0.3)
    tracer.close()
    time.sleep(0.5)
    return {"trace_id": trace_id, "spans": described}


# ---------------------------------------------------------------- Apache Thrift with Jaeger's IDL
def thrift_batch(service: str):
    from jaeger_client.thrift_gen.jaeger import ttypes

    now_us = int(time.time() * 1_000_000)
    trace_low, trace_high = 0x0123456789ABCDEF ^ now_us, 0x1111
    root_id, child_id = now_us & 0x7FFFFFFFFFFF, (now_us & 0x7FFFFFFFFFFF) + 1

    def t_str(key, value):
        return ttypes.Tag(key=key, vType=ttypes.TagType.STRING, vStr=value)

    spans = [
        ttypes.Span(
            traceIdLow=trace_low, traceIdHigh=trace_high, spanId=root_id, parentSpanId=0,
            operationName="GET /orders", flags=1, startTime=now_us, duration=1500,
            tags=[
                t_str("span.kind", "server"),
                ttypes.Tag(key="http.status_code", vType=ttypes.TagType.LONG, vLong=200),
                ttypes.Tag(key="sampled.ratio", vType=ttypes.TagType.DOUBLE, vDouble=0.5),
                ttypes.Tag(key="cache.hit", vType=ttypes.TagType.BOOL, vBool=False),
            ],
            logs=[ttypes.Log(timestamp=now_us + 10, fields=[t_str("event", "query start")])],
        ),
        ttypes.Span(
            traceIdLow=trace_low, traceIdHigh=trace_high, spanId=child_id, parentSpanId=root_id,
            operationName="SELECT orders", flags=1, startTime=now_us + 100, duration=900,
            references=[ttypes.SpanRef(refType=ttypes.SpanRefType.CHILD_OF, traceIdLow=trace_low,
                                       traceIdHigh=trace_high, spanId=root_id)],
            tags=[t_str("db.type", "sql")],
        ),
    ]
    batch = ttypes.Batch(process=ttypes.Process(serviceName=service, tags=[t_str("hostname", "node-7")]), spans=spans)
    trace_id = format(trace_high, "016x") + format(trace_low, "016x")
    described = [
        {
            "span_id": format(root_id, "016x"), "parent_id": None, "operation": "GET /orders",
            "tags": [tag("span.kind", "server"), tag("http.status_code", 200), tag("sampled.ratio", 0.5), tag("cache.hit", False)],
            "logs": [[tag("event", "query start")]], "follows_from": [], "service": service,
        },
        {
            "span_id": format(child_id, "016x"), "parent_id": format(root_id, "016x"), "operation": "SELECT orders",
            "tags": [tag("db.type", "sql")], "logs": [], "follows_from": [], "service": service,
        },
    ]
    return batch, {"trace_id": trace_id, "spans": described, "process_tags": [tag("hostname", "node-7")]}


def thrift_binary_udp(port: int, service: str) -> dict:
    from jaeger_client.thrift_gen.agent import Agent
    from thrift.protocol import TBinaryProtocol
    from thrift.Thrift import TMessageType
    from thrift.transport import TTransport

    batch, described = thrift_batch(service)
    buffer = TTransport.TMemoryBuffer()
    # What Agent.Client.emitBatch writes (its generated client needs a Tornado transport).
    protocol = TBinaryProtocol.TBinaryProtocol(buffer)
    protocol.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 1)
    Agent.emitBatch_args(batch=batch).write(protocol)
    protocol.writeMessageEnd()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(buffer.getvalue(), ("127.0.0.1", port))
    return described


def thrift_http(url: str, service: str) -> dict:
    import urllib.request

    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport

    batch, described = thrift_batch(service)
    buffer = TTransport.TMemoryBuffer()
    batch.write(TBinaryProtocol.TBinaryProtocol(buffer))
    request = urllib.request.Request(
        url + "/api/traces", buffer.getvalue(), {"Content-Type": "application/x-thrift"}
    )
    with urllib.request.urlopen(request) as response:
        described["status"] = response.status
    return described


# ---------------------------------------------------------------- Jaeger api_v2 over gRPC
def jaeger_api_v2_classes():
    """Message classes of jaeger.api_v2 (the subset PostSpans uses), built at run time from a
    descriptor by Python's own protobuf runtime: an encoder independent of Osprey's."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="jaeger_api_v2_e2e.proto", package="jaeger.api_v2", syntax="proto3")
    file.dependency.extend(["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"])

    def message(name, fields):
        m = file.message_type.add(name=name)
        for number, (field_name, kind, label, type_name) in enumerate(fields, start=1):
            if field_name is None:
                continue
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("KeyValue", [("key", F.TYPE_STRING, opt, None), ("v_type", F.TYPE_INT32, opt, None),
                         ("v_str", F.TYPE_STRING, opt, None), ("v_bool", F.TYPE_BOOL, opt, None),
                         ("v_int64", F.TYPE_INT64, opt, None), ("v_float64", F.TYPE_DOUBLE, opt, None),
                         ("v_binary", F.TYPE_BYTES, opt, None)])
    message("Log", [("timestamp", F.TYPE_MESSAGE, opt, ".google.protobuf.Timestamp"),
                    ("fields", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.KeyValue")])
    message("SpanRef", [("trace_id", F.TYPE_BYTES, opt, None), ("span_id", F.TYPE_BYTES, opt, None),
                        ("ref_type", F.TYPE_INT32, opt, None)])
    message("Process", [("service_name", F.TYPE_STRING, opt, None), ("tags", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.KeyValue")])
    message("Span", [("trace_id", F.TYPE_BYTES, opt, None), ("span_id", F.TYPE_BYTES, opt, None),
                     ("operation_name", F.TYPE_STRING, opt, None), ("references", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.SpanRef"),
                     ("flags", F.TYPE_UINT32, opt, None), ("start_time", F.TYPE_MESSAGE, opt, ".google.protobuf.Timestamp"),
                     ("duration", F.TYPE_MESSAGE, opt, ".google.protobuf.Duration"), ("tags", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.KeyValue"),
                     ("logs", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.Log"), ("process", F.TYPE_MESSAGE, opt, ".jaeger.api_v2.Process")])
    message("Batch", [("spans", F.TYPE_MESSAGE, rep, ".jaeger.api_v2.Span"), ("process", F.TYPE_MESSAGE, opt, ".jaeger.api_v2.Process")])
    message("PostSpansRequest", [("batch", F.TYPE_MESSAGE, opt, ".jaeger.api_v2.Batch")])
    message("PostSpansResponse", [])
    from google.protobuf import duration_pb2, timestamp_pb2  # noqa: F401 (registers the imports)

    pool = descriptor_pool.Default()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"jaeger.api_v2.{name}"))
            for name in ("PostSpansRequest", "PostSpansResponse")}


def jaeger_grpc(target: str, service: str) -> dict:
    import grpc

    classes = jaeger_api_v2_classes()
    request = classes["PostSpansRequest"]()
    batch = request.batch
    batch.process.service_name = service
    host = batch.process.tags.add()
    host.key, host.v_str = "hostname", "node-3"
    trace_id = os.urandom(16)
    root_id, child_id = os.urandom(8), os.urandom(8)
    now = time.time_ns()
    root = batch.spans.add()
    root.trace_id, root.span_id, root.operation_name, root.flags = trace_id, root_id, "HTTP GET /items", 1
    root.start_time.FromNanoseconds(now)
    root.duration.FromNanoseconds(2_000_000)
    for key, v_type, field, value in [("span.kind", 0, "v_str", "server"), ("http.status_code", 2, "v_int64", 200),
                                      ("cache.hit", 1, "v_bool", True), ("ratio", 3, "v_float64", 0.5)]:
        kv = root.tags.add()
        kv.key, kv.v_type = key, v_type
        setattr(kv, field, value)
    log = root.logs.add()
    log.timestamp.FromNanoseconds(now + 1000)
    field = log.fields.add()
    field.key, field.v_str = "event", "fetched"
    child = batch.spans.add()
    child.trace_id, child.span_id, child.operation_name, child.flags = trace_id, child_id, "SELECT items", 1
    child.start_time.FromNanoseconds(now + 10_000)
    child.duration.FromNanoseconds(500_000)
    ref = child.references.add()
    ref.trace_id, ref.span_id, ref.ref_type = trace_id, root_id, 0
    with grpc.insecure_channel(target) as channel:
        post = channel.unary_unary("/jaeger.api_v2.CollectorService/PostSpans",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=classes["PostSpansResponse"].FromString)
        post(request, timeout=10)
    return {
        "trace_id": trace_id.hex(),
        "spans": [
            {"span_id": root_id.hex(), "parent_id": None, "operation": "HTTP GET /items",
             "tags": [tag("span.kind", "server"), tag("http.status_code", 200), tag("cache.hit", True), tag("ratio", 0.5)],
             "logs": [[tag("event", "fetched")]], "follows_from": [], "service": service},
            {"span_id": child_id.hex(), "parent_id": root_id.hex(), "operation": "SELECT items", "tags": [], "logs": [],
             "follows_from": [], "service": service},
        ],
        "process_tags": [tag("hostname", "node-3")],
    }


# ---------------------------------------------------------------- OpenTelemetry SDK
def otel(protocol: str, endpoint: str, service: str) -> dict:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, Status, StatusCode

    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("osprey.e2e", "0.1.0")
    with tracer.start_as_current_span(
        "GET /cart", kind=trace.SpanKind.SERVER,
        attributes={"http.method": "GET", "http.status_code": 200, "sampling.ratio": 0.25, "cart.empty": False},
    ) as root:
        root.add_event("cart loaded", {"items": 3, "source": "redis"})
        with tracer.start_as_current_span("redis GET", kind=trace.SpanKind.CLIENT) as child:
            child.set_attribute("db.system", "redis")
            child.set_status(Status(StatusCode.ERROR, "timeout"))
        with tracer.start_as_current_span("render", links=[Link(child.get_span_context(), {"why": "after cache"})]):
            pass
    provider.shutdown()
    kinds = {trace.SpanKind.SERVER: "server", trace.SpanKind.CLIENT: "client", trace.SpanKind.INTERNAL: "internal"}
    described = []
    for span in memory.get_finished_spans():
        tags = [tag(k, v) for k, v in span.attributes.items()]
        tags.append(tag("otel.scope.name", span.instrumentation_scope.name))
        tags.append(tag("otel.scope.version", span.instrumentation_scope.version))
        tags.append(tag("span.kind", kinds[span.kind]))
        if span.status.status_code == StatusCode.ERROR:
            tags += [tag("otel.status_code", "ERROR"), tag("error", True), tag("otel.status_description", span.status.description)]
        described.append(
            {
                "span_id": format(span.context.span_id, "016x"),
                "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                "operation": span.name,
                "tags": tags,
                "logs": [[tag("event", e.name)] + [tag(k, v) for k, v in e.attributes.items()] for e in span.events],
                "follows_from": [format(link.context.span_id, "016x") for link in span.links],
                "service": service,
            }
        )
    trace_id = format(root.get_span_context().trace_id, "032x")
    return {"trace_id": trace_id, "spans": described, "process_tags": [tag("deployment.environment", "e2e")]}


# ---------------------------------------------------------------- py_zipkin
def zipkin(encoding_name: str, port: int, service: str) -> dict:
    from py_zipkin.encoding import Encoding
    from py_zipkin.transport import SimpleHTTPTransport
    from py_zipkin.zipkin import zipkin_span

    sent = []

    class RecordingTransport(SimpleHTTPTransport):
        def send(self, payload):
            sent.append(payload)
            super().send(payload)

    encoding = Encoding.V2_JSON if encoding_name == "json" else Encoding.V2_PROTO3
    transport = RecordingTransport("127.0.0.1", port)
    with zipkin_span(service_name=service, span_name="checkout", transport_handler=transport,
                     sample_rate=100.0, encoding=encoding) as root:
        root.update_binary_annotations({"http.path": "/checkout", "user": "42"})
        root.add_annotation("cart validated")
        with zipkin_span(service_name=service, span_name="payment") as child:
            child.update_binary_annotations({"provider": "stripe"})
    spans = []
    for payload in sent:
        if encoding_name == "json":
            spans += json.loads(payload)
        else:
            from py_zipkin.encoding.protobuf import zipkin_pb2

            for s in zipkin_pb2.ListOfSpans.FromString(payload).spans:
                spans.append({
                    "traceId": s.trace_id.hex(), "id": s.id.hex(),
                    "parentId": s.parent_id.hex() or None, "name": s.name,
                    "kind": zipkin_pb2.Span.Kind.Name(s.kind) if s.kind else None,
                    "tags": dict(s.tags), "annotations": [{"value": a.value} for a in s.annotations],
                })
    described = []
    for s in spans:
        tags = [tag(k, v) for k, v in sorted(s.get("tags", {}).items())]
        if s.get("kind"):
            tags.append(tag("span.kind", s["kind"].lower()))
        described.append({
            "span_id": s["id"], "parent_id": s.get("parentId"), "operation": s["name"], "tags": tags,
            "logs": [[tag("event", a["value"])] for a in s.get("annotations", [])],
            "follows_from": [], "service": service,
        })
    return {"trace_id": spans[0]["traceId"], "spans": described}


def main(argv):
    kind = argv[1]
    if kind == "jaeger-udp":
        result = jaeger_udp(int(argv[2]), argv[3])
    elif kind == "thrift-binary":
        result = thrift_binary_udp(int(argv[2]), argv[3])
    elif kind == "thrift-http":
        result = thrift_http(argv[2], argv[3])
    elif kind == "jaeger-grpc":
        result = jaeger_grpc(argv[2], argv[3])
    elif kind == "otel":
        result = otel(argv[2], argv[3], argv[4])
    elif kind == "zipkin":
        result = zipkin(argv[2], int(argv[3]), argv[4])
    else:
        raise SystemExit(f"unknown client {kind}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
