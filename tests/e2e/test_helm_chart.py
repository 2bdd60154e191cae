"""The Helm chart in deploy/helm/osprey, rendered by tests/helm/render.go — Helm's template
engine (Go's text/template), its function library (sprig) and its own functions, since no
helm binary can be installed here — and validated offline (strictly) against the Kubernetes
schemas. With default values it must say what the plain manifests in deploy/kubernetes say;
overrides must do what values.yaml promises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from osprey_e2e import REPO_ROOT
from test_manifests import LISTENERS, documents

CHART = REPO_ROOT / "deploy" / "helm" / "osprey"
GOCODE = Path("/usr/share/gocode/src")  # Debian's Go libraries (golang-*-dev)


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """Builds the renderer; returns render(release, namespace, overrides) -> (docs, notes)."""
    assert shutil.which("go"), "golang-go is needed (test.sh installs it)"
    root = tmp_path_factory.mktemp("helm")
    # A GOPATH over Debian's Go libraries that also answers their /v3 module paths.
    src = root / "gopath" / "src"
    (src / "github.com" / "Masterminds").mkdir(parents=True)
    for entry in GOCODE.iterdir():
        if entry.name != "github.com":
            (src / entry.name).symlink_to(entry)
    for entry in (GOCODE / "github.com").iterdir():
        if entry.name != "Masterminds":
            (src / "github.com" / entry.name).symlink_to(entry)
    for entry in (GOCODE / "github.com" / "Masterminds").iterdir():
        if entry.name in ("sprig", "semver"):  # imported as .../sprig/v3, .../semver/v3
            (src / "github.com" / "Masterminds" / entry.name).mkdir()
            (src / "github.com" / "Masterminds" / entry.name / "v3").symlink_to(entry)
        else:
            (src / "github.com" / "Masterminds" / entry.name).symlink_to(entry)
    binary = root / "render"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(root / "gopath"), "GOCACHE": str(root / "cache")}
    subprocess.run(["go", "build", "-o", str(binary), str(REPO_ROOT / "tests" / "helm" / "render.go")],
                   env=env, check=True, capture_output=True)

    def run(release="osprey", namespace="osprey", overrides=None, expect_error=False):
        args = [str(binary), str(CHART), release, namespace] + ([json.dumps(overrides)] if overrides else [])
        done = subprocess.run(args, capture_output=True, text=True)
        if expect_error:
            assert done.returncode != 0, done.stdout
            return done.stderr
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d], done.stderr
    return run


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs if d["kind"] == kind])
    return found[0]


@pytest.mark.parametrize("overrides", [None, {"agent": {"enabled": False}}, {"server": {"enabled": False}},
                                       {"agent": {"spans": {"enabled": False}}, "server": {"listeners": {"FORWARD": "off"}}}])
@pytest.mark.parametrize("version", ["1.31.0", "1.37.0"])
def test_every_rendering_is_valid_kubernetes(render, version, overrides):
    docs, _ = render(overrides=overrides)
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def test_default_values_render_what_the_plain_manifests_say(render):
    docs, notes = render()
    plain = [doc for _, doc in documents()]

    def plain_find(kind, name):
        return next(d for d in plain if d["kind"] == kind and d["metadata"]["name"] == name)
    for kind, name in [("StatefulSet", "osprey"), ("DaemonSet", "osprey-agent")]:
        mine, theirs = container(find(docs, kind, name)), container(plain_find(kind, name))
        # Same settings, ports, probes, limits, privileges and mounts (the image tag is the chart's).
        assert {e["name"]: e.get("value", e.get("valueFrom")) for e in mine["env"]} == \
               {e["name"]: e.get("value", e.get("valueFrom")) for e in theirs["env"]}, kind
        for field in ("args", "readinessProbe", "livenessProbe", "resources", "securityContext"):
            assert mine.get(field) == theirs.get(field), (kind, field)
        key = lambda items: sorted(items, key=json.dumps)  # noqa: E731
        assert key(mine.get("ports", [])) == key(theirs.get("ports", [])), kind
        assert key(mine["volumeMounts"]) == key(theirs["volumeMounts"]), kind
        assert mine["image"] == "osprey:0.1.0"
        pod, plain_pod = find(docs, kind, name)["spec"]["template"]["spec"], plain_find(kind, name)["spec"]["template"]["spec"]
        for field in ("tolerations", "volumes", "securityContext", "priorityClassName", "terminationGracePeriodSeconds"):
            assert pod.get(field) == plain_pod.get(field), (kind, field)
    assert sorted(find(docs, "Service", "osprey")["spec"]["ports"], key=json.dumps) == \
           sorted(plain_find("Service", "osprey")["spec"]["ports"], key=json.dumps)
    assert find(docs, "ClusterRole", "osprey-agent")["rules"] == plain_find("ClusterRole", "osprey-agent")["rules"]
    binding = find(docs, "ClusterRoleBinding", "osprey-agent")
    assert binding["subjects"][0] == {"kind": "ServiceAccount", "name": "osprey-agent", "namespace": "osprey"}
    assert find(docs, "StatefulSet", "osprey")["spec"]["volumeClaimTemplates"][0]["spec"] == \
           plain_find("StatefulSet", "osprey")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert "port-forward svc/osprey 7800" in notes
    # Every listener of the contract, by its name and port.
    ports = {(p["port"], p["protocol"]) for p in find(docs, "Service", "osprey")["spec"]["ports"]}
    assert set(LISTENERS.values()) == ports


def test_values_change_what_they_say(render):
    docs, _ = render("logs", "observability", {
        "image": {"repository": "registry.local/osprey", "tag": "9.9"},
        "server": {"listeners": {"FORWARD": "off"}, "persistence": {"size": "5Gi", "storageClassName": "fast"},
                   "extraEnv": [{"name": "OSPREY_RETENTION_DAYS", "value": "3"}]},
        "agent": {"protocol": "otlp", "bufferMaxMib": 64, "spans": {"hostPorts": False},
                  "paths": ["/var/log/pods/*/*/*.log", "/var/log/containers/*.log"]},
    })
    server = find(docs, "StatefulSet", "logs-osprey")
    env = {e["name"]: e.get("value") for e in container(server)["env"]}
    assert env["OSPREY_FORWARD_ADDR"] == "off" and env["OSPREY_RETENTION_DAYS"] == "3"
    assert 24224 not in {p["port"] for p in find(docs, "Service", "logs-osprey")["spec"]["ports"]}
    assert container(server)["image"] == "registry.local/osprey:9.9"
    claim = server["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast" and claim["resources"]["requests"]["storage"] == "5Gi"
    agent = find(docs, "DaemonSet", "logs-osprey-agent")
    env = {e["name"]: e.get("value") for e in container(agent)["env"]}
    assert env["OSPREY_AGENT_SERVER"] == "http://logs-osprey.observability.svc:7800"
    assert env["OSPREY_AGENT_SPANS_TO"] == "http://logs-osprey.observability.svc:4318"
    assert env["OSPREY_AGENT_PROTOCOL"] == "otlp" and env["OSPREY_AGENT_BUFFER_MAX_MIB"] == "64"
    assert env["OSPREY_AGENT_PATHS"] == "/var/log/pods/*/*/*.log,/var/log/containers/*.log"
    assert all("hostPort" not in p for p in container(agent)["ports"])
    assert find(docs, "ClusterRoleBinding", "logs-osprey-agent")["subjects"][0]["namespace"] == "observability"

    docs, _ = render(overrides={"agent": {"enabled": False}})
    assert not [d for d in docs if d["kind"] in ("DaemonSet", "ClusterRole", "ServiceAccount")]
    docs, _ = render(overrides={"server": {"enabled": False}, "agent": {"server": "http://es.example:9200"}})
    assert not [d for d in docs if d["kind"] in ("StatefulSet", "Service")]
    env = {e["name"]: e.get("value") for e in container(find(docs, "DaemonSet"))["env"]}
    assert env["OSPREY_AGENT_SERVER"] == "http://es.example:9200"


def test_a_listener_the_agent_needs_cannot_be_turned_off_silently(render):
    error = render(overrides={"server": {"listeners": {"SAMPLING": "off"}}}, expect_error=True)
    assert "server.listeners.SAMPLING is off, but the agent needs it" in error
