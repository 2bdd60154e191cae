"""The node agent (`osprey agent`) against a simulated node: container log files in Docker
json-file and CRI formats (partial lines, stdout and stderr interleaved, JSON and plain text,
a line longer than the runtime's 16 KiB split), named as the kubelet names them; rotation by
rename and by copytruncate (with lines still unread: the agent finds them in the copy beside
the file); the agent stopped and killed with -9 while lines keep coming.
Every line arrives, with its pod, namespace and container; duplicates are counted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

from osprey_e2e import osprey_bin, wait_until


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


class Node:
    """Writes container log files the way Docker and containerd do."""

    def __init__(self, root: Path):
        self.dir = root / "containers"
        self.dir.mkdir(parents=True)
        self.docker = self.dir / f"web-6f7d9-x2x_shop_nginx-{'a' * 64}.log"
        self.cri = self.dir / f"worker-0_jobs_runner-{'b' * 64}.log"
        self.expected: list[tuple[str, str]] = []  # (container, message)
        self.seq = 0

    def docker_line(self, message: str, stream: str = "stdout"):
        # json-file splits lines longer than 16 KiB; only the last part ends in a newline.
        parts = [message[i:i + 16384] for i in range(0, len(message), 16384)] or [""]
        with open(self.docker, "a") as f:
            for i, part in enumerate(parts):
                end = "\n" if i == len(parts) - 1 else ""
                f.write(json.dumps({"log": part + end, "stream": stream, "time": rfc3339(time.time())}) + "\n")
        self.expected.append(("nginx", message))

    def cri_line(self, message: str, stream: str = "stdout", split: int | None = None):
        with open(self.cri, "a") as f:
            if split:
                f.write(f"{rfc3339(time.time())} {stream} P {message[:split]}\n")
                # the other stream writes in between
                other = "stderr" if stream == "stdout" else "stdout"
                between = f"interleaved {self.seq}"
                f.write(f"{rfc3339(time.time())} {other} F {between}\n")
                self.expected.append(("runner", between))
                f.write(f"{rfc3339(time.time())} {stream} F {message[split:]}\n")
            else:
                f.write(f"{rfc3339(time.time())} {stream} F {message}\n")
        self.expected.append(("runner", message))

    def docker_trace(self):
        """A Java exception, one json-file entry per line: one event."""
        lines = [f"Exception in thread \"main\" java.lang.IllegalStateException: order {self.seq}",
                 "\tat com.shop.Cart.add(Cart.java:42)", "\tat com.shop.Main.main(Main.java:7)",
                 "Caused by: java.io.IOException: disk full", "\t... 2 more"]
        with open(self.docker, "a") as f:
            for line in lines:
                f.write(json.dumps({"log": line + "\n", "stream": "stderr", "time": rfc3339(time.time())}) + "\n")
        self.expected.append(("nginx", "\n".join(lines)))

    def cri_trace(self):
        """A Python traceback in CRI lines: one event."""
        lines = ["Traceback (most recent call last):", '  File "job.py", line 9, in run',
                 "    step()", f"ValueError: step {self.seq} failed"]
        with open(self.cri, "a") as f:
            for line in lines:
                f.write(f"{rfc3339(time.time())} stderr F {line}\n")
        self.expected.append(("runner", "\n".join(lines)))

    def burst(self, n: int):
        for _ in range(n):
            self.seq += 1
            s = self.seq
            if s % 10 == 0:
                self.docker_line(json.dumps({"level": "error", "msg": f"json event {s}", "user": f"u{s % 7}"}), "stderr")
            else:
                self.docker_line(f"GET /item/{s} 200 plain line {s}")
            if s % 25 == 0:
                self.docker_trace()
                self.cri_trace()
            if s % 7 == 0:
                self.cri_line(f"partial line {s} " + "x" * 50, split=12)
            else:
                self.cri_line(f"cri line {s}", "stderr" if s % 3 == 0 else "stdout")


def start_agent(server, node: Node, data_dir: Path) -> subprocess.Popen:
    log = open(data_dir.parent / f"agent-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(
        [str(osprey_bin()), "agent", "--server", server.http_url, "--paths", f"{node.dir}/*.log",
         "--data-dir", str(data_dir)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def free_udp_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def stored(server) -> list[dict]:
    server.es("POST", "/logstash-*/_refresh")
    status, body, _ = server.es("POST", "/logstash-*/_search", {"query": {"match_all": {}}, "size": 10000})
    assert status == 200, body
    return [hit["_source"] for hit in body["hits"]["hits"]]


def wait_for_all(server, node: Node, what: str) -> Counter:
    want = Counter(node.expected)

    def complete():
        got = Counter((d.get("kubernetes", {}).get("container_name"), d["message"]) for d in stored(server))
        return all(got[k] >= v for k, v in want.items())

    wait_until(complete, timeout=60, interval=0.5, what=what)
    return Counter((d["kubernetes"]["container_name"], d["message"]) for d in stored(server))


def test_agent_delivers_every_line_with_its_metadata_through_rotation_and_restarts(osprey, tmp_path):
    node = Node(tmp_path / "node")
    node.burst(200)
    node.docker_line("L" * 40_000)  # three json-file entries
    data_dir = tmp_path / "agent"
    agent = start_agent(osprey, node, data_dir)
    try:
        got = wait_for_all(osprey, node, "the first 200 bursts")
        docs = stored(osprey)
        nginx = next(d for d in docs if d["message"] == "GET /item/1 200 plain line 1")
        assert nginx["kubernetes"] == {"pod_name": "web-6f7d9-x2x", "namespace_name": "shop",
                                       "container_name": "nginx", "docker_id": "a" * 64, "container_id": "a" * 64}
        assert nginx["stream"] == "stdout"
        event = next(d for d in docs if d["message"].startswith('{"level": "error", "msg": "json event 10"'))
        assert event["msg"] == "json event 10" and event["user"] == "u3" and event["level"] == "error"
        assert event["stream"] == "stderr"
        joined = next(d for d in docs if d["message"].startswith("partial line 7 "))
        assert joined["message"] == "partial line 7 " + "x" * 50
        assert joined["kubernetes"]["pod_name"] == "worker-0"
        assert any(d["message"] == "L" * 40_000 for d in docs), "the 40 KB line was not joined"
        trace = next(d for d in docs if d["message"].startswith("Exception in thread"))
        assert trace["message"].count("\n") == 4 and trace["stream"] == "stderr", trace["message"]
        traceback = next(d for d in docs if d["message"].startswith("Traceback"))
        assert traceback["message"].endswith("failed") and traceback["kubernetes"]["container_name"] == "runner"

        # Rotation: json-file by rename, the CRI file by copytruncate; lines keep coming.
        node.burst(50)
        os.rename(node.docker, node.docker.with_suffix(".log.1"))
        node.burst(50)
        # copytruncate while lines are still unread: the agent reads them from the copy.
        with open(node.cri, "r+") as f:
            (node.dir / "runner.copy").write_text(f.read())
            f.truncate(0)
        node.burst(50)
        wait_for_all(osprey, node, "lines across rotation")

        # A graceful stop, then kill -9 in the middle of the traffic.
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        node.burst(100)
        agent = start_agent(osprey, node, data_dir)
        time.sleep(0.3)
        node.burst(100)
        agent.kill()
        agent.wait()
        node.burst(100)
        agent = start_agent(osprey, node, data_dir)
        got = wait_for_all(osprey, node, "every line after a graceful stop and a kill -9")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    want = Counter(node.expected)
    lost = [k for k, v in want.items() if got[k] < v]
    assert not lost, f"{len(lost)} lines lost, e.g. {lost[:3]}"
    unknown = [k for k in got if k not in want]
    assert not unknown, f"lines nobody wrote: {unknown[:3]}"
    duplicates = sum(got.values()) - sum(want.values())
    print(f"\n[e2e] agent: {sum(want.values())} lines delivered, {duplicates} duplicates "
          f"({100 * duplicates / sum(want.values()):.2f} %) after a kill -9")


def test_pod_metadata_from_the_api_server_and_lines_that_do_not_wait_for_it(osprey, tmp_path):
    from kube_stub import KubeStub, namespace, pod

    stub = KubeStub()
    stub.put(namespace("shop", labels={"team": "payments", "env.tier": "prod"}))
    stub.put(pod("web-6f7d9-x2x", "shop", "node-1", "nginx", "nginx:1.27",
                 labels={"app": "web", "app.kubernetes.io/name": "shop-web"}, annotations={"team": "payments"}))
    stub.put(pod("noisy-1", "shop", "node-1", "spam", "spam:1", annotations={"osprey.io/exclude": "true"}))
    stub.put(pod("elsewhere", "shop", "node-2", "nginx", "nginx:1.27", labels={"app": "other"}))
    # Parsers chosen by annotation: logfmt for a Go service, plain (no JSON spreading) for one
    # container of another pod.
    stub.put(pod("go-api-1", "shop", "node-1", "api", "api:3", annotations={"osprey.io/parser": "logfmt"}))
    stub.put(pod("raw-1", "shop", "node-1", "app", "app:1", annotations={"osprey.io/parser-app": "plain"}))
    logs = tmp_path / "containers"
    logs.mkdir()

    def write(pod_name: str, container: str, text: str):
        path = logs / f"{pod_name}_shop_{container}-{'d' * 64}.log"
        with open(path, "a") as f:
            f.write(f"{rfc3339(time.time())} stdout F {text}\n")

    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--server", osprey.http_url, "--paths", f"{logs}/*.log",
         "--data-dir", str(tmp_path / "agent"), "--kube-api", stub.url, "--node-name", "node-1"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: stub.watches > 0, timeout=20, what="the agent's watch of the node's pods")
        write("noisy-1", "spam", "must not arrive")
        write("web-6f7d9-x2x", "nginx", "GET / 200 with metadata")
        doc = wait_until(lambda: next((d for d in stored(osprey) if d["message"] == "GET / 200 with metadata"), None),
                         timeout=20, what="the web pod's line")
        k8s = doc["kubernetes"]
        assert k8s["labels"] == {"app": "web", "app_kubernetes_io/name": "shop-web"}, k8s
        assert k8s["annotations"] == {"team": "payments"}
        assert k8s["pod_id"] == "uid-shop-web-6f7d9-x2x" and k8s["host"] == "node-1"
        assert k8s["container_image"] == "nginx:1.27" and k8s["container_image_id"].endswith("c" * 64)
        assert k8s["namespace_id"] == "uid-ns-shop"
        assert k8s["namespace_labels"] == {"team": "payments", "env_tier": "prod"}
        status, body, _ = osprey.es("GET", "/logstash-*/_search?q=kubernetes.labels.app:web&size=0")
        assert status == 200 and body["hits"]["total"]["value"] >= 1, body
        assert not any(d["message"] == "must not arrive" for d in stored(osprey)), "an excluded pod's line arrived"

        write("go-api-1", "api", 'level=warn msg="slow \\"query\\"" took=12ms cached')
        write("raw-1", "app", '{"user": "ann", "msg": "kept whole"}')
        write("web-6f7d9-x2x", "nginx", '{"user": "bob", "msg": "spread"}')
        def parsed():
            docs = {d["kubernetes"]["pod_name"]: d for d in stored(osprey)
                    if d["message"].startswith(("level=warn", '{"user"'))}
            return docs if len(docs) == 3 else None
        docs = wait_until(parsed, timeout=20, what="lines of the annotated pods")
        go = docs["go-api-1"]
        assert (go["level"], go["msg"], go["took"], go["cached"]) == ("warn", 'slow "query"', "12ms", "true"), go
        assert "user" not in docs["raw-1"] and docs["raw-1"]["message"] == '{"user": "ann", "msg": "kept whole"}'
        assert docs["web-6f7d9-x2x"]["user"] == "bob"

        # A pod scheduled later arrives through the watch.
        stub.put(pod("late-1", "shop", "node-1", "app", "app:2", labels={"app": "late"}))

        def late_labelled():
            write("late-1", "app", "late line")
            return any(d["message"] == "late line" and d["kubernetes"].get("labels") == {"app": "late"}
                       for d in stored(osprey))
        wait_until(late_labelled, timeout=20, interval=0.5, what="a late pod's metadata from the watch")

        # The API server goes away: lines still flow, with what the file name tells.
        stub.close()
        write("gone-1", "app", "line without the API server")
        doc = wait_until(lambda: next((d for d in stored(osprey) if d["message"] == "line without the API server"), None),
                         timeout=20, what="a line while the API server is away")
        # (the namespace, known from before, is still in the cache)
        assert doc["kubernetes"] == {"pod_name": "gone-1", "namespace_name": "shop", "container_name": "app",
                                     "docker_id": "d" * 64, "container_id": "d" * 64,
                                     "namespace_id": "uid-ns-shop",
                                     "namespace_labels": {"team": "payments", "env_tier": "prod"}}
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def test_the_agent_forwards_jaeger_otlp_and_zipkin_spans_with_the_node_name(osprey_factory, tmp_path):
    import socket as sockets

    from test_tracing_clients import assert_trace_matches, fetch_trace, run_client

    from osprey_e2e import free_port, request

    def agent_listens(port):
        try:
            sockets.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    server = osprey_factory(tracing=True)
    otlp_port, zipkin_port = free_port(), free_port()
    udp_port = free_udp_port()
    (tmp_path / "logs").mkdir()
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--server", server.http_url, "--paths", f"{tmp_path}/logs/*.log",
         "--data-dir", str(tmp_path / "agent"), "--kubernetes", "false", "--node-name", "node-7",
         "--spans-to", server.url("OTLP_HTTP"), "--jaeger-compact-addr", f"127.0.0.1:{udp_port}",
         "--jaeger-binary-addr", "off", "--otlp-http-addr", f"127.0.0.1:{otlp_port}",
         "--zipkin-addr", f"127.0.0.1:{zipkin_port}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: agent_listens(otlp_port) and agent_listens(zipkin_port), timeout=10,
                   what="the agent's span receivers")
        # A Jaeger client on UDP, an OpenTelemetry SDK over OTLP/HTTP and a Zipkin tracer, all
        # sending to the agent as they would to a local collector.
        for client, args in [("jaeger-udp", (udp_port,)), ("otel", ("http", f"http://127.0.0.1:{otlp_port}")),
                             ("zipkin", ("json", zipkin_port))]:
            service = f"via-agent-{client}"
            sent = run_client(client, *args, service)
            trace = fetch_trace(server, sent["trace_id"], len(sent["spans"]))
            assert_trace_matches(trace, sent, exact_tags=False)
            for process in trace["processes"].values():
                tags = {t["key"]: t["value"] for t in process["tags"]}
                assert tags.get("k8s.node.name") == "node-7", (client, process)
                assert process["serviceName"] == service
        # Not a span export: a clear 400, and the agent goes on.
        status, _, body = request("POST", f"http://127.0.0.1:{otlp_port}/v1/traces", b"\xff\x00garbage",
                                  headers={"Content-Type": "application/x-protobuf"})
        assert status == 400 and b"OTLP" in body, body
        status, _, body = request("POST", f"http://127.0.0.1:{zipkin_port}/api/v2/spans", b"[{",
                                  headers={"Content-Type": "application/json"})
        assert status == 400 and b"Zipkin" in body, body
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def test_spans_get_the_sending_pods_metadata_from_its_address(osprey_factory, tmp_path):
    """As the OpenTelemetry Collector's k8sattributes processor does: the pod whose IP a span
    came from names itself on the span's process. Here the clients send from 127.0.0.1, so the
    stub API server gives that address to a running pod (and to a finished one and a pod on the
    node's network, which must not be chosen)."""
    from kube_stub import KubeStub, pod
    from test_tracing_clients import fetch_trace, run_client

    from osprey_e2e import free_port

    stub = KubeStub()
    stub.put(pod("cart-old", "shop", "node-7", "cart", "cart:1", ip="127.0.0.1", phase="Succeeded"))
    stub.put(pod("cart-5d8f", "shop", "node-7", "cart", "cart:2", ip="127.0.0.1", uid="uid-cart"))
    stub.put(pod("node-exporter", "monitoring", "node-7", "exporter", "exporter:1", ip="127.0.0.1",
                 host_network=True))
    server = osprey_factory(tracing=True)
    otlp_port = free_port()
    udp_port = free_udp_port()
    (tmp_path / "logs").mkdir()
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--server", server.http_url, "--paths", f"{tmp_path}/logs/*.log",
         "--data-dir", str(tmp_path / "agent"), "--kube-api", stub.url, "--node-name", "node-7",
         "--spans-to", server.url("OTLP_HTTP"), "--jaeger-compact-addr", f"127.0.0.1:{udp_port}",
         "--jaeger-binary-addr", "off", "--otlp-http-addr", f"127.0.0.1:{otlp_port}", "--zipkin-addr", "off"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: stub.watches > 0, timeout=20, what="the agent's watch of the node's pods")
        for client, args in [("jaeger-udp", (udp_port,)), ("otel", ("http", f"http://127.0.0.1:{otlp_port}"))]:
            sent = run_client(client, *args, f"pod-tagged-{client}")
            trace = fetch_trace(server, sent["trace_id"], len(sent["spans"]))
            for process in trace["processes"].values():
                tags = {t["key"]: t["value"] for t in process["tags"]}
                assert (tags.get("k8s.pod.name"), tags.get("k8s.namespace.name"), tags.get("k8s.pod.uid"),
                        tags.get("k8s.node.name")) == ("cart-5d8f", "shop", "uid-cart", "node-7"), (client, tags)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        stub.close()


def test_jaeger_clients_get_their_sampling_strategy_from_the_agent(osprey_factory, tmp_path):
    """The real jaeger-client's remote sampler polls the agent's sampling port, as it polls the
    Jaeger agent; the agent asks the server's SAMPLING listener, and keeps answering with the
    last strategy while the server is away."""
    import urllib.parse

    from test_sampling import jaeger_remote_sampler

    from osprey_e2e import free_port, request

    config = tmp_path / "osprey.toml"
    config.write_text('[sampling]\ndefault_probability = 1.0\n')
    server = osprey_factory(start=False, tracing=True, extra_env={"OSPREY_CONFIG": str(config)})
    server.start()
    sampling_port = free_port()
    (tmp_path / "logs").mkdir()
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [str(osprey_bin()), "agent", "--server", server.http_url, "--paths", f"{tmp_path}/logs/*.log",
         "--data-dir", str(tmp_path / "agent"), "--kubernetes", "false",
         "--sampling-from", server.url("SAMPLING"), "--sampling-addr", f"127.0.0.1:{sampling_port}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    agent_url = f"http://127.0.0.1:{sampling_port}"
    try:
        def through_agent(path):
            try:
                status, _, body = request("GET", agent_url + path, timeout=5)
            except OSError:
                return None
            return status, body

        wait_until(lambda: through_agent("/sampling?service=x"), timeout=10, what="the agent's sampling port")
        query = urllib.parse.urlencode({"service": "checkout"})
        status, body = through_agent(f"/sampling?{query}")
        _, _, direct = request("GET", f"{server.url('SAMPLING')}/sampling?{query}")
        assert status == 200 and json.loads(body) == json.loads(direct), body
        assert json.loads(body)["probabilisticSampling"]["samplingRate"] == 1.0
        assert json.loads(through_agent(f"/?{query}")[1]) == json.loads(direct)  # older clients' path

        # The strategy the agent passed on (rate 1.0), not the client's initial 0.001.
        assert jaeger_remote_sampler(free_port(), sampling_port, "checkout", "pay") == \
            (True, "ProbabilisticSampler", 1.0)

        # The server away: the agent still answers with the last strategy; a service it never
        # asked about gets a clear 502.
        server.stop()
        status, body = through_agent(f"/sampling?{query}")
        assert status == 200 and json.loads(body)["probabilisticSampling"]["samplingRate"] == 1.0
        status, body = through_agent("/sampling?service=never-asked")
        assert status == 502 and b"cannot ask" in body, body
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def test_the_agent_reads_a_configuration_file_that_flags_override(osprey, tmp_path):
    logs = tmp_path / "containers"
    logs.mkdir()
    (logs / f"web-1_shop_nginx-{'e' * 64}.log").write_text(
        f"{rfc3339(time.time())} stdout F configured by a file\n")
    config = tmp_path / "agent.toml"
    config.write_text(f'server = "{osprey.http_url}"\npaths = ["{logs}/*.log"]\n'
                      f'data_dir = "{tmp_path / "agent"}"\nindex = "fromfile-%Y"\nkubernetes = false\n')
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen([str(osprey_bin()), "agent", "--config", str(config)],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        def arrived(index):
            osprey.es("POST", f"/{index}/_refresh")
            status, body, _ = osprey.es("POST", f"/{index}/_search", {"query": {"match_phrase": {"message": "configured by a file"}}})
            return status == 200 and body["hits"]["total"]["value"] == 1
        wait_until(lambda: arrived("fromfile-*"), timeout=20, what="a line shipped as the file says")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
    # A flag wins over the file (a fresh data dir, so the line is read again).
    agent = subprocess.Popen([str(osprey_bin()), "agent", "--config", str(config), "--index", "fromflag-%Y",
                              "--data-dir", str(tmp_path / "agent2")],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: arrived("fromflag-*"), timeout=20, what="the flag's index")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    # A key the agent does not know: it says which, and does not start.
    config.write_text(config.read_text() + "max_line_byte = 10\n")
    result = subprocess.run([str(osprey_bin()), "agent", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "max_line_byte" in result.stderr and "agent.toml" in result.stderr, result.stderr


def test_lines_wait_in_the_disk_buffer_through_an_outage_a_restart_and_a_deleted_file(osprey, tmp_path):
    """While the server is away the agent reads on into its on-disk buffer. It is then killed,
    and the file it read is rotated and compressed away (the kubelet gzips all but the newest
    rotated file) before it comes back: the lines exist only in the buffer, and must all
    arrive, once, when the server returns."""
    import gzip
    import shutil

    logs = tmp_path / "pods" / "shop_web-1_0000" / "nginx"
    logs.mkdir(parents=True)
    current = logs / "0.log"
    data_dir = tmp_path / "agent"
    buffer_dir = data_dir / "buffer"

    def write(first: int, count: int):
        with open(current, "a") as f:
            for i in range(first, first + count):
                f.write(f"{rfc3339(time.time())} stdout F buffered line {i:06d} " + "x" * 80 + "\n")

    def agent():
        log = open(tmp_path / f"agent-{time.monotonic_ns()}.log", "wb")
        return subprocess.Popen(
            [str(osprey_bin()), "agent", "--server", osprey.http_url, "--paths", f"{tmp_path}/pods/*/*/*.log",
             "--data-dir", str(data_dir), "--kubernetes", "false"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def arrived() -> Counter:
        # More lines than one search returns: one search per ten thousand.
        osprey.es("POST", "/logstash-*/_refresh")
        counts = Counter()
        for prefix in ("buffered line 00", "buffered line 01", "buffered line 02"):
            status, body, _ = osprey.es("POST", "/logstash-*/_search", {
                "query": {"prefix": {"message.keyword": prefix}}, "size": 10000, "_source": ["message"]})
            assert status == 200, body
            counts.update(hit["_source"]["message"] for hit in body["hits"]["hits"])
        return counts

    osprey.keep_ports = True
    running = agent()
    try:
        write(0, 100)
        wait_until(lambda: len(arrived()) == 100, timeout=30, what="the first lines")
        osprey.stop()
        write(100, 20_000)
        wait_until(lambda: buffer_dir.is_dir() and len(list(buffer_dir.glob("*.batch"))) >= 3, timeout=30,
                   what="batches in the on-disk buffer while the server is away")
        # Everything read into the buffer (it stops growing) before the agent dies.
        sizes = []

        def settled():
            sizes.append(sum(p.stat().st_size for p in buffer_dir.glob("*.batch")))
            return len(sizes) >= 4 and sizes[-1] == sizes[-4]
        wait_until(settled, timeout=60, interval=0.5, what="the file read into the buffer")
        time.sleep(1)
        running.kill()
        running.wait()
        # The kubelet rotates the file and compresses the rotated one: its plain text is gone.
        rotated = logs / "0.log.20261126-101010"
        current.rename(rotated)
        with open(rotated, "rb") as src, gzip.open(f"{rotated}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        rotated.unlink()
        write(20_100, 100)
        running = agent()
        time.sleep(2)  # the agent finds the server away, and buffers the new lines too
        osprey.start()
        want = {f"buffered line {i:06d} " + "x" * 80 for i in range(20_200)}
        try:
            wait_until(lambda: set(arrived()) >= want, timeout=60, interval=1, what="every line after the outage")
        finally:
            counts = arrived()
            missing = sorted(want - set(counts))
            if missing:
                print(f"[e2e] {len(missing)} lines missing, e.g. {missing[:3]} … {missing[-3:]}")
        assert set(counts) == want
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates == 0, f"{duplicates} lines arrived twice"
        wait_until(lambda: not list(buffer_dir.glob("*.batch")), timeout=30, what="the buffer emptied")
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait(timeout=30)
