"""Jaeger sampling strategies on the SAMPLING listener, checked with the real jaeger-client's
remote sampler: strategies from a file, hot-reloaded when the file changes (a broken file keeps
the previous strategies), and adaptive per-operation probabilities from observed traffic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from osprey_e2e import request, wait_until

FILE = {
    "service_strategies": [
        {"service": "sampled-all", "type": "probabilistic", "param": 1.0,
         "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0}]},
        {"service": "limited", "type": "ratelimiting", "param": 7},
    ],
    "default_strategy": {"type": "probabilistic", "param": 0.25},
}


def sampling(server, service: str):
    status, _, body = request("GET", f"{server.url('SAMPLING')}/sampling?" + urllib.parse.urlencode({"service": service}))
    return status, json.loads(body) if status == 200 else body.decode()


def start_server(osprey_factory, tmp_path, **sampling_settings):
    config = tmp_path / "osprey.toml"
    lines = ["[sampling]"] + [f"{k} = {json.dumps(v)}" for k, v in sampling_settings.items()]
    config.write_text("\n".join(lines) + "\n")
    server = osprey_factory(start=False, tracing=True, extra_env={"OSPREY_CONFIG": str(config)})
    return server.start()


def jaeger_remote_sampler(reporting_port: int, sampling_port: int, service: str, operation: str):
    """Runs the real jaeger-client with its default remote sampler polling `sampling_port`
    until a span is sampled (20 s at most); returns whether it was, the sampler's class name
    and its rate (`None` for samplers without one)."""
    client = textwrap.dedent(f"""
        import time
        from jaeger_client import Config
        config = Config(config={{
            # no "sampler": the client's default, a remote sampler polling the agent port
            "sampling_refresh_interval": 1,
            "local_agent": {{"reporting_host": "127.0.0.1", "reporting_port": {reporting_port},
                             "sampling_port": {sampling_port}}},
        }}, service_name="{service}", validate=True)
        tracer = config.initialize_tracer()
        deadline = time.time() + 20
        while time.time() < deadline:
            with tracer.start_span("{operation}") as span:
                pass
            if span.is_sampled():
                break
            time.sleep(0.2)
        sampler = tracer.sampler.sampler
        print(span.is_sampled(), type(sampler).__name__, getattr(sampler, "rate", None))
        time.sleep(0.3)
        tracer.close()
        time.sleep(0.5)
    """)
    result = subprocess.run([sys.executable, "-c", client], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    sampled, name, rate = result.stdout.split()
    return sampled == "True", name, None if rate == "None" else float(rate)


def test_strategies_file_served_and_hot_reloaded(osprey_factory, tmp_path):
    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps(FILE))
    server = start_server(osprey_factory, tmp_path, strategies_file=str(strategies), reload_interval_secs=1)
    status, body = sampling(server, "sampled-all")
    assert status == 200
    assert body["strategyType"] == "PROBABILISTIC" and body["probabilisticSampling"]["samplingRate"] == 1.0
    assert body["operationSampling"]["perOperationStrategies"] == [
        {"operation": "/health", "probabilisticSampling": {"samplingRate": 0.0}}]
    assert sampling(server, "limited")[1] == {"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 7}}
    assert sampling(server, "anyone-else")[1]["probabilisticSampling"]["samplingRate"] == 0.25
    status, body = sampling(server, "")
    assert status == 400 and "service" in body

    # The real client: a remote sampler polling Osprey adopts the strategy (probability 1, so
    # every span is sampled and carries sampler.type/sampler.param).
    sampled, sampler, _ = jaeger_remote_sampler(server.ports['JAEGER_COMPACT'], server.ports['SAMPLING'],
                                                "sampled-all", "checkout")
    assert (sampled, sampler) == (True, "AdaptiveSampler")

    def sampled_span():
        query = urllib.parse.urlencode({"service": "sampled-all", "lookback": "1h"})
        status, body = server.query_api(f"/api/traces?{query}")
        for trace in body["data"]:
            for span in trace["spans"]:
                tags = {t["key"]: t["value"] for t in span["tags"]}
                if tags.get("sampler.type") == "probabilistic":
                    return tags
        return None

    tags = wait_until(sampled_span, timeout=15, what="a span sampled by the remote strategy")
    assert tags["sampler.param"] == 1.0

    # Hot reload: a new file is picked up; a broken one is refused and the last good one stays.
    changed = dict(FILE, default_strategy={"type": "probabilistic", "param": 0.75})
    time.sleep(1.1)  # a distinct modification time
    strategies.write_text(json.dumps(changed))
    wait_until(lambda: sampling(server, "anyone-else")[1]["probabilisticSampling"]["samplingRate"] == 0.75,
               timeout=10, what="the reloaded default strategy")
    time.sleep(1.1)
    strategies.write_text('{"default_strategy": {"type": "probabilistic", "param": 7}}')
    time.sleep(3)
    assert sampling(server, "anyone-else")[1]["probabilisticSampling"]["samplingRate"] == 0.75
    assert "not reloaded" in server.stderr_tail() and "between 0 and 1" in server.stderr_tail()


def test_a_broken_strategies_file_stops_startup_with_a_clear_error(osprey_factory, tmp_path):
    strategies = tmp_path / "strategies.json"
    strategies.write_text('{"service_strategies": [{"service": "x", "type": "probabilistic", "param": 1.5}]}')
    server = osprey_factory(start=False, tracing=True, extra_env={"OSPREY_SAMPLING_STRATEGIES_FILE": str(strategies)})
    try:
        server.start(timeout=10)
        raise AssertionError("the server started with an invalid strategies file")
    except Exception as error:  # ServerStartError carries stderr
        assert "service_strategies[0] (x)" in str(error) and "between 0 and 1" in str(error), error


def test_adaptive_sampling_steers_operations_toward_the_target(osprey_factory, tmp_path):
    server = start_server(osprey_factory, tmp_path, adaptive=True, target_traces_per_second=1.0,
                          adaptive_interval_secs=2)
    # Root spans sampled at probability 1 (the client says so): ~100 traces/s of "hot", a
    # trickle of "cold".
    def export(operation: str, count: int):
        body = trace_service_pb2.ExportTraceServiceRequest()
        rs = body.resource_spans.add()
        attr = rs.resource.attributes.add()
        attr.key, attr.value.string_value = "service.name", "adaptive-svc"
        spans = rs.scope_spans.add()
        now = time.time_ns()
        for _ in range(count):
            span = spans.spans.add()
            span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), operation
            span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
            for key, value in (("sampler.type", "probabilistic"), ("sampler.param", 1.0)):
                kv = span.attributes.add()
                kv.key = key
                if isinstance(value, str):
                    kv.value.string_value = value
                else:
                    kv.value.double_value = value
        status, _, _ = request("POST", server.url("OTLP_HTTP") + "/v1/traces", body.SerializeToString(),
                               {"Content-Type": "application/x-protobuf"})
        assert status == 200

    def rates():
        status, body = sampling(server, "adaptive-svc")
        assert status == 200
        return {o["operation"]: o["probabilisticSampling"]["samplingRate"]
                for o in body["operationSampling"]["perOperationStrategies"]}

    deadline = time.time() + 30
    found = {}
    while time.time() < deadline:
        for _ in range(10):
            export("hot", 10)
            time.sleep(0.1)
        export("cold", 1)
        found = rates()
        if "hot" in found and "cold" in found and found["hot"] < 0.1:
            break
    assert found.get("cold") == 1.0, found
    # ~100 traces/s toward a target of 1/s: a probability around 0.01 (traffic here is bursty).
    assert 0.001 < found["hot"] < 0.1, found
