"""Hostile and malformed input over plain HTTP (http.client and raw sockets).

Every test ends by checking that the server still answers /health and still indexes
and finds a document (the autouse fixture `still_serving`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import socket
import time
import urllib.parse

import pytest

from osprey_e2e import assert_es_error, ndjson

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def srv(osprey_module):
    return osprey_module


_probe = iter(range(10**9))


@pytest.fixture(autouse=True)
def still_serving(srv):
    yield
    assert srv.alive(), f"osprey process died (exit code {srv.proc and srv.proc.poll()})"
    assert srv.health_ok(), "GET /health no longer answers 200"
    n = next(_probe)
    status, body, _ = srv.es("PUT", f"/probe-e2e/_doc/p{n}", {"probe": n})
    assert status in (200, 201), f"indexing a probe doc failed after the test: {status} {body!r:.500}"
    status, body, _ = srv.es("POST", "/probe-e2e/_refresh")
    assert status == 200, f"_refresh failed after the test: {status} {body!r:.500}"
    status, body, _ = srv.es("GET", f"/probe-e2e/_doc/p{n}")
    assert status == 200 and body["_source"] == {"probe": n}, f"{status} {body!r:.500}"


def bulk(srv, lines_or_bytes, path="/_bulk", timeout=60):
    body = lines_or_bytes if isinstance(lines_or_bytes, bytes) else ndjson(lines_or_bytes)
    return srv.es("POST", path, body, NDJSON, timeout=timeout)


def item_result(item):
    assert isinstance(item, dict) and len(item) == 1, item
    return list(item.values())[0]


def ids_present(srv, index, ids):
    srv.es("POST", f"/{index}/_refresh")
    present = set()
    for i in ids:
        status, body, _ = srv.es("GET", f"/{index}/_doc/{urllib.parse.quote(i, safe='')}")
        if status == 200 and body.get("found"):
            present.add(i)
        else:
            assert status == 404, f"GET {index}/{i}: {status} {body!r:.300}"
    return present


# ---------------------------------------------------------------- _bulk item errors
BAD_SOURCES = [
    pytest.param(b'{"msg": "unterminated', id="truncated-json"),
    pytest.param(b'{"msg": 1,,}', id="double-comma"),
    pytest.param(b'["an", "array"]', id="source-is-array"),
    pytest.param(b'42', id="source-is-number"),
    pytest.param(b'"a string"', id="source-is-string"),
    pytest.param(b'{"msg": "\xff\xfe invalid utf-8"}', id="invalid-utf8"),
    pytest.param(b'{"a": 1} trailing', id="trailing-garbage"),
]


@pytest.mark.parametrize("bad", BAD_SOURCES)
def test_bulk_bad_source_fails_only_that_item(srv, bad):
    idx = "mal-src"
    tag = hashlib.md5(bad).hexdigest()[:10]
    body = ndjson([
        {"index": {"_index": idx, "_id": f"{tag}-ok1"}}, {"msg": "fine one"},
        {"index": {"_index": idx, "_id": f"{tag}-bad"}}, bad,
        {"create": {"_index": idx, "_id": f"{tag}-ok2"}}, {"msg": "fine two"},
    ])
    status, res, _ = bulk(srv, body)
    assert status == 200, f"{status} {res!r:.1000}"
    assert res["errors"] is True, res
    items = res["items"]
    assert len(items) == 3, items
    ok1, badr, ok2 = (item_result(i) for i in items)
    assert ok1["status"] == 201 and ok2["status"] == 201, items
    assert 400 <= badr["status"] < 500, items
    assert badr.get("_id") == f"{tag}-bad", badr
    assert badr["error"]["type"] and badr["error"]["reason"], badr
    assert ids_present(srv, idx, [f"{tag}-ok1", f"{tag}-bad", f"{tag}-ok2"]) == {f"{tag}-ok1", f"{tag}-ok2"}


BAD_ACTIONS = [
    pytest.param(b'["index", {"_index": "mal-act"}]', id="action-is-array"),
    pytest.param(b'"index"', id="action-is-string"),
    pytest.param(b'{"index": {"_index": "mal-act"', id="action-truncated"),
    pytest.param(b'{"frobnicate": {"_index": "mal-act"}}', id="unknown-action"),
    pytest.param(b'{"index": "mal-act"}', id="action-body-not-object"),
]


@pytest.mark.parametrize("bad", BAD_ACTIONS)
def test_bulk_bad_action_line(srv, bad):
    """A broken action line: Elasticsearch rejects the whole request with 400; a per-item
    failure with the other items applied is accepted too. Either way the problem is named
    and no document of a rejected request is indexed."""
    idx = "mal-act"
    tag = hashlib.md5(bad).hexdigest()[:10]
    body = ndjson([
        {"index": {"_index": idx, "_id": f"{tag}-ok1"}}, {"msg": "fine one"},
        bad, {"msg": "source of the bad action"},
        {"index": {"_index": idx, "_id": f"{tag}-ok2"}}, {"msg": "fine two"},
    ])
    status, res, _ = bulk(srv, body)
    if status == 400:
        assert_es_error(status, res, 400)
        srv.es("POST", "/_refresh")
        st, cnt, _ = srv.es("GET", f"/{idx}/_count")
        present = ids_present(srv, idx, [f"{tag}-ok1", f"{tag}-ok2"]) if st == 200 else set()
        assert present == set(), "documents of a rejected _bulk request were indexed"
    else:
        assert status == 200, f"{status} {res!r:.1000}"
        assert res["errors"] is True, res
        results = [item_result(i) for i in res["items"]]
        failed = [r for r in results if r.get("status", 0) >= 400]
        assert failed, f"no item failed for a broken action line: {res}"
        assert all(f["error"]["reason"] for f in failed), failed
        assert results[0]["status"] == 201, results
        assert results[-1]["status"] == 201, results
        assert ids_present(srv, idx, [f"{tag}-ok1", f"{tag}-ok2"]) == {f"{tag}-ok1", f"{tag}-ok2"}


def test_bulk_body_without_source_line(srv):
    status, res, _ = bulk(srv, ndjson([{"index": {"_index": "mal-nosrc", "_id": "x"}}]))
    if status == 200:
        assert res["errors"] is True and item_result(res["items"][0])["status"] >= 400, res
    else:
        assert_es_error(status, res, 400)


def test_bulk_empty_body(srv):
    status, res, _ = bulk(srv, b"")
    assert_es_error(status, res, 400)


# ---------------------------------------------------------------- index names
BAD_NAMES = ["../x", "..", ".", "UPPER", "a*b", "_x", "-x", "+x", "a b", "a\\b", "a/b", "a?b", 'a"b', "a<b", "a>b",
             "a|b", "a#b", "a:b", "a,b", "x" * 256]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: n if len(n) < 20 else f"{n[:5]}..{len(n)}")
def test_invalid_index_name_rejected(srv, name):
    enc = urllib.parse.quote(name, safe="")
    status, res, _ = srv.es("PUT", f"/{enc}")
    # "a,b" names two indices in a URL; Elasticsearch still refuses to create it (400)
    reason = assert_es_error(status, res, 400)
    if name not in ("..", "."):
        shown = name if len(name) < 200 else name[:50]
        assert shown in reason, f"reason does not name the index {name!r}: {reason!r}"
    status, res, _ = srv.es("POST", f"/{enc}/_doc", {"a": 1})
    assert_es_error(status, res, 400)
    # nothing may be created outside the data directory
    assert not (srv.data_dir.parent / "x").exists(), "index '../x' escaped the data dir"


@pytest.mark.parametrize("name", ["../x", "UPPER", "a*b", "_x", ""])
def test_invalid_index_name_in_bulk_fails_that_item(srv, name):
    body = ndjson([
        {"index": {"_index": "good-name-e2e", "_id": "gn-" + hashlib.md5(name.encode()).hexdigest()[:10]}}, {"a": 1},
        {"index": {"_index": name, "_id": "never"}}, {"a": 2},
    ])
    status, res, _ = bulk(srv, body)
    if status == 400:  # Elasticsearch answers 400 for the whole request when an _index is empty
        reason = assert_es_error(status, res, 400)
        assert "index" in reason.lower(), reason
        return
    assert status == 200, f"{status} {res!r:.1000}"
    assert res["errors"] is True
    good, bad = (item_result(i) for i in res["items"])
    assert good["status"] == 201, good
    assert bad["status"] == 400, bad
    if name:
        assert name in bad["error"]["reason"], bad


def test_index_name_with_only_valid_special_chars_is_accepted(srv):
    # lower-case, digits, '-', '_', '.', '+' (not leading) are all legal in Elasticsearch
    status, res, _ = srv.es("PUT", "/logs-app_1.2+x")
    assert status == 200, res
    status, _, _ = srv.es("HEAD", "/logs-app_1.2+x")
    assert status == 200


# ---------------------------------------------------------------- _search bodies
def test_search_invalid_json_names_position(srv):
    body = b'{"query": {"match_all": {}}, oops}'
    pos = body.index(b"oops")  # 0-based offset; column = pos + 1
    status, res, _ = srv.es("POST", "/_search", body)
    reason = assert_es_error(status, res, 400)
    numbers = {int(n) for n in re.findall(r"\d+", reason)}
    assert numbers & {pos, pos + 1, pos + 2}, f"reason does not name the position (col {pos + 1}): {reason!r}"


def test_search_truncated_json(srv):
    status, res, _ = srv.es("POST", "/_search", b'{"query": {"match_all": {')
    assert_es_error(status, res, 400)


def test_search_unknown_query_type(srv):
    status, res, _ = srv.es("POST", "/_search", {"query": {"frobnicate": {"field": "x"}}})
    assert_es_error(status, res, 400, must_mention=["frobnicate"])


def test_search_unknown_aggregation_type(srv):
    status, res, _ = srv.es("POST", "/_search", {"size": 0, "aggs": {"a": {"frobnicate": {"field": "x"}}}})
    assert_es_error(status, res, 400, must_mention=["frobnicate"])


def test_search_wrong_types_in_query(srv):
    for body in ({"query": "match_all"}, {"query": {"match": []}}, {"size": "ten"}, {"from": -5},
                 {"query": {"range": {"status": {"gte": {"nested": 1}}}}}, []):
        status, res, _ = srv.es("POST", "/_search", body)
        assert_es_error(status, res, 400)


def test_search_missing_index_is_404(srv):
    status, res, _ = srv.es("POST", "/no-such-index-e2e/_search", {"query": {"match_all": {}}})
    assert_es_error(status, res, 404, must_mention=["no-such-index-e2e"])


def test_deeply_nested_json_is_rejected_not_crashing(srv):
    depth = 100_000
    body = b'{"query":' + b'{"bool":{"must":' * depth + b"{}" + b"}}" * depth + b"}"
    status, res, _ = srv.es("POST", "/_search", body)
    assert 400 <= status < 500, f"{status} {res!r:.300}"
    deep_doc = b'{"a":' * depth + b"1" + b"}" * depth
    status, res, _ = srv.es("POST", "/deep-e2e/_doc", deep_doc)
    assert 400 <= status < 500, f"{status} {res!r:.300}"
    status, res, _ = bulk(srv, ndjson([{"index": {"_index": "deep-e2e"}}, deep_doc,
                                       {"index": {"_index": "deep-e2e"}}, {"ok": 1}]))
    if status == 200:
        assert item_result(res["items"][0])["status"] >= 400 and item_result(res["items"][1])["status"] == 201, res
    else:
        assert 400 <= status < 500, status


# ---------------------------------------------------------------- raw sockets
def _raw_connect(srv):
    s = socket.create_connection(("127.0.0.1", srv.es_port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_response(s, timeout=30.0) -> tuple[int, bytes]:
    """Reads one HTTP response (status, body) from a raw socket."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert m, f"no HTTP response: {buf[:300]!r}"
    status = int(m.group(1))
    cl = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if cl:
        need = int(cl.group(1))
        while len(rest) < need:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        rest = rest[:need]
    elif re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        out, data = b"", rest
        while data:
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out += data[:size]
            data = data[size + 2:]
        rest = out
    return status, rest


