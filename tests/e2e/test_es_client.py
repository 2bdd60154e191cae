"""The official `elasticsearch` Python client (8.x, unchanged) against Osprey.

100,000 realistic container-log documents are bulk-loaded once per module with
`helpers.bulk`; every assertion compares what the server answers with ground truth
computed here in Python from the very documents that were sent.
"""

from __future__ import annotations

import collections
import json
import random
import time
from datetime import datetime, timezone

import pytest
from elasticsearch import Elasticsearch, NotFoundError, helpers

import osprey_e2e

N_DOCS = 100_000
SEED = 20261125

# ------------------------------------------------------------------ the data set
NOW = datetime.now(timezone.utc).replace(microsecond=0)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Docs are spread over the 2 days before NOW (and at least 2 minutes before it). No doc
# lies within GAP_MS of NOW-1d or NOW-36h, so date-math queries like `now-1d` give the
# same answer whenever the server evaluates `now` during the following ~15 minutes.
GAP_MS = 15 * 60 * 1000
DATE_MATH_BOUNDARIES = {"now-1d": NOW_MS - DAY_MS, "now-36h": NOW_MS - 36 * HOUR_MS}

INDEX = "logstash-" + NOW.strftime("%Y.%m.%d")

NAMESPACES = {  # namespace -> (weight, apps)
    "payments": (3, ["payments-api", "ledger-worker"]),
    "checkout": (2, ["checkout-svc", "cart"]),
    "frontend": (4, ["web", "static-assets"]),
    "monitoring": (1, ["prometheus", "alertmanager"]),
    "ingress": (2, ["ingress-nginx"]),
}
LEVELS = [("INFO", 70), ("DEBUG", 10), ("WARN", 12), ("ERROR", 8)]
STATUSES = [(200, 60), (201, 5), (204, 5), (301, 2), (304, 5), (400, 5), (401, 3), (404, 8), (429, 2),
            (500, 3), (502, 1), (503, 1)]
HTTP_PATHS = ["/api/v1/orders", "/api/v1/users", "/api/v2/cart/items", "/healthz", "/metrics", "/static/app.js",
              "/api/v1/payments/authorize", "/login"]
ERROR_MESSAGES = [
    "connection refused while calling upstream redis-master",
    "timeout after 30s waiting for database connection",
    "panic: runtime error: index out of range [3] with length 3",
    "failed to charge card: gateway returned code 402",
    "upstream connect error or disconnect/reset before headers",
]
WARN_MESSAGES = [
    "slow query detected on table orders took {ms}ms",
    "retrying request to payment gateway attempt {n}",
    "connection pool exhausted, waiting for a free connection",
    "deprecated API version v1 used by client {user}",
]
DEBUG_MESSAGES = [
    "cache hit for key session:{user}",
    "cache miss for key cart:{user} loading from database",
    "request timeout budget is {ms}ms",
]


def _weighted(rng, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights=weights, k=1)[0]


