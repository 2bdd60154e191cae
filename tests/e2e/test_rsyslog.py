"""Real rsyslog (omelasticsearch) shipping to Osprey.

rsyslogd runs in the foreground with its own config, work dir and pid file, an imtcp
input on a free loopback port and an omelasticsearch action in bulk mode pointed at the
server. What omelasticsearch 8.2302 sends:
  * `HEAD /_cat/health` as its health check before it starts (and to resume) sending,
  * `POST /_bulk?` (bulkmode) whose action lines are `{"index":{"_index": "syslog-test"}}`;
    with esVersion.major=8 (and searchType="") it sends no `_type`,
  * it reads the per-item results of the response (`errors`, `items[].index.status`).
"""

from __future__ import annotations

import glob
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from osprey_e2e import free_port

INDEX = "syslog-test"


def _omelasticsearch_present() -> bool:
    return bool(glob.glob("/usr/lib/*/rsyslog/omelasticsearch.so") or glob.glob("/usr/lib/rsyslog/omelasticsearch.so"))


CONF = r"""
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp")
module(load="omelasticsearch")

template(name="osprey-json" type="list") {{
  constant(value="{{\"@timestamp\":\"")
  property(name="timereported" dateFormat="rfc3339")
  constant(value="\",\"host\":\"")
  property(name="hostname" format="json")
  constant(value="\",\"severity\":\"")
  property(name="syslogseverity-text")
  constant(value="\",\"facility\":\"")
  property(name="syslogfacility-text")
  constant(value="\",\"program\":\"")
  property(name="programname" format="json")
  constant(value="\",\"message\":\"")
  property(name="msg" format="json" droplastlf="on")
  constant(value="\"}}")
}}

ruleset(name="to-osprey") {{
  action(type="omelasticsearch"
         name="osprey"
         server="127.0.0.1"
         serverport="{es_port}"
         searchIndex="{index}"
         searchType=""
         esVersion.major="8"
         template="osprey-json"
         bulkmode="on"
         queue.type="linkedlist"
         queue.dequeueBatchSize="100"
         action.resumeRetryCount="-1"
         action.resumeInterval="1"
         errorFile="{work}/omelasticsearch-errors.json")
}}

input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="to-osprey")
"""


@pytest.fixture
def rsyslogd(osprey):
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if exe is None:
        pytest.skip("rsyslogd is not installed (apt-get install rsyslog rsyslog-elasticsearch)")
    if not _omelasticsearch_present():
        pytest.skip("rsyslog's omelasticsearch module is not installed (apt-get install rsyslog-elasticsearch)")
    work = Path(tempfile.mkdtemp(prefix="osprey-rsyslog-"))
    tcp_port = free_port()
    conf = work / "rsyslog.conf"
    conf.write_text(CONF.format(work=work, es_port=osprey.es_port, index=INDEX, tcp_port=tcp_port))
    check = subprocess.run([exe, "-N1", "-f", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, f"rsyslog rejects the test config:\n{check.stdout}\n{check.stderr}"
    log = open(work / "rsyslogd.out", "wb")
    proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(work))
    log.close()

    def output():
        text = (work / "rsyslogd.out").read_text(errors="replace")
        err = work / "omelasticsearch-errors.json"
        if err.exists():
            text += "\n--- omelasticsearch errorFile ---\n" + err.read_text(errors="replace")[-5000:]
        return text

    # wait until imtcp listens
    deadline = time.monotonic() + 15
    sock = None
    while sock is None:
        if proc.poll() is not None:
            pytest.fail(f"rsyslogd exited with {proc.returncode}:\n{output()}")
        try:
            sock = socket.create_connection(("127.0.0.1", tcp_port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"rsyslogd did not listen on {tcp_port} within 15 s:\n{output()}")
            time.sleep(0.1)
    try:
        yield sock, proc, output
    finally:
        sock.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def test_rsyslog_omelasticsearch_delivers_every_line(osprey, rsyslogd):
    sock, proc, output = rsyslogd
    run = uuid.uuid4().hex[:12]
    lines = {}
    severities = {3: "err", 4: "warning", 6: "info"}
    for i in range(12):
        token = f"osp{run}n{i}"
        sev = list(severities)[i % 3]
        pri = 1 * 8 + sev  # facility user
        msg = f"<{pri}>Nov 26 10:00:{i:02d} e2e-host e2etest[{1000 + i}]: line {i} {token} with \"quotes\" and \\ tab\t."
        lines[token] = (sev, msg)
        sock.sendall(msg.encode() + b"\n")
    deadline = time.monotonic() + 30
    found = {}
    while time.monotonic() < deadline and len(found) < len(lines):
        if proc.poll() is not None:
            pytest.fail(f"rsyslogd died with {proc.returncode}:\n{output()}")
        osprey.es("POST", f"/{INDEX}/_refresh")
        for token in lines:
            if token in found:
                continue
            status, res, _ = osprey.es("POST", f"/{INDEX}/_search", {"query": {"match": {"message": token}}})
            if status == 200 and res["hits"]["total"]["value"] >= 1:
                found[token] = res["hits"]["hits"]
        time.sleep(0.5)
    missing = sorted(set(lines) - set(found))
    assert not missing, (f"{len(missing)}/{len(lines)} syslog lines not searchable in {INDEX} after 30 s: "
                         f"{missing[:4]}\n--- rsyslogd output ---\n{output()}")
    for token, hits in found.items():
        assert len(hits) == 1, f"line {token} indexed {len(hits)} times"
        src = hits[0]["_source"]
        sev, _ = lines[token]
        assert src["host"] == "e2e-host", src
        assert src["program"] == "e2etest", src
        assert src["severity"] == severities[sev], src
        assert src["facility"] == "user", src
        assert token in src["message"] and '"quotes"' in src["message"], src
        assert src["@timestamp"], src
    # the template's fields got the usual dynamic mapping
    status, res, _ = osprey.es("GET", f"/{INDEX}/_mapping")
    assert status == 200, res
    props = res[INDEX]["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date", props["@timestamp"]
    status, res, _ = osprey.es("POST", f"/{INDEX}/_count", {"query": {"term": {"severity.keyword": "err"}}})
    assert status == 200 and res["count"] == sum(1 for s, _ in lines.values() if s == 3), res