def _post_big(srv, path: str, content_type: str, body: bytes, time_limit: float = 90.0):
    """POSTs a large body over a raw socket, watching for an early answer (a server may
    answer 413 as soon as it sees Content-Length and close). Returns (status, body)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    view = memoryview(body)
    s = _raw_connect(srv)
    sent = 0
    t0 = time.monotonic()
    try:
        s.sendall(head)
        s.setblocking(False)
        while sent < len(body) and time.monotonic() - t0 < time_limit:
            r, w, _ = select.select([s], [s], [], 1.0)
            if r:
                break  # the server answered before the body was complete
            if w:
                try:
                    sent += s.send(view[sent:sent + (1 << 20)])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
        s.setblocking(True)
        try:
            return _read_response(s, timeout=60)
        except (ConnectionResetError, AssertionError, socket.timeout) as e:
            pytest.fail(f"no HTTP response to a {len(body)}-byte POST {path} "
                        f"(sent {sent} bytes of the body): {e!r}")
    finally:
        s.close()


def test_huge_document_rejected_with_413(srv):
    size = 150 * 1024 * 1024
    body = b'{"message":"' + b"x" * (size - 14) + b'"}'
    status, raw = _post_big(srv, "/huge-e2e/_doc", "application/json", body)
    del body
    assert status == 413, f"expected 413 for a 150 MB document, got {status}: {raw[:500]!r}"
    assert_es_error(status, json.loads(raw), 413)
    # the oversized document must not have been stored
    srv.es("POST", "/_refresh")
    st, cnt, _ = srv.es("GET", "/huge-e2e/_count")
    assert st == 404 or cnt.get("count") == 0, (st, cnt)


def test_huge_bulk_rejected_with_413(srv):
    one = b'{"index":{"_index":"huge-bulk-e2e"}}\n' + json.dumps({"message": "y" * 1000}).encode() + b"\n"
    body = one * (150 * 1024 * 1024 // len(one) + 1)
    status, raw = _post_big(srv, "/_bulk", "application/x-ndjson", body)
    del body
    assert status == 413, f"expected 413 for a 150 MB _bulk, got {status}: {raw[:500]!r}"
    assert_es_error(status, json.loads(raw), 413)
    srv.es("POST", "/_refresh")
    st, cnt, _ = srv.es("GET", "/huge-bulk-e2e/_count")
    assert st == 404 or cnt.get("count") == 0, f"part of a rejected _bulk was applied: {st} {cnt}"


def test_truncated_request_then_close(srv):
    body = ndjson([{"index": {"_index": "trunc-e2e", "_id": f"t{i}"}} if j == 0 else {"n": i}
                   for i in range(20) for j in range(2)])
    declared = len(body) + 100_000
    head = (f"POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    for _ in range(5):
        s = _raw_connect(srv)
        s.sendall(head + body)
        time.sleep(0.05)
        s.close()
    # half-sent headers too
    s = _raw_connect(srv)
    s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len")
    s.close()
    time.sleep(0.3)
    status, res, _ = srv.es("POST", "/_refresh")
    assert status == 200, res
    # a body that never arrived whole must not be applied
    st, cnt, _ = srv.es("GET", "/trunc-e2e/_count")
    assert st == 404 or cnt.get("count") == 0, f"a truncated _bulk was (partly) applied: {st} {cnt}"


def test_stalled_connections_do_not_block_others(srv):
    stalled = []
    try:
        for i in range(30):
            s = _raw_connect(srv)
            if i % 2:
                s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"index\":")
            else:
                s.sendall(b"GET /_search HTTP/1.1\r\nHo")
            stalled.append(s)
        t0 = time.monotonic()
        assert srv.health_ok()
        status, res, _ = srv.es("PUT", "/stall-e2e/_doc/1", {"a": 1}, timeout=10)
        assert status in (200, 201), res
        status, res, _ = srv.es("POST", "/stall-e2e/_refresh", timeout=10)
        assert status == 200, res
        status, res, _ = srv.es("GET", "/stall-e2e/_count", timeout=10)
        assert status == 200 and res["count"] == 1, res
        assert time.monotonic() - t0 < 5, "requests were slow while other connections stalled"
    finally:
        for s in stalled:
            s.close()


def test_garbage_request_line(srv):
    s = _raw_connect(srv)
    try:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200) + b"\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(1000)
        except (socket.timeout, ConnectionResetError):
            data = b""
        if data:
            assert data.startswith(b"HTTP/1.1 4"), data[:100]
    finally:
        s.close()


def test_wrong_method_and_unknown_endpoint(srv):
    status, res, _ = srv.es("DELETE", "/_search")
    assert status in (400, 404, 405), status
    status, res, _ = srv.es("GET", "/_frobnicate_endpoint")
    assert 400 <= status < 500, status
