"""The native JSON API on the HTTP listener (`/api/v1`, docs/openapi.yaml): what the web UI
asks. Every answer is checked against the Elasticsearch-compatible API's answer to the same
question, and every bad request gets a 4xx naming what is wrong and where.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from osprey_e2e import ndjson, osprey_bin, request

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def server(osprey_module):
    docs = []
    for i in range(300):
        docs.append({"index": {"_index": f"app-{(NOW - timedelta(days=i % 2)):%Y.%m.%d}"}})
        docs.append({
            "@timestamp": iso(NOW - timedelta(minutes=i)),
            "message": ["card declined", "order placed", "card declined again", "timeout"][i % 4],
            "level": ["info", "error", "warn"][i % 3],
            "pod": f"web-{i % 5}",
            "status": [200, 500][i % 2],
        })
    docs += [{"index": {"_index": "orders"}}, {"@timestamp": iso(NOW), "sku": "A-1"}]
    docs += [{"index": {"_index": ".internal"}}, {"@timestamp": iso(NOW), "x": 1}]
    status, _, body = request("POST", osprey_module.es_url + "/_bulk?refresh=true", ndjson(docs), {"content-type": "application/x-ndjson"})
    assert status == 200 and not json.loads(body)["errors"]
    return osprey_module


def api(server, method, path, body=None):
    status, headers, data = request(method, server.http_url + path, body)
    return status, json.loads(data) if data else None


def es_count(server, query) -> int:
    status, _, data = request("POST", server.es_url + "/app-*/_count", {"query": query})
    assert status == 200, data
    return json.loads(data)["count"]


def test_data_views_group_dated_indexes(server):
    status, body = api(server, "GET", "/api/v1/data-views")
    assert status == 200
    views = {v["id"]: v for v in body["data_views"]}
    assert set(views) == {"app-*", "orders"}, "hidden indexes are left out"
    assert len(views["app-*"]["indexes"]) == 2 and views["app-*"]["time_field"] == "@timestamp"
    assert body["default"] in views
    status, body = api(server, "GET", "/api/v1/fields?index=app-*")
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["status"]["type"] == "long" and fields["pod"]["aggregatable"] == "pod.keyword"
    assert fields["@timestamp"]["type"] == "date" and "pod.keyword" not in fields


def test_search_matches_the_elasticsearch_api(server):
    window = {"from": iso(NOW - timedelta(days=3)), "to": iso(NOW + timedelta(minutes=1))}
    cases = [
        ({"query": "level:error"}, {"match": {"level": "error"}}),
        ({"query": "level:error", "language": "kql"}, {"match": {"level": "error"}}),
        ({"filters": [{"field": "pod", "value": "web-1"}]}, {"match_phrase": {"pod": "web-1"}}),
        ({"filters": [{"field": "message", "value": "card declined", "negate": True}]},
         {"bool": {"must_not": [{"match_phrase": {"message": "card declined"}}]}}),
        ({"query": "status:500", "filters": [{"field": "message", "value": "card declined", "negate": True}, {"field": "pod", "value": "web-3", "disabled": True}]},
         {"bool": {"must": [{"term": {"status": 500}}], "must_not": [{"match_phrase": {"message": "card declined"}}]}}),
        ({"filters": [{"query": "pod:web-2 OR pod:web-4"}]}, {"query_string": {"query": "pod:web-2 OR pod:web-4"}}),
    ]
    for native, dsl in cases:
        status, body = api(server, "POST", "/api/v1/logs/search", {"index": "app-*", **window, **native})
        assert status == 200, body
        assert body["total"] == {"value": es_count(server, dsl), "relation": "eq"}, native
        assert sum(count for _, count in body["histogram"]["buckets"]) == body["total"]["value"]
        times = [hit["_source"]["@timestamp"] for hit in body["hits"]]
        assert times == sorted(times, reverse=True), "newest first"


def test_phrase_exclusion_through_the_elasticsearch_api(server):
    # tantivy's Exclude questions a phrase below its first match (a debug assertion).
    for query in [
        {"query_string": {"query": 'NOT "card declined"'}},
        {"bool": {"must": [{"match": {"level": "error"}}], "must_not": [{"match_phrase": {"message": "declined again"}}]}},
    ]:
        status, _, data = request("POST", server.es_url + "/app-*/_count", {"query": query})
        assert status == 200, data
    assert es_count(server, {"query_string": {"query": 'NOT "card declined"'}}) == 150


def test_pages_follow_with_search_after(server):
    seen = []
    after = None
    while True:
        body = {"index": "app-*", "size": 70, "histogram": False, "sort": [{"field": "@timestamp", "order": "asc"}]}
        if after:
            body["search_after"] = after
        status, page = api(server, "POST", "/api/v1/logs/search", body)
        assert status == 200 and "histogram" not in page
        seen += [hit["_id"] for hit in page["hits"]]
        if len(page["hits"]) < 70:
            break
        after = page["hits"][-1]["sort"]
    assert len(seen) == len(set(seen)) == 300


def test_histogram_interval_follows_the_range(server):
    for span, interval in [(timedelta(minutes=15), 30_000), (timedelta(hours=24), 1_800_000), (timedelta(days=2), 3_600_000)]:
        status, body = api(server, "POST", "/api/v1/logs/search", {"index": "app-*", "from": iso(NOW - span), "to": iso(NOW), "size": 0})
        assert status == 200 and body["histogram"]["interval_ms"] == interval
        assert len(body["histogram"]["buckets"]) <= 61


def test_values_complete_a_prefix(server):
    status, body = api(server, "GET", "/api/v1/logs/values?index=app-*&field=pod&prefix=WEB-")
    assert status == 200 and {v["value"] for v in body["values"]} == {f"web-{i}" for i in range(5)}
    assert all(v["count"] == 60 for v in body["values"])
    status, body = api(server, "GET", "/api/v1/logs/values?index=app-*&field=status")
    assert status == 200 and {v["value"] for v in body["values"]} == {200, 500}


@pytest.mark.parametrize("method,path,body,field,words", [
    ("POST", "/api/v1/logs/search", {"index": "app-*", "query": "level:(error"}, "query", "column"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "filters": [{"negate": True}]}, "filters[0]", "field or a query"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "filters": [{"feild": "x"}]}, "filters[0].feild", "unknown field"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "filters": [{"field": "pod", "value": [1]}]}, "filters[0].value", "string, a number"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "size": 501}, "size", "at most 500"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "from": "now", "to": "now-1h"}, "from", "ends before"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "from": "yesterday-ish"}, "from", "yesterday-ish"),
    ("POST", "/api/v1/logs/search", {"index": "app-*", "sort": [{"field": "status", "order": "up"}]}, "sort[0].order", "asc"),
    ("POST", "/api/v1/logs/search", {"index": ""}, "index", "index pattern"),
    ("GET", "/api/v1/logs/values?index=app-*&field=nope", None, "field", "not a field"),
])
def test_bad_requests_say_what_and_where(server, method, path, body, field, words):
    status, answer = api(server, method, path, body)
    assert status == 400, answer
    assert answer["error"].get("field") == field, answer
    assert words in answer["error"]["message"], answer
    if field == "query":
        assert answer["error"]["column"] == 7, "the group that is never closed"


def test_unreadable_bodies_and_unknown_endpoints(server):
    status, _, data = request("POST", server.http_url + "/api/v1/logs/search", b"{not json", {"content-type": "application/json"})
    assert status == 400 and "invalid request body" in json.loads(data)["error"]["message"]
    status, body = api(server, "GET", "/api/v1/nope")
    assert status == 404 and "openapi" in body["error"]["message"]
    status, _, _ = request("GET", server.http_url + "/nope")
    assert status == 404
    status, body = api(server, "POST", "/api/v1/query/validate", {"query": 'message:"open'})
    assert status == 200 and body["valid"] is False and body["column"] >= 1
    status, body = api(server, "POST", "/api/v1/query/validate", {"query": "level:error and not pod:web-1", "language": "kql"})
    assert status == 200 and body == {"valid": True}


def test_openapi_describes_every_route(server):
    spec = yaml.safe_load(OPENAPI.read_text())
    paths = spec["paths"]
    for path, operations in paths.items():
        for method in operations:
            url = path.replace("{path}", "js/app.js").replace("{service}", "none").replace("{traceId}", "0123456789abcdef")
            if method == "get":
                query = {"/api/v1/fields": "?index=app-*", "/api/v1/logs/values": "?index=app-*&field=pod"}.get(path, "")
                status, _, _ = request("GET", server.http_url + url + query)
            else:
                example = {"/api/v1/logs/search": {"index": "app-*"}, "/api/v1/query/validate": {"query": "a"}}[path]
                status, _, _ = request("POST", server.http_url + url, example)
            assert status != 404 or path.endswith("{traceId}"), f"{method.upper()} {path} is documented but not served"
    # And every /api/v1 route the server has is documented (src/api.rs's router).
    source = (Path(__file__).resolve().parents[2] / "crates/osprey-server/src/api.rs").read_text()
    routes = {"/api/v1" + line.split('"')[1] for line in source.splitlines() if '.route("/' in line}
    assert routes and routes <= set(paths), routes - set(paths)


def osprey_logs(server, *args, timeout=60):
    return subprocess.run([str(osprey_bin()), "logs", "--server", server.http_url, *args],
                          capture_output=True, text=True, timeout=timeout)


def test_cli_prints_the_newest_lines_oldest_first(server):
    result = osprey_logs(server, "-i", "app-*", "--since", "3d", "-n", "5", "level:error")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times), "oldest first"
    # The newest error is the last line.
    status, body = api(server, "POST", "/api/v1/logs/search", {"index": "app-*", "query": "level:error", "from": "now-3d", "size": 1})
    assert times[-1] == body["hits"][0]["_source"]["@timestamp"]
    result = osprey_logs(server, "-i", "app-*", "--since", "3d", "-n", "500", "--json", "-F", "pod=web-1", "-F", "status!=500")
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert docs and all(d["pod"] == "web-1" and d["status"] == 200 for d in docs)
    assert len(docs) == es_count(server, {"bool": {"filter": [{"match_phrase": {"pod": "web-1"}}], "must_not": [{"match_phrase": {"status": 500}}]}})


def test_cli_shows_where_a_query_is_wrong(server):
    result = osprey_logs(server, "-i", "app-*", "level:(error")
    assert result.returncode != 0
    assert "level:(error\n" in result.stderr and "      ^" in result.stderr, result.stderr
    result = osprey_logs(server, "-i", "app-*", "-F", "nonsense")
    assert result.returncode != 0 and "FIELD=VALUE" in result.stderr


def test_cli_follows_new_lines(server):
    follower = subprocess.Popen([str(osprey_bin()), "logs", "--server", server.http_url, "-i", "app-*", "-f", "--since", "1m", "pod:follower"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        line = {"@timestamp": iso(datetime.now(timezone.utc)), "message": "a followed line", "pod": "follower"}
        status, _, _ = request("POST", server.es_url + "/_bulk", ndjson([{"index": {"_index": f"app-{NOW:%Y.%m.%d}"}}, line]), {"content-type": "application/x-ndjson"})
        assert status == 200
        got = []
        reader = threading.Thread(target=lambda: got.append(follower.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert got and "a followed line" in got[0], got
    finally:
        follower.kill()
        follower.wait()
