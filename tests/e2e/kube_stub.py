"""A stub Kubernetes API server that speaks the real list + watch protocol for pods and
namespaces (`GET /api/v1/pods` with `fieldSelector`, `GET /api/v1/namespaces`, then
`?watch=1&resourceVersion=N` streaming chunked JSON events), so that the agent's `kube`
watchers run unchanged against it."""

from __future__ import annotations

import json
import queue
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def pod(name: str, namespace: str, node: str, container: str, image: str, labels=None, annotations=None, uid=None,
        ip=None, host_network=False, phase="Running"):
    status = {"phase": phase}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}",
                     "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"nodeName": node, "hostNetwork": host_network,
                 "containers": [{"name": container, "image": image}]},
        "status": {**status, "containerStatuses": [{"name": container, "image": image,
                                          "imageID": f"docker-pullable://{image.split(':')[0]}@sha256:{'c' * 64}",
                                          "ready": True, "restartCount": 0}]},
    }


def namespace(name: str, labels=None, uid=None):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": uid or f"uid-ns-{name}", "labels": labels or {}}}


RESOURCES = {"/api/v1/pods": "Pod", "/api/v1/namespaces": "Namespace"}


class KubeStub:
    def __init__(self):
        self.lock = threading.Lock()
        self.version = 1
        self.objects: dict[str, dict[tuple, dict]] = {"Pod": {}, "Namespace": {}}
        self.history: list[tuple[int, str, dict]] = []
        self.watchers: list[tuple[str, queue.Queue]] = []
        self.lists = 0
        self.watches = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                resource = RESOURCES.get(url.path)
                if resource is None:
                    body = json.dumps({"kind": "Status", "status": "Failure", "code": 404}).encode()
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                node = None
                selector = params.get("fieldSelector", "")
                if selector.startswith("spec.nodeName="):
                    node = selector.split("=", 1)[1]
                if params.get("watch") in ("1", "true"):
                    stub.serve_watch(self, resource, node, int(params.get("resourceVersion") or 0),
                                     float(params.get("timeoutSeconds") or 30))
                else:
                    stub.serve_list(self, resource, node)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, p: dict, kind: str = "ADDED"):
        with self.lock:
            self.version += 1
            p = json.loads(json.dumps(p))
            p["metadata"]["resourceVersion"] = str(self.version)
            key = (p["metadata"].get("namespace"), p["metadata"]["name"])
            objects = self.objects[p["kind"]]
            if kind == "DELETED":
                objects.pop(key, None)
            else:
                objects[key] = p
            self.history.append((self.version, kind, p))
            for resource, q in self.watchers:
                if resource == p["kind"]:
                    q.put((self.version, kind, p))

    def serve_list(self, handler, resource, node):
        with self.lock:
            self.lists += 1
            items = [p for p in self.objects[resource].values() if node is None or p["spec"]["nodeName"] == node]
            body = json.dumps({"kind": f"{resource}List", "apiVersion": "v1",
                               "metadata": {"resourceVersion": str(self.version)}, "items": items}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def serve_watch(self, handler, resource, node, since: int, timeout: float):
        q: queue.Queue = queue.Queue()
        with self.lock:
            if resource == "Pod":
                self.watches += 1
            for event in self.history:
                if event[0] > since and event[2]["kind"] == resource:
                    q.put(event)
            self.watchers.append((resource, q))
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()
        try:
            remaining = timeout
            while remaining > 0:
                try:
                    _, kind, p = q.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    remaining -= 1.0
                    continue
                if node is not None and p["spec"]["nodeName"] != node:
                    continue
                line = (json.dumps({"type": kind, "object": p}) + "\n").encode()
                handler.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            with self.lock:
                self.watchers.remove((resource, q))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
