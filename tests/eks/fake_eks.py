"""A minimal EKS REST endpoint on 127.0.0.1 (real HTTP, so botocore's retries and parsing are exercised)."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import eks_shapes as S

from auditor.collect.eks import sanitise


class FakeEks(BaseHTTPRequestHandler):
    """describe_cluster for S.CLUSTER (throttled `throttle` times first); every list call answers empty."""

    throttle = 0
    version = "1.30"
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        self.hits.append(path)
        if path == f"/clusters/{S.CLUSTER}":
            if self.hits.count(path) <= self.throttle:
                return self._send(429, {"message": "Rate exceeded"}, "ThrottlingException")
            body: dict[str, Any] = {"cluster": sanitise(S.cluster(self.version))}
        elif path.startswith("/clusters/") and path.count("/") == 2:
            return self._send(404, {"message": f"No cluster found for name: {path[10:]}."},
                              "ResourceNotFoundException")
        elif path.endswith("/node-groups"):
            body = {"nodegroups": []}
        elif path.endswith("/addons"):
            body = {"addons": []}
        elif path.endswith("/insights"):
            body = {"insights": []}
        elif path.endswith("/updates"):
            body = {"updateIds": []}
        else:
            return self._send(404, {"message": "not found"}, "ResourceNotFoundException")
        self._send(200, body)

    do_POST = do_GET  # list_insights is a POST

    def _send(self, status: int, body: dict[str, Any], error: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(throttle: int = 0, version: str = "1.30") -> Iterator[tuple[str, type[FakeEks]]]:
    """Yields the endpoint URL and the handler class (whose `hits` lists the paths asked for)."""
    handler = type("Handler", (FakeEks,), {"hits": [], "throttle": throttle, "version": version})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
