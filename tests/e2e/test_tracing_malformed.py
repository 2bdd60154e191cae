"""Malformed span payloads on every protocol: truncated, wrong field types, absurd lengths,
invalid ids. Each is refused with a clear error (or, on UDP where there is no one to answer,
dropped and counted), the server keeps running, and good spans still get through.

Payloads are made by the protocols' reference encoders (Apache Thrift with Jaeger's IDL, the
OpenTelemetry protobuf classes, py_zipkin's protobuf classes) and then damaged.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time

import grpc
import pytest
from google.rpc import status_pb2
from jaeger_client.thrift_gen.agent import Agent
from jaeger_client.thrift_gen.jaeger import ttypes
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

from osprey_e2e import request, wait_until

OSPREY_TRACING = True


def thrift_batch(service: str, trace_low: int) -> ttypes.Batch:
    now_us = int(time.time() * 1_000_000)
    span = ttypes.Span(traceIdLow=trace_low, traceIdHigh=0, spanId=trace_low, parentSpanId=0,
                       operationName="op", flags=1, startTime=now_us, duration=10,
                       tags=[ttypes.Tag(key="k", vType=ttypes.TagType.STRING, vStr="v")])
    return ttypes.Batch(process=ttypes.Process(serviceName=service), spans=[span])


def emit_batch_bytes(batch, compact: bool) -> bytes:
    buffer = TTransport.TMemoryBuffer()
    protocol = TCompactProtocol.TCompactProtocol(buffer) if compact else TBinaryProtocol.TBinaryProtocol(buffer)
    protocol.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 1)
    Agent.emitBatch_args(batch=batch).write(protocol)
    protocol.writeMessageEnd()
    return buffer.getvalue()


def batch_bytes(batch) -> bytes:
    buffer = TTransport.TMemoryBuffer()
    batch.write(TBinaryProtocol.TBinaryProtocol(buffer))
    return buffer.getvalue()


def metric(server, protocol: str, outcome: str) -> float:
    _, _, body = request("GET", server.http_url + "/metrics")
    needle = f'osprey_spans_total{{protocol="{protocol}",outcome="{outcome}"}} '
    for line in body.decode().splitlines():
        if line.startswith(needle):
            return float(line[len(needle):])
    return 0.0


def trace_stored(server, trace_id_hex: str) -> bool:
    status, _ = server.query_api(f"/api/traces/{trace_id_hex}")
    return status == 200


def otlp_request(trace_id: bytes, span_id: bytes, service="otlp-bad") -> trace_service_pb2.ExportTraceServiceRequest:
    body = trace_service_pb2.ExportTraceServiceRequest()
    rs = body.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    span = rs.scope_spans.add().spans.add()
    now = time.time_ns()
    span.trace_id, span.span_id, span.name = trace_id, span_id, "op"
    span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
    return body


@pytest.mark.parametrize("compact", [True, False], ids=["compact", "binary"])
def test_udp_garbage_is_counted_and_good_batches_still_arrive(osprey_module, compact):
    server = osprey_module
    port = server.ports["JAEGER_COMPACT" if compact else "JAEGER_BINARY"]
    name = "jaeger_compact" if compact else "jaeger_binary"
    good = emit_batch_bytes(thrift_batch("udp-bad", 0xABC1 if compact else 0xABC2), compact)
    damaged = [
        b"",
        b"\x00" * 7,
        os.urandom(512),
        good[: len(good) // 2],  # truncated
        good[:-1],
    ]
    # An absurd list length: the span list claims 2^31-1 elements.
    if not compact:
        index = good.index(b"\x0f\x00\x02\x0c")  # field 2 (spans), list of structs, i32 size
        damaged.append(good[: index + 4] + struct.pack(">i", 2**31 - 1) + good[index + 8:])
    else:
        index = good.index(b"\x19\x1c")  # field 2 (spans, delta 1, list), one struct element
        varint = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x07])  # 2^31-1
        damaged.append(good[: index + 1] + b"\xfc" + varint + good[index + 2:])
    before = metric(server, name, "invalid")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for payload in damaged:
            udp.sendto(payload, ("127.0.0.1", port))
        udp.sendto(good, ("127.0.0.1", port))
    trace_id = format(0xABC1 if compact else 0xABC2, "016x")
    wait_until(lambda: trace_stored(server, trace_id), timeout=10, what="the good batch after the garbage")
    assert server.alive()
    # Every damaged datagram was counted (the empty one may not reach the socket as data).
    assert metric(server, name, "invalid") - before >= len(damaged) - 1


def test_jaeger_http_rejects_bad_bodies_clearly(osprey_module):
    server = osprey_module
    url = server.url("JAEGER_HTTP") + "/api/traces"
    thrift = {"Content-Type": "application/x-thrift"}
    good = batch_bytes(thrift_batch("http-bad", 0xBEEF1))
    spans_at = good.index(b"\x0f\x00\x02\x0c")  # field 2 (spans): a list of structs
    cases = [
        (good[: len(good) // 2], 400, "remain"),
        (b"", 400, "remain"),
        (b"\x00", 400, "process"),
        (b"\x0c\x00\x01" + b"\xff" * 20, 400, "invalid thrift"),
        # the spans field sent as a string
        (good[:spans_at] + b"\x0b\x00\x02" + struct.pack(">i", 1) + b"x\x00", 400, "expected a list"),
        # a list of 2^31-1 spans in a small body
        (good[: spans_at + 4] + struct.pack(">i", 2**31 - 1) + good[spans_at + 8:], 400, "cannot fit"),
    ]
    for body, status, word in cases:
        code, _, answer = request("POST", url, body, thrift)
        assert code == status, (code, answer)
        assert word.lower() in answer.decode().lower(), answer
    code, _, answer = request("POST", url, good, {"Content-Type": "application/json"})
    assert code == 415 and b"application/x-thrift" in answer
    code, _, _ = request("POST", url, good, thrift)
    assert code == 202
    wait_until(lambda: trace_stored(server, format(0xBEEF1, "016x")), timeout=10, what="good Jaeger HTTP batch")


def test_otlp_http_errors_in_the_request_encoding(osprey_module):
    server = osprey_module
    url = server.url("OTLP_HTTP") + "/v1/traces"
    proto = {"Content-Type": "application/x-protobuf"}
    good = otlp_request(os.urandom(16), os.urandom(8)).SerializeToString()
    # Truncated protobuf: 400 with a google.rpc.Status body.
    code, headers, answer = request("POST", url, good[:-5], proto)
    assert code == 400 and headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(answer)
    assert status.code == 3 and "protobuf" in status.message.lower(), status
    # Absurd length prefix.
    code, _, answer = request("POST", url, b"\x0a\xff\xff\xff\xff\x0f", proto)
    assert code == 400
    # JSON with wrong types: 400 with a JSON body naming the problem.
    code, _, answer = request("POST", url, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}),
                              {"Content-Type": "application/json"})
    assert code == 400 and "spans[0].starttimeunixnano" in json.loads(answer)["message"].lower(), answer
    # Invalid ids: accepted as a partial success that names the rejected span.
    bad_ids = otlp_request(b"\x00" * 16, os.urandom(8)).SerializeToString()
    code, _, answer = request("POST", url, bad_ids, proto)
    assert code == 200
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer)
    assert response.partial_success.rejected_spans == 1
    assert "trace id" in response.partial_success.error_message
    code, _, answer = request("POST", url, good, {"Content-Type": "text/plain"})
    assert code == 415
    code, _, _ = request("POST", url, good, proto)
    assert code == 200


def test_otlp_grpc_bad_requests(osprey_module):
    server = osprey_module
    with grpc.insecure_channel(f"127.0.0.1:{server.ports['OTLP_GRPC']}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        response = stub.Export(otlp_request(os.urandom(16), b"\x01\x02"), timeout=10)
        assert response.partial_success.rejected_spans == 1
        assert "span id" in response.partial_success.error_message
        raw = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda b: b, response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as error:
            raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
        assert error.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
        trace_id = os.urandom(16)
        assert not stub.Export(otlp_request(trace_id, os.urandom(8)), timeout=10).HasField("partial_success")
    wait_until(lambda: trace_stored(server, trace_id.hex()), timeout=10, what="good gRPC export")


def test_zipkin_rejects_bad_spans_by_position(osprey_module):
    server = osprey_module
    url = server.url("ZIPKIN") + "/api/v2/spans"
    good = {"traceId": "00000000000abc01", "id": "00000000000abc01", "name": "op", "timestamp": int(time.time() * 1e6),
            "duration": 5, "localEndpoint": {"serviceName": "zipkin-bad"}}
    for spans, word in [
        ([good, dict(good, id="xyz")], "span [1]: id"),
        ([dict(good, traceId="0000000000000000")], "traceId"),
        ([dict(good, timestamp="yesterday")], "timestamp"),
        ({"not": "a list"}, "sequence"),
    ]:
        code, _, answer = request("POST", url, json.dumps(spans))
        assert code == 400, answer
        assert word.lower() in answer.decode().lower(), answer
    code, _, answer = request("POST", url, os.urandom(64), {"Content-Type": "application/x-protobuf"})
    assert code == 400 and b"proto3" in answer
    code, _, _ = request("POST", url, json.dumps([good]))
    assert code == 202
    wait_until(lambda: trace_stored(server, "00000000000abc01"), timeout=10, what="good Zipkin span")
    assert server.alive()


def test_jaeger_grpc_rejects_invalid_batches(osprey_module):
    import trace_clients

    classes = trace_clients.jaeger_api_v2_classes()
    server = osprey_module
    with grpc.insecure_channel(f"127.0.0.1:{server.ports['JAEGER_GRPC']}") as channel:
        post = channel.unary_unary("/jaeger.api_v2.CollectorService/PostSpans",
                                   request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
                                   response_deserializer=lambda b: b)
        request = classes["PostSpansRequest"]()
        span = request.batch.spans.add()
        span.trace_id, span.span_id, span.operation_name = os.urandom(16), b"\x01\x02\x03", "op"
        request.batch.process.service_name = "grpc-bad"
        with pytest.raises(grpc.RpcError) as error:
            post(request, timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "span [0]: span_id" in error.value.details()
        request.batch.spans[0].span_id = os.urandom(8)
        request.batch.ClearField("process")
        with pytest.raises(grpc.RpcError) as error:
            post(request, timeout=10)
        assert "process" in error.value.details()
        with pytest.raises(grpc.RpcError):
            post(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
    assert server.alive()