def _rand_suffix(rng, n):
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def _iso_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def generate_docs():
    rng = random.Random(SEED)
    pods = {}  # app -> pod names
    for ns, (_, apps) in NAMESPACES.items():
        for app in apps:
            rs = _rand_suffix(rng, 10)
            pods[app] = [f"{app}-{rs}-{_rand_suffix(rng, 5)}" for _ in range(5)]
    nodes = [f"ip-10-0-{rng.randint(1, 3)}-{rng.randint(10, 250)}.eu-west-1.compute.internal" for _ in range(6)]
    ns_pairs = [(ns, w) for ns, (w, _) in NAMESPACES.items()]
    lo, hi = NOW_MS - 2 * DAY_MS, NOW_MS - 120_000
    docs, stamps = [], []
    for seq in range(N_DOCS):
        while True:
            ts = rng.randint(lo, hi)
            if all(abs(ts - b) > GAP_MS for b in DATE_MATH_BOUNDARIES.values()):
                break
        ns = _weighted(rng, ns_pairs)
        app = rng.choice(NAMESPACES[ns][1])
        pod = rng.choice(pods[app])
        level = _weighted(rng, LEVELS)
        status = _weighted(rng, STATUSES)
        nbytes = min(int(rng.expovariate(1 / 2500)), 1_000_000)
        duration = round(rng.lognormvariate(3, 1), 3)
        user = f"user-{rng.randint(1, 5000)}"
        if level == "INFO":
            message = f"{rng.choice(['GET', 'POST', 'PUT', 'DELETE'])} {rng.choice(HTTP_PATHS)} HTTP/1.1 " \
                      f"{status} {nbytes} {duration}ms"
        elif level == "ERROR":
            message = rng.choice(ERROR_MESSAGES)
        elif level == "WARN":
            message = rng.choice(WARN_MESSAGES).format(ms=rng.randint(500, 9000), n=rng.randint(1, 5), user=user)
        else:
            message = rng.choice(DEBUG_MESSAGES).format(ms=rng.randint(10, 900), user=user)
        doc = {
            "@timestamp": _iso_ms(ts),
            "seq": seq,
            "level": level,
            "status": status,
            "bytes": nbytes,
            "duration_ms": duration,
            "message": message,
            "stream": "stderr" if level in ("WARN", "ERROR") else "stdout",
            "kubernetes": {
                "namespace_name": ns,
                "pod_name": pod,
                "container_name": app,
                "host": rng.choice(nodes),
                "labels": {"app": app, "tier": "backend" if ns in ("payments", "checkout") else "edge"},
            },
        }
        if rng.random() < 0.3:
            doc["user_id"] = user
        docs.append(doc)
        stamps.append(ts)
    return docs, stamps


DOCS, TS_MS = generate_docs()  # TS_MS[i]: epoch millis of DOCS[i]["@timestamp"]


def doc_id(seq: int) -> str:
    return f"log-{seq:06d}"


def tokens(text: str) -> set[str]:
    # The queried words below only ever occur delimited by spaces, so this agrees with
    # the standard analyzer for them.
    return set(text.lower().split())


def truth(pred):
    return [d for d in DOCS if pred(d)]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def es(osprey_module):
    client = Elasticsearch(osprey_module.es_url, request_timeout=300, max_retries=0)
    t0 = time.monotonic()
    actions = ({"_index": INDEX, "_id": doc_id(d["seq"]), "_source": d} for d in DOCS)
    ok, errors = helpers.bulk(client, actions, chunk_size=1000, raise_on_error=False, stats_only=False)
    assert not errors, f"helpers.bulk reported {len(errors)} errors, first: {errors[:3]}"
    assert ok == N_DOCS
    client.indices.refresh(index=INDEX)
    print(f"\n[e2e] bulk-loaded {N_DOCS} docs in {time.monotonic() - t0:.1f}s")
    yield client
    client.close()


def count_of(es, query) -> int:
    """Count a query both with _count and _search(track_total_hits) and require they agree."""
    c = es.count(index=INDEX, query=query)["count"]
    res = es.search(index=INDEX, query=query, size=0, track_total_hits=True)
    total = res["hits"]["total"]
    assert total["relation"] == "eq", total
    assert total["value"] == c, f"_search total {total['value']} != _count {c} for {query}"
    return c


def ids_of(es, query, size=10000) -> set[str]:
    res = es.search(index=INDEX, query=query, size=size, source=False, track_total_hits=True)
    assert res["hits"]["total"]["value"] <= size, "test query matches too many docs for one page"
    return {h["_id"] for h in res["hits"]["hits"]}


# ------------------------------------------------------------------ basics
def test_root_info_and_product_header(es, osprey_module):
    info = es.info()  # the client itself checks X-Elastic-Product
    assert str(info["version"]["number"]).startswith("8."), info
    status, _, hdrs = osprey_module.es("GET", "/")
    assert status == 200
    assert hdrs.get("x-elastic-product") == "Elasticsearch"


def test_count_all(es):
    assert es.count(index=INDEX)["count"] == N_DOCS
    assert count_of(es, {"match_all": {}}) == N_DOCS


def test_cat_indices_json(es):
    rows = es.cat.indices(index=INDEX, format="json")
    rows = [r for r in rows if r.get("index") == INDEX]
    assert len(rows) == 1, rows
    assert int(rows[0]["docs.count"]) == N_DOCS, rows[0]
    assert rows[0].get("health") in ("green", "yellow"), rows[0]


