"""Crash safety: kill -9 under concurrent _bulk load, restart, verify.

20 rounds on one data directory. In each round 4 threads send _bulk requests with
explicit, unique ids and a unique numeric `seq`; the server is killed with SIGKILL at a
random moment 0.3-1.5 s into the round, then restarted on the same data dir. After every
restart: every acknowledged document is present exactly once, nothing that was never
sent appears, and _count agrees with what search finds.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time

import pytest

from osprey_e2e import all_ids_by_seq

ROUNDS = int(os.environ.get("OSPREY_KILL9_ROUNDS", "20"))
THREADS = 4
DOCS_PER_BULK = 100
INDEX = "crash-e2e"


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent: dict[str, int] = {}  # _id -> seq of every doc ever put on the wire
        self.acked: dict[str, int] = {}  # _id -> seq of every acknowledged doc
        self.acked_bulks = 0
        self.failed_bulks = 0
        self.unexpected: list[str] = []  # per-item errors while the server was healthy


def writer(port: int, round_no: int, thread_no: int, ledger: Ledger, stop: threading.Event):
    conn = None
    batch = 0
    while not stop.is_set():
        ids = []
        lines = []
        for i in range(DOCS_PER_BULK):
            # seq: round(2 digits) thread(1) batch(5) doc(3) -- unique, and fits a long
            seq = ((round_no * 10 + thread_no) * 100_000 + batch) * 1000 + i
            _id = f"r{round_no}-t{thread_no}-b{batch}-d{i}"
            ids.append((_id, seq))
            lines.append(json.dumps({"index": {"_index": INDEX, "_id": _id}}))
            lines.append(json.dumps({"seq": seq, "round": round_no, "thread": thread_no, "batch": batch,
                                     "message": f"crash test document {_id} " + "lorem ipsum " * 8}))
        body = ("\n".join(lines) + "\n").encode()
        batch += 1
        with ledger.lock:
            for _id, seq in ids:
                ledger.sent[_id] = seq
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            # killed (or not reachable): nothing of this bulk was acknowledged
            with ledger.lock:
                ledger.failed_bulks += 1
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(0.02)
            continue
        if resp.status != 200:
            with ledger.lock:
                ledger.failed_bulks += 1
                if not stop.is_set():
                    ledger.unexpected.append(f"HTTP {resp.status}: {data[:300]!r}")
            continue
        res = json.loads(data)
        items = res.get("items", [])
        with ledger.lock:
            if len(items) != len(ids):
                ledger.unexpected.append(f"{len(items)} items for {len(ids)} ops")
                continue
            for (_id, seq), item in zip(ids, items):
                r = list(item.values())[0]
                if r.get("_id") != _id:
                    ledger.unexpected.append(f"item _id {r.get('_id')} != {_id}")
                elif r.get("status") in (200, 201):
                    ledger.acked[_id] = seq
                else:
                    ledger.unexpected.append(f"item error: {r}")
            ledger.acked_bulks += 1
    if conn is not None:
        conn.close()


def verify(srv, ledger: Ledger, round_no: int):
    status, res, _ = srv.es("POST", "/_refresh", timeout=120)
    assert status == 200, f"round {round_no}: _refresh after restart failed: {status} {res!r:.500}"
    status, res, _ = srv.es("GET", f"/{INDEX}/_count", timeout=120)
    if not ledger.acked and status == 404:
        return
    assert status == 200, f"round {round_no}: _count failed: {status} {res!r:.500}"
    count = res["count"]
    pairs = all_ids_by_seq(srv, INDEX, page=10000)
    ids = [p[0] for p in pairs]
    dupes = len(ids) - len(set(ids))
    assert dupes == 0, f"round {round_no}: {dupes} _ids returned more than once after restart"
    assert len(pairs) == count, f"round {round_no}: _count {count} but paging found {len(pairs)} docs"
    found = dict(pairs)
    missing = [i for i in ledger.acked if i not in found]
    assert not missing, (f"round {round_no}: {len(missing)} acknowledged docs lost after kill -9, "
                         f"e.g. {sorted(missing)[:5]}")
    unknown = [i for i in found if i not in ledger.sent]
    assert not unknown, f"round {round_no}: docs that were never sent appeared: {unknown[:5]}"
    wrong = [i for i, s in found.items() if ledger.sent[i] != s]
    assert not wrong, f"round {round_no}: docs with the wrong seq: {wrong[:5]}"
    assert len(ledger.acked) <= count <= len(ledger.sent)


@pytest.mark.fault
def test_kill9_under_concurrent_bulk_load(osprey_factory):
    seed = int(os.environ.get("OSPREY_KILL9_SEED", str(int(time.time()))))
    print(f"[e2e] kill -9 test: OSPREY_KILL9_SEED={seed} OSPREY_KILL9_ROUNDS={ROUNDS}")
    rng = random.Random(seed)
    srv = osprey_factory(start=False)
    ledger = Ledger()
    t_start = time.monotonic()
    for round_no in range(ROUNDS):
        srv.start()
        if round_no:
            verify(srv, ledger, round_no - 1)  # what the previous crash left behind
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(srv.es_port, round_no, t, ledger, stop), daemon=True)
                   for t in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        srv.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a writer thread hung after the server was killed"
        assert not ledger.unexpected, f"round {round_no}: unexpected answers: {ledger.unexpected[:5]}"
    # after the last crash
    srv.start()
    verify(srv, ledger, ROUNDS - 1)
    # a graceful stop keeps everything too
    code = srv.stop()
    assert code == 0, f"osprey exited with {code} after SIGTERM"
    srv.start()
    verify(srv, ledger, ROUNDS)
    assert ledger.acked_bulks > 0, "no _bulk was ever acknowledged"
    print(f"\n[e2e] kill -9: {ROUNDS} rounds, {len(ledger.sent)} docs sent, {len(ledger.acked)} acked, "
          f"{ledger.acked_bulks} bulks acked, {ledger.failed_bulks} failed, {time.monotonic() - t_start:.1f}s")
