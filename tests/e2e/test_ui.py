"""The web UI, as a user drives it in headless Chromium (Debian's `chromium`, driven by
`playwright-core`): node/ui.test.mjs, run against a server holding the data of ui_data.py
(logs in two data views, and a real OpenTelemetry trace across three services whose log
lines carry its ids). Set SCREENSHOTS_DIR to keep the screenshots it takes (docs/screenshots
is made that way: see docs/ui.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from osprey_e2e import request
from ui_data import seed

OSPREY_TRACING = True
NODE_DIR = Path(__file__).with_name("node")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def seeded(osprey_module):
    return seed(osprey_module.http_url, osprey_module.url("OTLP_HTTP"))


def test_assets_are_served_with_validators(osprey_module):
    status, headers, body = request("GET", osprey_module.http_url + "/", headers={"accept": "text/html"})
    assert status == 200 and b'<script type="module" src="/ui/js/app.js">' in body
    assert headers["content-type"].startswith("text/html")
    status, headers, _ = request("GET", osprey_module.http_url + "/ui/js/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    etag = headers["etag"]
    status, _, body = request("GET", osprey_module.http_url + "/ui/js/app.js", headers={"if-none-match": etag})
    assert status == 304 and body == b""
    status, _, body = request("GET", osprey_module.http_url + "/ui/nope.js")
    assert status == 404
    # Scripts and tools that asked for `/` before the UI still get the endpoint list.
    status, _, body = request("GET", osprey_module.http_url + "/")
    assert status == 200 and json.loads(body)["endpoints"]["ui"] == "/"


def test_ui_in_headless_chromium(osprey_module, seeded):
    # Not a skip: ./test.sh installs both, and a browser suite that quietly does not run is
    # worse than one that fails.
    assert shutil.which("node"), "node is missing (./test.sh installs it)"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (./test.sh installs Debian's chromium)"
    assert (NODE_DIR / "node_modules" / "playwright-core").is_dir(), "playwright-core is missing (./test.sh runs npm ci)"
    env = {
        **os.environ,
        "OSPREY_URL": osprey_module.http_url,
        "OTLP_URL": osprey_module.url("OTLP_HTTP"),
        "SEED": json.dumps(seeded),
        "CHROMIUM": CHROMIUM,
    }
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "ui.test.mjs"],
        cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=540,
    )
    print(result.stdout[-20000:])
    assert result.returncode == 0, f"browser tests failed:\n{result.stdout[-15000:]}\n{result.stderr[-5000:]}"