def test_cluster_health(es):
    h = es.cluster.health()
    assert h["status"] in ("green", "yellow"), h
    rows = es.cat.health(format="json")
    assert rows and rows[0]["status"] in ("green", "yellow"), rows


def _mapping_field(props: dict, dotted: str):
    """Look a field up in a mapping, as ES's object tree or as a dotted key."""
    if dotted in props:
        return props[dotted]
    node = {"properties": props}
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node


def test_get_mapping_dynamic_types(es):
    m = es.indices.get_mapping(index=INDEX)
    assert INDEX in m, list(m)
    props = m[INDEX]["mappings"]["properties"]
    for text_field in ("message", "level", "kubernetes.pod_name", "kubernetes.namespace_name",
                       "kubernetes.labels.app"):
        f = _mapping_field(props, text_field)
        assert f is not None, f"{text_field} missing from mapping {json.dumps(props)[:2000]}"
        assert f.get("type") == "text", (text_field, f)
        assert f.get("fields", {}).get("keyword", {}).get("type") == "keyword", (text_field, f)
    for long_field in ("status", "bytes", "seq"):
        f = _mapping_field(props, long_field)
        assert f is not None and f.get("type") == "long", (long_field, f)
    f = _mapping_field(props, "duration_ms")
    assert f is not None and f.get("type") in ("float", "double"), f
    f = _mapping_field(props, "@timestamp")
    assert f is not None and f.get("type") == "date", f


def test_field_caps(es):
    caps = es.field_caps(index=INDEX, fields="status,@timestamp,message,level.keyword")["fields"]
    assert "long" in caps["status"], caps["status"]
    assert "date" in caps["@timestamp"], caps["@timestamp"]
    assert "text" in caps["message"], caps["message"]
    assert "keyword" in caps["level.keyword"], caps["level.keyword"]
    assert caps["level.keyword"]["keyword"]["aggregatable"] is True


# ------------------------------------------------------------------ queries
@pytest.mark.parametrize(
    "qs, pred",
    [
        ("level:ERROR AND kubernetes.namespace_name:payments",
         lambda d: d["level"] == "ERROR" and d["kubernetes"]["namespace_name"] == "payments"),
        ("message:timeout OR message:refused",
         lambda d: bool(tokens(d["message"]) & {"timeout", "refused"})),
        ("status:[500 TO 599] AND NOT kubernetes.namespace_name:frontend",
         lambda d: 500 <= d["status"] <= 599 and d["kubernetes"]["namespace_name"] != "frontend"),
    ],
    ids=["fields-and", "or-words", "range-and-not"],
)
def test_query_string(es, qs, pred):
    expected = len(truth(pred))
    assert expected > 0
    assert count_of(es, {"query_string": {"query": qs}}) == expected


def test_query_string_default_field(es):
    expected = len(truth(lambda d: {"slow", "query"} <= tokens(d["message"])))
    q = {"query_string": {"query": "slow AND query", "default_field": "message"}}
    assert expected > 0
    assert count_of(es, q) == expected


def test_match_or(es):
    expected = len(truth(lambda d: bool(tokens(d["message"]) & {"connection", "refused"})))
    assert count_of(es, {"match": {"message": "connection refused"}}) == expected


def test_match_and(es):
    expected = len(truth(lambda d: {"connection", "pool"} <= tokens(d["message"])))
    assert expected > 0
    q = {"match": {"message": {"query": "connection pool", "operator": "and"}}}
    assert count_of(es, q) == expected


def test_match_phrase(es):
    expected = len(truth(lambda d: "connection refused" in d["message"]))
    # "refused connection" also occurs nowhere as a phrase, but both words do occur
    assert count_of(es, {"match_phrase": {"message": "connection refused"}}) == expected
    assert count_of(es, {"match_phrase": {"message": "refused connection"}}) == 0


def test_term_on_keyword_returns_exact_docs(es):
    pod = DOCS[12345]["kubernetes"]["pod_name"]
    expected = {doc_id(d["seq"]) for d in DOCS if d["kubernetes"]["pod_name"] == pod}
    q = {"term": {"kubernetes.pod_name.keyword": pod}}
    assert count_of(es, q) == len(expected)
    assert ids_of(es, q) == expected
    # a term query on the keyword field is exact: a prefix of the value matches nothing
    assert count_of(es, {"term": {"kubernetes.pod_name.keyword": pod[:-1]}}) == 0


