"""Fixtures of the Osprey end-to-end suite.

* `osprey_factory(...)` starts servers on fresh (or given) data dirs and stops them all
  at teardown (SIGTERM, SIGKILL after 15 s).
* `osprey` is one server with a fresh temp data dir, per test.
* `osprey_module` is one server shared by a whole test module (expensive data sets).

Every fixture yields an `OspreyServer` (see osprey_e2e.py): `.es_url` is the base URL of
the Elasticsearch API, `.http_url` the base URL of /health and /metrics. A module that sets `OSPREY_TRACING = True`
gets its `osprey_module` with every tracing listener on fresh ports (`.url(NAME)`, `.ports`).
When a test fails, the stderr of every server that was running during it is attached to
the report ("osprey stderr" section).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import osprey_e2e
from osprey_e2e import OspreyServer


def pytest_configure(config):
    config.addinivalue_line("markers", "fault: fault-injection test (kill -9, disk full); runs by default")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        servers = list(osprey_e2e.LIVE_SERVERS) + list(getattr(item, "_osprey_servers", []))
        seen = set()
        for srv in servers:
            if id(srv) in seen:
                continue
            seen.add(id(srv))
            rep.sections.append((f"osprey stderr ({srv.data_dir})", srv.stderr_tail()))


def _make_factory(request, tmp_root: Path):
    servers: list[OspreyServer] = []

    def factory(
        data_dir: Path | None = None,
        start: bool = True,
        extra_env: dict | None = None,
        tracing: bool = False,
    ) -> OspreyServer:
        n = len(servers)
        if data_dir is None:
            data_dir = tmp_root / f"data{n}"
        srv = OspreyServer(data_dir=data_dir, log_dir=tmp_root / f"log{n}", extra_env=extra_env, tracing=tracing)
        servers.append(srv)
        # make the stderr of servers started here visible to the failure hook even after they stopped
        node = request.node
        node._osprey_servers = getattr(node, "_osprey_servers", []) + [srv]
        if start:
            srv.start()
        return srv

    def finish():
        for srv in servers:
            code = srv.stop()
            if code not in (None, 0, -9):
                print(f"\n[e2e] osprey on {srv.data_dir} exited with code {code} after SIGTERM")

    return factory, servers, finish


@pytest.fixture
def osprey_factory(request):
    tmp_root = Path(tempfile.mkdtemp(prefix="osprey-e2e-"))
    factory, servers, finish = _make_factory(request, tmp_root)
    try:
        yield factory
    finally:
        finish()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(f"\n[e2e] keeping {tmp_root} for inspection")
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)


@pytest.fixture
def osprey(osprey_factory) -> OspreyServer:
    return osprey_factory()


@pytest.fixture(scope="module")
def osprey_module(request):
    tmp_root = Path(tempfile.mkdtemp(prefix="osprey-e2e-mod-"))
    factory, servers, finish = _make_factory(request, tmp_root)
    srv = factory(tracing=getattr(request.module, "OSPREY_TRACING", False))
    try:
        yield srv
    finally:
        finish()
        if request.session.testsfailed:
            print(f"\n[e2e] keeping {tmp_root} for inspection")
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)
