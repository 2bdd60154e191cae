"""The Kubernetes manifests in deploy/kubernetes, validated offline (strictly: unknown fields
are errors) against the Kubernetes 1.31 and 1.37 schemas, and checked against the listener
contract: every listener has its port on the Service, binds all interfaces, and the agent can
watch pods and read the node's logs."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from osprey_e2e import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
LISTENERS = {  # the listener contract (README, crates/osprey-server/src/listeners.rs)
    "HTTP": (7800, "TCP"), "ELASTIC": (9200, "TCP"), "OTLP_GRPC": (4317, "TCP"), "OTLP_HTTP": (4318, "TCP"),
    "JAEGER_QUERY": (16686, "TCP"), "JAEGER_GRPC": (14250, "TCP"), "JAEGER_HTTP": (14268, "TCP"),
    "JAEGER_COMPACT": (6831, "UDP"), "JAEGER_BINARY": (6832, "UDP"), "SAMPLING": (5778, "TCP"),
    "ZIPKIN": (9411, "TCP"), "FORWARD": (24224, "TCP"),
}


def documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def find(kind: str, name: str) -> dict:
    return next(doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name)


@pytest.mark.parametrize("version", ["1.31.0", "1.37.0"])
def test_every_manifest_is_valid_kubernetes(version):
    docs = documents()
    assert len(docs) >= 8
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")


def test_the_server_serves_the_whole_listener_table():
    service = find("Service", "osprey")
    ports = {(p["port"], p["protocol"]) for p in service["spec"]["ports"]}
    assert set(LISTENERS.values()) <= ports, set(LISTENERS.values()) - ports
    container = find("StatefulSet", "osprey")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for name, (port, _) in LISTENERS.items():
        assert env.get(f"OSPREY_{name}_ADDR") == f"0.0.0.0:{port}", name
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert find("StatefulSet", "osprey")["spec"]["volumeClaimTemplates"], "the server needs a volume"


def test_the_agent_reads_node_logs_and_may_watch_pods():
    daemonset = find("DaemonSet", "osprey-agent")
    spec = daemonset["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/var/log", "/var/lib/osprey-agent"} <= mounts
    assert {"operator": "Exists"} in spec["tolerations"]
    assert spec["containers"][0]["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["OSPREY_AGENT_SERVER"]["value"].endswith(":7800")
    assert env["OSPREY_AGENT_SPANS_TO"]["value"].endswith(":4318")
    host_ports = {(p["hostPort"], p["protocol"]) for p in spec["containers"][0]["ports"]}
    assert {(6831, "UDP"), (6832, "UDP")} <= host_ports
    role = find("ClusterRole", "osprey-agent")
    rule = role["rules"][0]
    assert {"pods", "namespaces"} <= set(rule["resources"]) and {"get", "list", "watch"} <= set(rule["verbs"])
    binding = find("ClusterRoleBinding", "osprey-agent")
    assert binding["subjects"][0]["name"] == spec["serviceAccountName"]


def test_the_image_definition_builds_the_binary_the_manifests_run():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "cargo build --release -p osprey" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/osprey"]' in dockerfile
    for _, doc in documents():
        template = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in template.get("containers", []):
            if container["image"].startswith("osprey:"):
                assert container["args"][0] in ("serve", "agent"), container["args"]