def test_terms_query(es):
    wanted = ["ERROR", "WARN"]
    expected = len(truth(lambda d: d["level"] in wanted))
    assert count_of(es, {"terms": {"level.keyword": wanted}}) == expected


def test_range_numeric(es):
    assert count_of(es, {"range": {"status": {"gte": 500, "lt": 600}}}) == len(truth(lambda d: 500 <= d["status"] < 600))
    assert count_of(es, {"range": {"bytes": {"gt": 10000}}}) == len(truth(lambda d: d["bytes"] > 10000))
    assert count_of(es, {"range": {"duration_ms": {"gte": 20.5, "lte": 40.25}}}) == len(
        truth(lambda d: 20.5 <= d["duration_ms"] <= 40.25))


def test_range_timestamp_date_math(es):
    b1 = DATE_MATH_BOUNDARIES["now-1d"]
    b36 = DATE_MATH_BOUNDARIES["now-36h"]
    last_day = sum(1 for t in TS_MS if t >= b1)
    assert 0 < last_day < N_DOCS
    assert count_of(es, {"range": {"@timestamp": {"gte": "now-1d"}}}) == last_day
    assert count_of(es, {"range": {"@timestamp": {"gte": "now-36h", "lt": "now-1d"}}}) == sum(
        1 for t in TS_MS if b36 <= t < b1)
    assert count_of(es, {"range": {"@timestamp": {"gt": "now"}}}) == 0
    assert count_of(es, {"range": {"@timestamp": {"lte": "now"}}}) == N_DOCS


def test_range_timestamp_absolute(es):
    lo = NOW_MS - 30 * HOUR_MS + 12_345
    hi = NOW_MS - 20 * HOUR_MS - 6_789
    expected = sum(1 for t in TS_MS if lo <= t < hi)
    q = {"range": {"@timestamp": {"gte": _iso_ms(lo), "lt": _iso_ms(hi)}}}
    assert count_of(es, q) == expected
    q = {"range": {"@timestamp": {"gte": lo, "lt": hi, "format": "epoch_millis"}}}
    assert count_of(es, q) == expected


def test_bool(es):
    q = {
        "bool": {
            "must": [{"match": {"level": "error"}}],
            "filter": [{"range": {"@timestamp": {"gte": "now-1d"}}},
                       {"terms": {"kubernetes.namespace_name.keyword": ["payments", "checkout"]}}],
            "must_not": [{"term": {"kubernetes.container_name.keyword": "cart"}}],
        }
    }
    b1 = DATE_MATH_BOUNDARIES["now-1d"]
    expected = len([d for d, t in zip(DOCS, TS_MS)
                    if d["level"] == "ERROR" and t >= b1
                    and d["kubernetes"]["namespace_name"] in ("payments", "checkout")
                    and d["kubernetes"]["container_name"] != "cart"])
    assert expected > 0
    assert count_of(es, q) == expected
    q2 = {"bool": {"should": [{"term": {"status": 404}}, {"term": {"status": 503}}], "minimum_should_match": 1,
                   "filter": [{"exists": {"field": "user_id"}}]}}
    expected2 = len(truth(lambda d: d["status"] in (404, 503) and "user_id" in d))
    assert count_of(es, q2) == expected2


def test_search_returns_sources_in_sort_order(es):
    res = es.search(index=INDEX, query={"range": {"seq": {"gte": 500, "lt": 510}}}, sort=[{"seq": "desc"}], size=20)
    hits = res["hits"]["hits"]
    assert [h["_id"] for h in hits] == [doc_id(s) for s in range(509, 499, -1)]
    for h in hits:
        assert h["_source"] == DOCS[h["_source"]["seq"]]
        assert h["_index"] == INDEX


