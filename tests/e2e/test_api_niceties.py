"""Habits of Elasticsearch users that Osprey honours: `?pretty`, `_cat` tables, `_forcemerge`,
and searches restricted to a time range (which skip other days' partitions)."""

from __future__ import annotations

import urllib.parse

from osprey_e2e import ndjson, request


def test_pretty_cat_and_forcemerge(osprey):
    docs = []
    for day in (20, 21, 22):
        for i in range(5):
            docs.append({"index": {"_index": "nice", "_id": f"{day}-{i}"}})
            docs.append({"@timestamp": f"2026-11-{day}T12:00:0{i}Z", "message": f"hello day {day}"})
    status, res, _ = osprey.es("POST", "/_bulk?refresh=true", ndjson(docs),
                               {"Content-Type": "application/x-ndjson"})
    assert status == 200 and res["errors"] is False, res

    status, _, data = request("GET", osprey.es_url + "/nice/_count?pretty")
    text = data.decode()
    assert status == 200 and text.startswith("{\n  ") and '"count": 15' in text, text

    status, _, data = request("GET", osprey.es_url + "/_cat/indices?v")
    lines = data.decode().splitlines()
    assert lines[0].split()[:3] == ["health", "status", "index"], lines
    assert any(line.split()[2] == "nice" and line.split()[6] == "15" for line in lines[1:]), lines

    status, res, _ = osprey.es("POST", "/nice/_forcemerge")
    assert status == 200 and res["_shards"]["failed"] == 0, res

    q = urllib.parse.quote("hello AND @timestamp:[2026-11-21 TO 2026-11-21||/d]")
    status, res, _ = osprey.es("GET", f"/nice/_search?q={q}&size=20")
    assert status == 200, res
    assert sorted(h["_id"] for h in res["hits"]["hits"]) == [f"21-{i}" for i in range(5)]


def test_server_runs_with_small_pages(osprey):
    """The server restarts itself with transparent huge pages off (an idle server held 27 MiB
    with them, 12 without: docs/benchmarks.md)."""
    environ = open(f"/proc/{osprey.proc.pid}/environ", "rb").read().split(b"\0")
    assert b"MIMALLOC_ALLOW_THP=0" in environ, environ
