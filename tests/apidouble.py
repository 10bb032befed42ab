"""A Kubernetes API double on 127.0.0.1: discovery, /version, paged lists, SSAR and injectable faults."""
from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

ENDPOINTS_WARNING = "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
# kind -> (group/version, plural, namespaced)
RESOURCES = {
    "Namespace": ("v1", "namespaces", False), "Node": ("v1", "nodes", False), "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True), "Endpoints": ("v1", "endpoints", True),
    "EndpointSlice": ("discovery.k8s.io/v1", "endpointslices", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "Deployment": ("apps/v1", "deployments", True), "StatefulSet": ("apps/v1", "statefulsets", True),
    "DaemonSet": ("apps/v1", "daemonsets", True), "ReplicaSet": ("apps/v1", "replicasets", True),
    # Karpenter's CRDs: served only when the double is started with `crds=True` (else 404, "not installed").
    "NodePool": ("karpenter.sh/v1", "nodepools", False), "NodeClaim": ("karpenter.sh/v1", "nodeclaims", False),
}
CUSTOM = frozenset({"NodePool", "NodeClaim"})
_BY_PATH = {(gv, plural): kind for kind, (gv, plural, _) in RESOURCES.items()}
_LIST = re.compile(r"^/(?:api/(v1)|apis/([a-z0-9.]+/v1))(?:/namespaces/([^/]+))?/([a-z]+)$")


@dataclass
class Fault:
    """Answer matching requests with `status` (or a reset, or after `delay`), `times` times (None: always)."""

    path: str  # regex searched in the path
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    reset: bool = False  # close the connection with a TCP RST instead of answering
    delay: float = 0.0  # sleep first (then answer normally unless status/reset is set)
    trickle: float = 0.0  # send the answer one byte every `trickle` seconds (headers first unless trickle_head)
    trickle_head: bool = False  # trickle the status line and headers too
    times: int | None = 1
    method: str = "GET"
    on_continue: bool = False  # only requests that carry a continue token
    hits: int = 0


@dataclass
class _State:
    version: int
    lists: dict[tuple[str, str | None], list[bytes]]  # (kind, namespace or None) -> encoded items


class ApiDouble:
    """Start with `with ApiDouble(objects) as api:`; `api.url`, `api.write_kubeconfig(path)`."""

    def __init__(self, objects: Iterable[dict[str, Any]] = (), version: str = "1.33", token: str | None = "t0ken",
                 tls: bool = True, crds: bool = False) -> None:
        """HTTPS with a bearer token by default, as a real API server; `tls=False` serves plain HTTP, where
        `token=None` lets anonymous requests in (a client must never send its token over plain HTTP).
        `crds=True` serves Karpenter's NodePools and NodeClaims (karpenter.sh/v1); without it they are 404."""
        self.crds = crds
        self.git_version = f"v{version}.2-eks-4a5b6c7" if version.count(".") == 1 else f"v{version}"
        self.token = token
        self.faults: list[Fault] = []
        self.denied: set[tuple[str, str | None]] = set()  # (plural, namespace or None for cluster-wide)
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request ("" when none)
        self.keep_states = 5  # older resourceVersions are compacted: lists at them get 410 Expired
        # Called as on_request(method, path) before each request is answered (e.g. to change the state).
        self.on_request: Callable[[str, str], None] | None = None
        self._lock = threading.Lock()
        self._states: dict[int, _State] = {}
        self._current = 0
        self._served: list[dict[str, Any]] = []
        self._tls = _make_tls() if tls else None
        self.set_state(objects)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        if self._tls is not None:
            self._server.socket = self._tls.context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def write_kubeconfig(self, path: str | Path, context: str = "double", token: str | None = None,
                         ca: bool = True) -> Path:
        cluster: dict[str, Any] = {"server": self.url}
        if self._tls is not None and ca:
            cluster["certificate-authority-data"] = base64.b64encode(self._tls.ca_pem).decode()
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context,
               "clusters": [{"name": "double", "cluster": cluster}],
               "users": [{"name": "tester", "user": {} if (token or self.token) is None
                          else {"token": self.token if token is None else token}}],
               "contexts": [{"name": context, "context": {"cluster": "double", "user": "tester"}}]}
        Path(path).write_text(yaml.safe_dump(doc))
        return Path(path)

    @property
    def ca_pem(self) -> bytes:
        """The PEM certificate to trust (TLS doubles only)."""
        assert self._tls is not None, "started without tls=True"
        return self._tls.ca_pem

    # -- state -----------------------------------------------------------------------------

    def set_state(self, objects: Iterable[dict[str, Any]], keep: bool = True) -> None:
        """Serve these objects from now on; pages of lists already started still come from the old state.

        `keep=False` keeps only the encoded items (for large benchmark clusters); `served()` is then empty.
        """
        served: list[dict[str, Any]] = []
        lists: dict[tuple[str, str | None], list[tuple[str, str, bytes]]] = {}
        for obj in objects:
            kind = obj["kind"]
            item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}  # as a list item
            if keep:
                served.append(obj)
            meta = obj["metadata"]
            ns = meta.get("namespace") if RESOURCES[kind][2] else None
            entry = (ns or "", meta["name"], orjson.dumps(item))
            lists.setdefault((kind, None), []).append(entry)
            if ns:
                lists.setdefault((kind, ns), []).append(entry)
        with self._lock:
            self._current += 1
            state = _State(self._current, {key: [e[2] for e in sorted(v, key=lambda e: e[:2])]
                                           for key, v in lists.items()})
            self._states[state.version] = state
            self._compact()
            self._served = served

    def _compact(self) -> None:
        for old in [v for v in self._states if v <= self._current - self.keep_states]:  # like etcd compaction
            del self._states[old]

    def compact(self) -> None:
        """Forget every resourceVersion but the current one (lists at older versions get 410)."""
        with self._lock:
            for old in [v for v in self._states if v != self._current]:
                del self._states[old]

    @property
    def resource_version(self) -> str:
        return str(self._current * 1000)

    def served(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self._served if kind is None or o["kind"] == kind]

    def add_fault(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path=path, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def deny(self, plural: str, namespace: str | None = None) -> None:
        """RBAC says no (SSAR and list) to `plural`, cluster-wide or in one namespace."""
        self.denied.add((plural, namespace))

    def calls(self, path_regex: str, method: str = "GET") -> list[dict[str, list[str]]]:
        return [q for m, p, q in list(self.requests) if m == method and re.search(path_regex, p)]

    def _fault_for(self, method: str, path: str, query: dict[str, list[str]]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.method == method and re.search(f.path, path) and (not f.on_continue or "continue" in query) \
                        and (f.times is None or f.hits < f.times):
                    f.hits += 1
                    return f
        return None

    def _allowed(self, plural: str, namespace: str | None) -> bool:
        return (plural, None) not in self.denied and (namespace is None or (plural, namespace) not in self.denied)

    def _page(self, kind: str, ns: str | None, query: dict[str, list[str]]) -> tuple[int, bytes]:
        """One page, with the API server's resourceVersion semantics for lists (and its errors)."""
        limit = int(query.get("limit", ["0"])[0] or 0)
        token = query.get("continue", [""])[0]
        rv = query.get("resourceVersion", [""])[0]
        match = query.get("resourceVersionMatch", [""])[0]
        with self._lock:
            if token:
                if rv or match:
                    return 400, _status(400, "BadRequest", "specifying resource version is not allowed when using "
                                        "continue")
                try:
                    version, offset = (int(x) for x in base64.urlsafe_b64decode(token).decode().split(":"))
                except ValueError:
                    return 400, _status(400, "BadRequest", "invalid continue token")
                state = self._states.get(version)
                if state is None:
                    return 410, _status(410, "Expired", "The provided continue parameter is too old to display a "
                                        "consistent list result. You can start a new list without the continue "
                                        "parameter.")
            elif match and not rv:
                return 400, _status(400, "BadRequest", "resourceVersionMatch is forbidden unless resourceVersion "
                                    "is provided")
            elif match not in ("", "Exact", "NotOlderThan"):
                return 400, _status(400, "BadRequest", f"unsupported resourceVersionMatch {match!r}")
            elif rv and rv != "0" and (match == "Exact" or (not match and limit)):
                # An exact version (legacy: a non-zero resourceVersion with a limit is exact too).
                try:
                    wanted = int(rv) // 1000
                except ValueError:
                    return 400, _status(400, "BadRequest", f"invalid resourceVersion {rv!r}")
                state, offset = self._states.get(wanted), 0
                if state is None:
                    return 410, _status(410, "Expired", f"too old resource version: {rv} "
                                        f"({self._current * 1000})")
            else:
                state, offset = self._states[self._current], 0
        items = state.lists.get((kind, ns), [])
        end = len(items) if limit <= 0 else min(len(items), offset + limit)
        meta: dict[str, Any] = {"resourceVersion": str(state.version * 1000)}
        if end < len(items):
            meta["continue"] = base64.urlsafe_b64encode(f"{state.version}:{end}".encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        gv = RESOURCES[kind][0]
        head = orjson.dumps({"kind": f"{kind}List", "apiVersion": gv, "metadata": meta})
        return 200, head[:-1] + b',"items":[' + b",".join(items[offset:end]) + b"]}"


def _status(code: int, reason: str, message: str) -> bytes:
    return orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": code})


def _discovery(path: str, host: str, crds: bool = False) -> dict[str, Any] | None:
    def resources(gv: str) -> list[dict[str, Any]]:
        return [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["get", "list", "watch"]}
                for kind, (g, plural, namespaced) in RESOURCES.items() if g == gv]

    groups = {"discovery.k8s.io": "v1", "authorization.k8s.io": "v1", "policy": "v1", "apps": "v1"}
    if crds:
        groups["karpenter.sh"] = "v1"
    served = {f"{g}/{v}" for g, v in groups.items() if g != "authorization.k8s.io"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups.items()]}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources("v1")}
    if path.startswith("/apis/") and path[len("/apis/"):] in served:
        gv = path[len("/apis/"):]
        return {"kind": "APIResourceList", "groupVersion": gv, "resources": resources(gv)}
    if path == "/apis/authorization.k8s.io/v1":
        return {"kind": "APIResourceList", "groupVersion": "authorization.k8s.io/v1", "resources": [
            {"name": "selfsubjectaccessreviews", "namespaced": False, "kind": "SelfSubjectAccessReview",
             "verbs": ["create"]}]}
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None,
              trickle: Fault | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if trickle is None:
                self.end_headers()
                self.wfile.write(body)
                return
            if trickle.trickle_head:
                head, self._headers_buffer = b"".join(self._headers_buffer) + b"\r\n", []
                body = head + body
            else:
                self.end_headers()
                self.wfile.flush()
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(trickle.trickle)
        except OSError:  # the client gave up (timeout) first
            self.close_connection = True

    def _handle(self, method: str) -> None:
        api: ApiDouble = self.server.api  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with api._lock:
            api.requests.append((method, path, query))
            api.authorizations.append(self.headers.get("Authorization") or "")
        if api.on_request is not None:
            api.on_request(method, path)
        fault = api._fault_for(method, path, query)
        trickle = fault if fault is not None and fault.trickle else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if fault.status:
                reason = {401: "Unauthorized", 403: "Forbidden", 410: "Expired", 429: "TooManyRequests"}.get(
                    fault.status, "InternalError")
                self._send(fault.status, _status(fault.status, reason, fault.message or reason), fault.headers)
                return
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        if api.token is not None and (scheme.lower() != "bearer" or credential != api.token):  # case-insensitive
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        if path == "/version" and method == "GET":
            major, minor = api.git_version[1:].split(".")[:2]
            self._send(200, orjson.dumps({"major": major, "minor": minor, "gitVersion": api.git_version,
                                          "gitCommit": "0" * 40, "gitTreeState": "clean",
                                          "buildDate": "2025-05-20T10:00:00Z", "goVersion": "go1.24.2",
                                          "compiler": "gc", "platform": "linux/amd64"}), trickle=trickle)
            return
        if method == "POST" and path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            review = orjson.loads(body)
            attrs = review.get("spec", {}).get("resourceAttributes", {})
            allowed = attrs.get("verb") == "list" and api._allowed(attrs.get("resource", ""), attrs.get("namespace"))
            review["status"] = {"allowed": allowed} if allowed else {"allowed": False, "reason": ""}
            self._send(201, orjson.dumps(review))
            return
        doc = _discovery(path, self.headers.get("Host", ""), api.crds)
        if doc is not None and method == "GET":
            self._send(200, orjson.dumps(doc))
            return
        m = _LIST.match(path)
        kind = _BY_PATH.get((m.group(1) or m.group(2), m.group(4))) if m else None
        if m is None or kind is None or method != "GET" or (m.group(3) and not RESOURCES[kind][2]) \
                or (kind in CUSTOM and not api.crds):
            self._send(404, _status(404, "NotFound", f"the server could not find the requested resource ({path})"))
            return
        ns, plural = m.group(3), m.group(4)
        if not api._allowed(plural, ns):
            where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            group = RESOURCES[kind][0].rpartition("/")[0]
            self._send(403, _status(403, "Forbidden", f'{plural}{"." + group if group else ""} is forbidden: User '
                                    f'"tester" cannot list resource "{plural}" in API group "{group}" {where}'))
            return
        code, page = api._page(kind, ns, query)
        headers = {}
        if kind == "Endpoints" and int(api.git_version[1:].split(".")[1]) >= 33:
            headers["Warning"] = f'299 - "{ENDPOINTS_WARNING}"'
        self._send(code, page, headers, trickle=trickle)


@dataclass
class _Tls:
    context: Any
    ca_pem: bytes


def _make_tls() -> _Tls:
    """A self-signed CA-and-server certificate for 127.0.0.1 (trusted only through the kubeconfig)."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api-double")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.pem").write_bytes(pem)
        (Path(tmp) / "k.pem").write_bytes(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(Path(tmp) / "c.pem"), str(Path(tmp) / "k.pem"))
    return _Tls(ctx, pem)


def fast_client_settings(monkeypatch: Any, *, max_retry_after: float, connect_timeout: float) -> None:
    """Backoff in milliseconds and short timeouts for tests against the double; no ambient kubeconfig."""
    from auditor.collect import options

    monkeypatch.setattr(options, "DEFAULT_RETRY",
                        options.RetryPolicy(attempts=4, base=0.01, cap=0.05, max_retry_after=max_retry_after))
    monkeypatch.setattr(options, "REQUEST_TIMEOUT", 1.0)
    monkeypatch.setattr(options, "CONNECT_TIMEOUT", connect_timeout)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