def test_source_filtering(es):
    got = es.get(index=INDEX, id=doc_id(777), source_includes=["level", "kubernetes.pod_name"])
    d = DOCS[777]
    assert got["_source"] == {"level": d["level"], "kubernetes": {"pod_name": d["kubernetes"]["pod_name"]}}
    res = es.search(index=INDEX, query={"term": {"seq": 778}}, source_includes=["status", "kubernetes.labels.*"])
    hit = res["hits"]["hits"][0]
    d = DOCS[778]
    assert hit["_source"] == {"status": d["status"], "kubernetes": {"labels": d["kubernetes"]["labels"]}}


def test_search_after_pagination_visits_every_hit_once(es):
    ns = "payments"
    expected = sorted(((t, d["seq"]) for d, t in zip(DOCS, TS_MS) if d["kubernetes"]["namespace_name"] == ns))
    q = {"term": {"kubernetes.namespace_name.keyword": ns}}
    seen = []
    after = None
    pages = 0
    while True:
        kw = {"search_after": after} if after is not None else {}
        res = es.search(index=INDEX, query=q, size=1000, sort=[{"@timestamp": "asc"}, {"seq": "asc"}],
                        source_includes=["seq"], track_total_hits=True, **kw)
        assert res["hits"]["total"]["value"] == len(expected)
        hits = res["hits"]["hits"]
        if not hits:
            break
        pages += 1
        assert pages <= len(expected) // 1000 + 2, "pagination does not terminate"
        for h in hits:
            seen.append((TS_MS[h["_source"]["seq"]], h["_source"]["seq"]))
            assert h["_id"] == doc_id(h["_source"]["seq"])
        after = hits[-1]["sort"]
        assert after[0] == TS_MS[hits[-1]["_source"]["seq"]], f"sort value {after} is not epoch millis"
    assert len(seen) == len(set(seen)), "a hit was returned twice"
    assert seen == expected


# ------------------------------------------------------------------ aggregations
def _agg(es, aggs, query=None):
    return es.search(index=INDEX, query=query or {"match_all": {}}, size=0, aggs=aggs, track_total_hits=True)


