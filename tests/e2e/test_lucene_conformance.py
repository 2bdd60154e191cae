"""Lucene query-string conformance, with real Lucene 8.7 as the oracle.

The same documents (generated container logs plus tests/lucene-oracle/conformance-docs.ndjson,
whose lines hold CJK, emoji, Cyrillic, Thai, IPs, URLs, dotted and hyphenated identifiers,
stack traces and special characters) are indexed by Lucene, with the mapping Elasticsearch's
dynamic mapping gives them (bench/lucene/LuceneBench.java: text + `.keyword`, points for
numbers and dates), and by Osprey through `_bulk`. Every query of
tests/lucene-oracle/conformance-queries.tsv is parsed by Lucene's classic QueryParser (plus
Elasticsearch's additions: `_exists_`, `field:>=v` shorthands, pure negative clauses meaning
"everything except") and sent to Osprey as `query_string` with `default_field: message`.
The ids that match must be the same, and a query Lucene rejects must be rejected with a 400.
Every query runs twice: on an index as written, and on a copy written in several refreshes
and then merged with `_forcemerge`, whose segment keeps its postings and positions compact
(zstd blocks): both storage formats must answer as Lucene does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import osprey_e2e
from osprey_e2e import REPO_ROOT, ndjson, parse_json, request

ORACLE_DIR = REPO_ROOT / "tests" / "lucene-oracle"
QUERIES = ORACLE_DIR / "conformance-queries.tsv"
KQL_QUERIES = ORACLE_DIR / "kql-queries.tsv"
CURATED_DOCS = ORACLE_DIR / "conformance-docs.ndjson"
INDEX = "conformance"
COMPACT_INDEX = "conformance-compact"
INDEXES = [INDEX, COMPACT_INDEX]
COMPACT_TRAILER = b"OSPZBLK1"
GENERATED_DOCS = 3000


def load_pairs(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        first, _, second = line.partition("\t")
        out.append((first.strip(), second))
    return out


QUERY_LINES = load_pairs(QUERIES)
# (KQL query, its Lucene equivalent)
KQL_LINES = load_pairs(KQL_QUERIES)


def loadgen_bin() -> Path:
    return osprey_e2e.osprey_bin().parent / "osprey-loadgen"


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """Document lines: generated logs, then the curated ones (line number = id)."""
    tmp = Path(tempfile.mkdtemp(prefix="osprey-conformance-"))
    try:
        generated = tmp / "generated.ndjson"
        subprocess.run(
            [str(loadgen_bin()), "generate", "--docs", str(GENERATED_DOCS), "--seed", "11",
             "--days", "1", "--end", "2026-11-24T00:00:00Z", "--out", str(generated)],
            check=True, capture_output=True,
        )
        lines = generated.read_text(encoding="utf-8").splitlines()
        lines += CURATED_DOCS.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if line.strip()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def lucene_answers(corpus) -> dict[str, dict]:
    """Query text -> {"ids": [...]} or {"error": "..."} from real Lucene."""
    subprocess.run([str(REPO_ROOT / "bench" / "lucene" / "build.sh")], check=True, capture_output=True)
    classpath = (REPO_ROOT / "bench" / "lucene" / "classes" / "classpath.txt").read_text().strip()
    tmp = Path(tempfile.mkdtemp(prefix="osprey-conformance-lucene-"))
    try:
        docs = tmp / "docs.ndjson"
        docs.write_text("\n".join(corpus) + "\n", encoding="utf-8")
        java = ["java", "-Xmx512m", "-cp", classpath, "LuceneBench"]
        # One indexing thread: input line n gets _seq_no n, and field types are learnt in
        # document order, as Osprey learns them.
        subprocess.run(java + ["index", str(docs), str(tmp / "index"), "--threads", "1"],
                       check=True, capture_output=True)
        # The Lucene side of the KQL pairs, as query-string lines.
        equivalents = tmp / "kql-equivalents.tsv"
        equivalents.write_text("".join(f"kql\t{lucene}\n" for _, lucene in KQL_LINES), encoding="utf-8")
        answers = {}
        for queries in (QUERIES, equivalents):
            result = subprocess.run(java + ["ids", str(tmp / "index"), str(queries)],
                                    check=True, capture_output=True, text=True)
            for line in result.stdout.splitlines():
                answer = json.loads(line)
                answers[answer["query"]] = answer
        return answers
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bulk_load(server, index: str, numbered_lines: list[tuple[int, str]]) -> None:
    body = []
    for n, line in numbered_lines:
        body.append({"index": {"_index": index, "_id": str(n)}})
        body.append(line)
    status, _, data = request("POST", f"{server.es_url}/_bulk?refresh=true", ndjson(body),
                              headers={"Content-Type": "application/x-ndjson"}, timeout=300)
    answer = parse_json(data)
    assert status == 200 and not answer["errors"], data[:2000]


@pytest.fixture(scope="module")
def loaded(osprey_module, corpus):
    numbered = list(enumerate(corpus))
    bulk_load(osprey_module, INDEX, numbered)
    # The copy: four refreshes (several segments per day), then one compact segment per day.
    for part in range(4):
        bulk_load(osprey_module, COMPACT_INDEX, numbered[part::4])
    status, _, data = request("POST", f"{osprey_module.es_url}/{COMPACT_INDEX}/_forcemerge",
                              timeout=300)
    assert status == 200, data[:500]
    postings = [p for p in (osprey_module.data_dir / "indexes" / COMPACT_INDEX).rglob("*")
                if p.suffix in (".idx", ".pos")]
    assert postings, "the merged copy has no postings files"
    for path in postings:
        assert path.read_bytes().endswith(COMPACT_TRAILER), f"{path} is not stored compact"
    return osprey_module


def osprey_ids(server, query: str, language: str = "lucene", index: str = INDEX):
    status, _, data = request("POST", f"{server.es_url}/{index}/_search", {
        "query": {"query_string": {"query": query, "default_field": "message", "language": language}},
        "size": 10000,
        "_source": False,
        "track_total_hits": True,
    })
    body = parse_json(data)
    if status != 200:
        return status, body, None
    return status, body, sorted(int(hit["_id"]) for hit in body["hits"]["hits"])


def describe(corpus: list[str], ids: list[int], limit: int = 3) -> str:
    shown = []
    for i in ids[:limit]:
        doc = json.loads(corpus[i])
        shown.append(f"    #{i}: {json.dumps(doc, ensure_ascii=False)[:300]}")
    more = f"\n    … and {len(ids) - limit} more" if len(ids) > limit else ""
    return "\n".join(shown) + more


def assert_same_ids(what: str, expected: list[int], ids: list[int], corpus: list[str]) -> None:
    """Fails with the documents only one side matched, when the id lists differ."""
    if ids == expected:
        return
    missing = sorted(set(expected) - set(ids))
    extra = sorted(set(ids) - set(expected))
    pytest.fail(
        f"{what}: Lucene matches {len(expected)}, Osprey {len(ids)}\n"
        f"  only Lucene ({len(missing)}):\n{describe(corpus, missing)}\n"
        f"  only Osprey ({len(extra)}):\n{describe(corpus, extra)}"
    )


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize(("cls", "query"), QUERY_LINES, ids=[f"{c}:{q}" for c, q in QUERY_LINES])
def test_same_documents_as_lucene(cls, query, index, loaded, lucene_answers, corpus):
    lucene = lucene_answers[query]
    status, body, ids = osprey_ids(loaded, query, index=index)
    if "error" in lucene:
        assert status == 400, (
            f"Lucene rejects `{query}` ({lucene['error']}) but Osprey answered {status}: "
            f"{str(body)[:500]}"
        )
        return
    assert status == 200, f"Lucene parses `{query}` as `{lucene['lucene']}`; Osprey: {status} {str(body)[:500]}"
    assert_same_ids(f"`{query}` [{cls}] on {index}: Lucene ({lucene['lucene']})", lucene["ids"], ids,
                    corpus)


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize(("kql", "lucene"), KQL_LINES, ids=[k for k, _ in KQL_LINES])
def test_kql_same_documents_as_its_lucene_equivalent(kql, lucene, index, loaded, lucene_answers,
                                                     corpus):
    answer = lucene_answers[lucene]
    assert "error" not in answer, f"the Lucene equivalent `{lucene}` must parse: {answer['error']}"
    status, body, ids = osprey_ids(loaded, kql, language="kql", index=index)
    assert status == 200, f"KQL `{kql}`: Osprey {status} {str(body)[:500]}"
    assert_same_ids(f"KQL `{kql}` vs Lucene `{lucene}` ({answer['lucene']})", answer["ids"], ids, corpus)


def test_compact_reads_go_through_the_block_cache(loaded):
    """Searches of the merged copy read its postings through the block cache, and /metrics says so."""
    def cache_lookups() -> int:
        status, _, data = request("GET", f"{loaded.http_url}/metrics")
        assert status == 200
        counts = {}
        for line in data.decode().splitlines():
            name, _, value = line.partition(" ")
            if name in ("osprey_store_block_cache_hits_total", "osprey_store_block_cache_misses_total"):
                counts[name] = int(float(value))
        assert len(counts) == 2, f"block cache counters missing from /metrics: {counts}"
        return sum(counts.values())

    before = cache_lookups()
    status, _, ids = osprey_ids(loaded, "get OR error OR info", index=COMPACT_INDEX)
    assert status == 200 and ids, "common words match nothing on the merged copy"
    assert cache_lookups() > before
