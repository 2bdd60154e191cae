"""The seed's Flask + Redis app, traced with the Jaeger client: spans go over UDP (Thrift
compact, port 6831) to Osprey, exactly as they would to a Jaeger agent.

    /ready   pings Redis inside a `redis-ping` span
    /remote  calls a remote HTTP API inside a `github-api` span, then parses the answer inside
             a `parse-json` span; both are children of the request's server span

Configuration (environment): JAEGER_AGENT_HOST (127.0.0.1), JAEGER_AGENT_PORT (6831),
REDIS_HOST (127.0.0.1), REDIS_PORT (6379), GITHUB_URL (the API to call; the tests point it at
a local server), PORT (5000).
"""

import json
import os

import redis
import requests
from flask import Flask, jsonify
from flask_opentracing import FlaskTracing
from jaeger_client import Config

app = Flask(__name__)
redis_client = redis.Redis(
    host=os.environ.get("REDIS_HOST", "127.0.0.1"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
)
GITHUB_URL = os.environ.get("GITHUB_URL", "https://api.github.com/users/octocat/repos")


def init_tracer(service):
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {
                "reporting_host": os.environ.get("JAEGER_AGENT_HOST", "127.0.0.1"),
                "reporting_port": int(os.environ.get("JAEGER_AGENT_PORT", "6831")),
            },
            "logging": True,
        },
        service_name=service,
        validate=True,
    )
    return config.initialize_tracer()


tracer = init_tracer("flask-app")
tracing = FlaskTracing(tracer, True, app)


@app.route("/ready")
def ready():
    with tracer.start_active_span("redis-ping") as scope:
        pong = redis_client.ping()
        scope.span.set_tag("redis.ping", pong)
    return jsonify(ready=pong)


@app.route("/remote")
def remote():
    with tracer.start_active_span("github-api") as scope:
        scope.span.set_tag("http.url", GITHUB_URL)
        response = requests.get(GITHUB_URL, timeout=10)
        scope.span.set_tag("http.status_code", response.status_code)
    with tracer.start_active_span("parse-json") as scope:
        repos = json.loads(response.text)
        scope.span.set_tag("repos.count", len(repos))
    return jsonify(repos=[repo.get("name") for repo in repos])


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