def test_date_histogram_fixed_interval(es):
    res = _agg(es, {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}})
    buckets = res["aggregations"]["h"]["buckets"]
    got = {b["key"]: b["doc_count"] for b in buckets if b["doc_count"]}
    expected = collections.Counter(t // HOUR_MS * HOUR_MS for t in TS_MS)
    assert got == dict(expected)
    assert sum(b["doc_count"] for b in buckets) == res["hits"]["total"]["value"] == N_DOCS
    keys = [b["key"] for b in buckets]
    assert keys == sorted(keys)


def test_date_histogram_calendar_interval_with_query(es):
    q = {"term": {"level.keyword": "WARN"}}
    res = _agg(es, {"d": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1d"}}}, q)
    buckets = res["aggregations"]["d"]["buckets"]
    expected = collections.Counter(t // DAY_MS * DAY_MS for d, t in zip(DOCS, TS_MS) if d["level"] == "WARN")
    assert {b["key"]: b["doc_count"] for b in buckets if b["doc_count"]} == dict(expected)
    assert sum(b["doc_count"] for b in buckets) == res["hits"]["total"]["value"] == sum(expected.values())
    for b in buckets:
        assert b["key_as_string"].startswith(_iso_ms(b["key"])[:10]), b


def test_terms_agg_all_values(es):
    res = _agg(es, {"ns": {"terms": {"field": "kubernetes.namespace_name.keyword", "size": 10}}})
    agg = res["aggregations"]["ns"]
    expected = collections.Counter(d["kubernetes"]["namespace_name"] for d in DOCS)
    assert {b["key"]: b["doc_count"] for b in agg["buckets"]} == dict(expected)
    counts = [b["doc_count"] for b in agg["buckets"]]
    assert counts == sorted(counts, reverse=True)
    assert agg["sum_other_doc_count"] == 0


def test_terms_agg_top_n(es):
    q = {"range": {"status": {"gte": 400}}}
    res = _agg(es, {"pods": {"terms": {"field": "kubernetes.pod_name.keyword", "size": 10}}}, q)
    agg = res["aggregations"]["pods"]
    matching = truth(lambda d: d["status"] >= 400)
    expected = collections.Counter(d["kubernetes"]["pod_name"] for d in matching)
    buckets = agg["buckets"]
    assert len(buckets) == 10
    for b in buckets:
        assert b["doc_count"] == expected[b["key"]], b
    returned = {b["key"] for b in buckets}
    min_returned = min(b["doc_count"] for b in buckets)
    assert all(c <= min_returned for k, c in expected.items() if k not in returned), "not the top 10"
    assert agg["sum_other_doc_count"] == len(matching) - sum(b["doc_count"] for b in buckets)


def test_metric_aggs(es):
    aggs = {
        "avg_b": {"avg": {"field": "bytes"}}, "min_b": {"min": {"field": "bytes"}},
        "max_b": {"max": {"field": "bytes"}}, "sum_b": {"sum": {"field": "bytes"}},
        "st_d": {"stats": {"field": "duration_ms"}}, "st_s": {"stats": {"field": "status"}},
    }
    q = {"term": {"kubernetes.namespace_name.keyword": "checkout"}}
    a = _agg(es, aggs, q)["aggregations"]
    docs = truth(lambda d: d["kubernetes"]["namespace_name"] == "checkout")
    b = [d["bytes"] for d in docs]
    dur = [d["duration_ms"] for d in docs]
    st = [d["status"] for d in docs]
    assert a["avg_b"]["value"] == pytest.approx(sum(b) / len(b), rel=1e-9)
    assert a["min_b"]["value"] == min(b)
    assert a["max_b"]["value"] == max(b)
    assert a["sum_b"]["value"] == sum(b)
    assert a["st_d"]["count"] == len(dur)
    assert a["st_d"]["min"] == pytest.approx(min(dur), rel=1e-6)  # float field: single precision
    assert a["st_d"]["max"] == pytest.approx(max(dur), rel=1e-6)
    assert a["st_d"]["sum"] == pytest.approx(sum(dur), rel=1e-6)
    assert a["st_d"]["avg"] == pytest.approx(sum(dur) / len(dur), rel=1e-6)
    assert a["st_s"] == {"count": len(st), "min": min(st), "max": max(st), "avg": pytest.approx(sum(st) / len(st)),
                         "sum": sum(st)}


def test_cardinality(es):
    a = _agg(es, {"pods": {"cardinality": {"field": "kubernetes.pod_name.keyword"}},
                  "users": {"cardinality": {"field": "user_id.keyword"}},
                  "seqs": {"cardinality": {"field": "seq"}}})["aggregations"]
    pods = len({d["kubernetes"]["pod_name"] for d in DOCS})
    users = len({d["user_id"] for d in DOCS if "user_id" in d})
    # ES's cardinality is HyperLogLog++: exact in practice below precision_threshold (3000 by
    # default), a few percent off above it.
    assert a["pods"]["value"] == pods
    assert abs(a["users"]["value"] - users) <= 0.05 * users, (a["users"], users)
    assert abs(a["seqs"]["value"] - N_DOCS) <= 0.05 * N_DOCS, (a["seqs"], N_DOCS)


def test_percentiles(es):
    a = _agg(es, {"p": {"percentiles": {"field": "duration_ms", "percents": [50, 95, 99]}}})["aggregations"]
    values = a["p"]["values"]
    data = sorted(d["duration_ms"] for d in DOCS)

    def q(p):
        return data[min(len(data) - 1, max(0, int(p / 100 * len(data))))]

    for p in (50, 95, 99):
        got = values.get(str(float(p)), values.get(str(p)))
        assert got is not None, values
        # percentiles are approximate (t-digest, compression 100): accept anything between
        # the true (p-1)th and (p+1)th percentiles
        assert q(p - 1) <= got <= q(min(p + 1, 100)), (p, got, q(p - 1), q(p), q(min(p + 1, 100)))


def test_range_agg(es):
    ranges = [{"to": 300}, {"from": 300, "to": 500}, {"from": 500}]
    a = _agg(es, {"r": {"range": {"field": "status", "ranges": ranges}}})["aggregations"]
    buckets = a["r"]["buckets"]
    assert [b["doc_count"] for b in buckets] == [
        len(truth(lambda d: d["status"] < 300)),
        len(truth(lambda d: 300 <= d["status"] < 500)),
        len(truth(lambda d: d["status"] >= 500)),
    ]


def test_histogram(es):
    a = _agg(es, {"h": {"histogram": {"field": "bytes", "interval": 1000}}})["aggregations"]
    got = {int(b["key"]): b["doc_count"] for b in a["h"]["buckets"] if b["doc_count"]}
    assert got == dict(collections.Counter(d["bytes"] // 1000 * 1000 for d in DOCS))


def test_value_count(es):
    a = _agg(es, {"s": {"value_count": {"field": "status"}},
                  "u": {"value_count": {"field": "user_id.keyword"}}})["aggregations"]
    assert a["s"]["value"] == N_DOCS
    assert a["u"]["value"] == len(truth(lambda d: "user_id" in d))


def test_sub_aggregation(es):
    aggs = {"lvl": {"terms": {"field": "level.keyword", "size": 10},
                    "aggs": {"avg_dur": {"avg": {"field": "bytes"}}}}}
    buckets = _agg(es, aggs)["aggregations"]["lvl"]["buckets"]
    for b in buckets:
        docs = truth(lambda d: d["level"] == b["key"])
        assert b["doc_count"] == len(docs)
        assert b["avg_dur"]["value"] == pytest.approx(sum(d["bytes"] for d in docs) / len(docs), rel=1e-9)
    assert {b["key"] for b in buckets} == {lv for lv, _ in LEVELS}


def test_msearch(es):
    searches = [
        {"index": INDEX}, {"query": {"term": {"level.keyword": "ERROR"}}, "size": 0, "track_total_hits": True},
        {"index": INDEX}, {"query": {"term": {"status": 201}}, "size": 0, "track_total_hits": True},
    ]
    res = es.msearch(searches=searches)
    totals = [r["hits"]["total"]["value"] for r in res["responses"]]
    assert totals == [len(truth(lambda d: d["level"] == "ERROR")), len(truth(lambda d: d["status"] == 201))]


# ------------------------------------------------------------------ documents
def test_get_by_id(es):
    for seq in (0, 4242, N_DOCS - 1):
        got = es.get(index=INDEX, id=doc_id(seq))
        assert got["found"] is True
        assert got["_id"] == doc_id(seq)
        assert got["_source"] == DOCS[seq]
    with pytest.raises(NotFoundError):
        es.get(index=INDEX, id="no-such-id")


CRUD = "crud-e2e"


def test_index_explicit_id_then_overwrite(es, osprey_module):
    first = {"message": "first version", "n": 1}
    r = es.index(index=CRUD, id="ow-1", document=first)
    assert r["result"] == "created"
    es.index(index=CRUD, id="ow-2", document={"message": "bystander"})
    es.indices.refresh(index=CRUD)
    before = es.count(index=CRUD)["count"]
    # the overwrite goes in raw, with unusual but valid formatting: the same bytes must come back
    raw = b'{"message" : "second  version \\u00e9 \xc3\xa9",\n "n":2, "ratio":2.50, "list":[1, 2 ,3], "z":null}'
    status, body, _ = osprey_module.es("PUT", f"/{CRUD}/_doc/ow-1", raw)
    assert status == 200, body
    assert body["result"] == "updated", body
    assert body["_version"] == 2, body
    es.indices.refresh(index=CRUD)
    assert es.count(index=CRUD)["count"] == before
    st, hdrs, resp = osprey_e2e.request("GET", f"{osprey_module.es_url}/{CRUD}/_doc/ow-1")
    assert st == 200
    assert b'"_source":' + raw in resp.replace(b'"_source" :', b'"_source":'), \
        f"_source not returned byte-for-byte: {resp[:500]!r}"
    got = es.get(index=CRUD, id="ow-1")
    assert got["_version"] == 2
    assert got["_source"]["message"] == "second  version \u00e9 \u00e9"
    hits = es.search(index=CRUD, query={"match": {"message": "second"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["ow-1"]
    assert es.count(index=CRUD, query={"match": {"message": "first"}})["count"] == 0


def test_delete(es):
    es.index(index=CRUD, id="del-1", document={"message": "to be deleted"})
    es.indices.refresh(index=CRUD)
    before = es.count(index=CRUD)["count"]
    r = es.delete(index=CRUD, id="del-1")
    assert r["result"] == "deleted"
    with pytest.raises(NotFoundError):
        es.get(index=CRUD, id="del-1")
    es.indices.refresh(index=CRUD)
    assert es.count(index=CRUD)["count"] == before - 1
    assert es.count(index=CRUD, query={"match": {"message": "deleted"}})["count"] == 0
    with pytest.raises(NotFoundError):
        es.delete(index=CRUD, id="del-1")


def test_bulk_create_duplicate_id_conflicts_per_item(es):
    ops = [
        {"create": {"_index": CRUD, "_id": "c-1"}}, {"message": "original c-1"},
        {"create": {"_index": CRUD, "_id": "c-2"}}, {"message": "c-2"},
        {"create": {"_index": CRUD, "_id": "c-1"}}, {"message": "duplicate c-1"},
        {"index": {"_index": CRUD, "_id": "c-3"}}, {"message": "c-3"},
    ]
    r = es.bulk(operations=ops)
    assert r["errors"] is True
    items = r["items"]
    assert [list(i)[0] for i in items] == ["create", "create", "create", "index"]
    statuses = [list(i.values())[0]["status"] for i in items]
    assert statuses == [201, 201, 409, 201], items
    err = items[2]["create"]["error"]
    assert err["type"] and err["reason"], err
    es.indices.refresh(index=CRUD)
    assert es.get(index=CRUD, id="c-1")["_source"] == {"message": "original c-1"}
    assert es.get(index=CRUD, id="c-3")["_source"] == {"message": "c-3"}
    assert es.count(index=CRUD, query={"match": {"message": "duplicate"}})["count"] == 0


def test_update_partial_doc(es):
    es.index(index=CRUD, id="u-1",
             document={"level": "INFO", "n": 1, "kubernetes": {"pod_name": "a", "namespace_name": "x"}})
    r = es.update(index=CRUD, id="u-1", doc={"level": "WARN", "kubernetes": {"pod_name": "b"}, "extra": True})
    assert r["result"] == "updated"
    got = es.get(index=CRUD, id="u-1")["_source"]
    assert got == {"level": "WARN", "n": 1, "kubernetes": {"pod_name": "b", "namespace_name": "x"}, "extra": True}
    es.indices.refresh(index=CRUD)
    assert es.count(index=CRUD, query={"term": {"kubernetes.pod_name.keyword": "b"}})["count"] == 1
    assert es.count(index=CRUD, query={"term": {"kubernetes.pod_name.keyword": "a"}})["count"] == 0
    with pytest.raises(NotFoundError):
        es.update(index=CRUD, id="u-missing", doc={"x": 1})


def test_searchable_within_one_second_of_ack(es):
    idx = "fresh-e2e"
    ops = []
    for i in range(200):
        ops += [{"index": {"_index": idx, "_id": f"f-{i}"}}, {"message": f"fresh doc {i}", "seq": i}]
    r = es.bulk(operations=ops)
    acked = time.monotonic()
    assert r["errors"] is False
    while True:
        try:
            c = es.count(index=idx)["count"]
        except NotFoundError:
            c = 0
        elapsed = time.monotonic() - acked
        if c == 200:
            break
        assert elapsed < 1.25, f"only {c}/200 acknowledged docs searchable {elapsed:.2f}s after the _bulk ack"
        time.sleep(0.05)


def test_bulk_answers_keep_only_the_filter_path(es):
    """`filter_path`, as Logstash and the agent send it, trims the `_bulk` answer to what they read."""
    operations = [{"index": {"_index": "filter-path-test"}}, {"n": 1},
                  {"create": {"_index": "filter-path-test", "_id": "x"}}, {"n": 2},
                  {"create": {"_index": "filter-path-test", "_id": "x"}}, {"n": 3}]
    answer = es.bulk(operations=operations, filter_path="errors,items.*.status,items.*.error").body
    assert set(answer) == {"errors", "items"} and answer["errors"] is True
    assert [list(item.values())[0]["status"] for item in answer["items"]] == [201, 201, 409]
    assert set(answer["items"][0]["index"]) == {"status"}
    assert answer["items"][2]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert es.bulk(operations=operations[:2], filter_path="took").body.keys() == {"took"}
    es.indices.delete(index="filter-path-test")
