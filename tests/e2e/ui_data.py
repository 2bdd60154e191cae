"""Data for the web UI's browser tests and screenshots: a shop's container logs over the last
hour in two data views, and one real trace across three services (sent by the OpenTelemetry
SDK over OTLP/HTTP) with a slow database span, whose log lines carry its trace and span ids.

Run it by hand to look at the UI with data (`python tests/e2e/ui_data.py HTTP_URL OTLP_URL`).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

from osprey_e2e import ndjson, request

PODS = ["web-7d9f-1", "web-7d9f-2", "checkout-5c4b-1", "payments-66f1-1"]
MESSAGES = {
    "info": ["GET /api/cart 200", "GET /api/products 200", "POST /api/cart/items 201", "order placed", "cache warmed"],
    "warn": ["slow response from inventory", "retrying payment provider", "GET /api/products 429"],
    "error": ["card declined", "timeout calling inventory", "GET /api/checkout 500"],
}

TRACE_CLIENT = textwrap.dedent("""
    import json, sys, time
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    endpoint = sys.argv[1]
    providers = []
    def tracer(service, pod):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "k8s.pod.name": pod}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
        providers.append(provider)
        return provider.get_tracer("ui-e2e")
    web, checkout, payments = tracer("web", "web-7d9f-1"), tracer("checkout", "checkout-5c4b-1"), tracer("payments", "payments-66f1-1")
    ids = {}
    with web.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("http.method", "GET")
        ids["root"] = root
        time.sleep(0.01)
        with checkout.start_as_current_span("place order") as order:
            ids["order"] = order
            with checkout.start_as_current_span("cache.get") as cache:
                time.sleep(0.005)
            with payments.start_as_current_span("charge card") as charge:
                ids["charge"] = charge
                with payments.start_as_current_span("SELECT payment_methods") as query:
                    query.set_attribute("db.system", "postgresql")
                    query.set_attribute("db.statement", "SELECT * FROM payment_methods WHERE user_id = $1")
                    ids["slow"] = query
                    time.sleep(0.3)
                charge.set_attribute("error", True)
                charge.add_event("card declined", {"code": "insufficient_funds"})
    for provider in providers:
        provider.shutdown()
    print(json.dumps({
        "trace_id": format(root.get_span_context().trace_id, "032x"),
        **{name: format(span.get_span_context().span_id, "016x") for name, span in ids.items()},
    }))
""")


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def send_trace(otlp_http_url: str) -> dict:
    result = subprocess.run([sys.executable, "-c", TRACE_CLIENT, otlp_http_url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def seed(http_url: str, otlp_http_url: str, lines: int = 600, seed_value: int = 7) -> dict:
    """Ships the logs and the trace; returns the trace's ids and what was shipped."""
    ids = send_trace(otlp_http_url)
    # A second run of the same request, for the comparison of two traces.
    ids["other_trace_id"] = send_trace(otlp_http_url)["trace_id"]
    rng = random.Random(seed_value)
    now = datetime.now(timezone.utc)
    index = f"logstash-{now:%Y.%m.%d}"
    docs = []
    for i in range(lines):
        at = now - timedelta(seconds=rng.uniform(5, 3600))
        level = rng.choices(["info", "warn", "error"], weights=[80, 15, 5])[0]
        pod = rng.choice(PODS)
        docs.append({
            "@timestamp": iso(at),
            "message": rng.choice(MESSAGES[level]),
            "level": level,
            "http": {"status_code": 500 if level == "error" else 200},
            "duration_ms": round(rng.lognormvariate(3, 1), 1),
            "kubernetes": {"pod_name": pod, "namespace_name": "shop", "container_name": pod.split("-")[0]},
        })
    # The trace's own log lines, as an app logging with OpenTelemetry log correlation writes them.
    trace_lines = [
        ("web-7d9f-1", "info", "checkout started", ids["root"]),
        ("checkout-5c4b-1", "info", "placing order", ids["order"]),
        ("payments-66f1-1", "warn", "payment_methods query took 300 ms", ids["slow"]),
        ("payments-66f1-1", "error", "card declined: insufficient_funds", ids["charge"]),
    ]
    for n, (pod, level, message, span_id) in enumerate(trace_lines):
        docs.append({
            "@timestamp": iso(now - timedelta(seconds=2) + timedelta(milliseconds=10 * n)),
            "message": message, "level": level, "trace_id": ids["trace_id"], "span_id": span_id,
            "kubernetes": {"pod_name": pod, "namespace_name": "shop", "container_name": pod.split("-")[0]},
        })
    body = ndjson(x for doc in docs for x in ({"index": {"_index": index}}, doc))
    status, _, data = request("POST", f"{http_url}/_bulk?refresh=true", body, {"content-type": "application/x-ndjson"})
    assert status == 200 and not json.loads(data)["errors"], data[:2000]
    audit = ndjson(x for i in range(20) for x in (
        {"index": {"_index": f"audit-{now:%Y.%m.%d}"}},
        {"@timestamp": iso(now - timedelta(minutes=i)), "user": f"user-{i % 4}", "action": rng.choice(["login", "logout", "refund"])},
    ))
    status, _, data = request("POST", f"{http_url}/_bulk?refresh=true", audit, {"content-type": "application/x-ndjson"})
    assert status == 200 and not json.loads(data)["errors"], data[:2000]
    return {**ids, "index": index, "lines": len(docs), "seeded_at": iso(now)}


if __name__ == "__main__":
    print(json.dumps(seed(sys.argv[1], sys.argv[2])))
