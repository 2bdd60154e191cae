"""The same Flask + Redis app instrumented with OpenTelemetry: the Flask instrumentation makes
the server spans, the app makes `redis-ping`, `github-api` and `parse-json`, and the OTLP
exporter sends them to Osprey over gRPC (4317) or HTTP (4318).

Configuration (environment): OTEL_EXPORTER_OTLP_PROTOCOL (`grpc`, or `http/protobuf`),
OTEL_EXPORTER_OTLP_ENDPOINT (http://127.0.0.1:4317 for gRPC, http://127.0.0.1:4318 for HTTP),
OTEL_SERVICE_NAME (flask-app-otel), REDIS_HOST, REDIS_PORT, GITHUB_URL, PORT (5000).
"""

import json
import os

import redis
import requests
from flask import Flask, jsonify
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider(
    resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "flask-app-otel")})
)
# The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT itself.
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=200))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("flask-tracing-example")

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)
redis_client = redis.Redis(
    host=os.environ.get("REDIS_HOST", "127.0.0.1"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
)
GITHUB_URL = os.environ.get("GITHUB_URL", "https://api.github.com/users/octocat/repos")


@app.route("/ready")
def ready():
    with tracer.start_as_current_span("redis-ping") as span:
        pong = redis_client.ping()
        span.set_attribute("redis.ping", pong)
    return jsonify(ready=pong)


@app.route("/remote")
def remote():
    with tracer.start_as_current_span("github-api", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("http.url", GITHUB_URL)
        response = requests.get(GITHUB_URL, timeout=10)
        span.set_attribute("http.status_code", response.status_code)
    with tracer.start_as_current_span("parse-json") as span:
        repos = json.loads(response.text)
        span.set_attribute("repos.count", len(repos))
    return jsonify(repos=[repo.get("name") for repo in repos])


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
