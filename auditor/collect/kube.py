"""Live Kubernetes access through the official client: connect, check RBAC, page through lists as raw JSON."""
from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from auditor.collect.options import ClusterOptions
from auditor.errors import CollectionError

LOG = logging.getLogger(__name__)

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_WARNING = re.compile(r'\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


class _Page(msgspec.Struct):
    """A list response with its items left as raw JSON below their top-level keys.

    Decoding whole pages into Python objects costs most of a snapshot's CPU (20 ms per 500 Pods with
    orjson, mostly allocation); skipping over spec and status as raw bytes costs a fraction of that.
    """

    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    items: list[dict[str, msgspec.Raw]] | None = None


_PAGE = msgspec.json.Decoder(_Page)


class Forbidden(Exception):
    """403: RBAC does not allow the request."""


class Gone(Exception):
    """410: the continue token expired; the list must start again."""


class RequestFailed(Exception):
    """A request failed for good (retry budget spent, or an unexpected status)."""


class Stopped(Exception):
    """Another part of the collection failed fatally; give up quietly."""


def one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _safe_url(url: str) -> str:
    """The server URL without any user:password part."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _resolve_kubeconfig(opts: ClusterOptions) -> str | None:
    if opts.kubeconfig:
        path = Path(opts.kubeconfig).expanduser()
        if not path.is_file():
            raise CollectionError(f"kubeconfig {opts.kubeconfig}: no such file")
        return str(path)
    env = os.environ.get("KUBECONFIG", "")
    if env:
        found = [p for p in env.split(os.pathsep) if p and Path(p).expanduser().is_file()]
        if found:
            return os.pathsep.join(str(Path(p).expanduser()) for p in found)
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.is_file() else None


class _LoaderErrors(logging.Filter):
    """Catches what the kubeconfig loader logs on the root logger (a failing exec plugin) instead of printing it.

    The loader logs and carries on without credentials; the cause belongs in our one-line 401 message.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "kubernetes" in record.pathname:
            self.messages.append(one_line(record.getMessage()))
            return False
        return True

    def __enter__(self) -> _LoaderErrors:
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeFilter(self)


class Cluster:
    """One authenticated client for one cluster, safe to share between threads."""

    def __init__(self, opts: ClusterOptions) -> None:
        self.opts = opts
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        self.auth_problem = ""
        cfg = k8s.Configuration()
        path = _resolve_kubeconfig(opts)
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST") and not opts.context:
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)
            except Exception as exc:  # noqa: BLE001 - the loader raises ConfigException, OSError, ValueError...
                raise CollectionError(f"in-cluster config: {one_line(exc)}") from None
            self.context, self.in_cluster = "in-cluster", True
        elif path is None:
            raise CollectionError("no kubeconfig found ($KUBECONFIG and ~/.kube/config do not exist) and "
                                  "not running in a cluster; pass --kubeconfig")
        else:
            try:
                contexts, current = k8s_config.list_kube_config_contexts(path)
                names = {c.get("name") for c in contexts or []}
                if opts.context and opts.context not in names:
                    raise CollectionError(f"kubeconfig {path}: no context named {opts.context!r} "
                                          f"(it has: {', '.join(sorted(n for n in names if n)) or 'none'})")
                self.context = opts.context or (current or {}).get("name", "")
                with _LoaderErrors() as errors:
                    k8s_config.load_kube_config(config_file=path, context=opts.context, client_configuration=cfg,
                                                persist_config=False)
                self.auth_problem = "; ".join(errors.messages)
            except CollectionError:
                raise
            except Exception as exc:  # noqa: BLE001 - bad YAML, failing exec plugin, missing cert file...
                where = f"context {opts.context!r} in " if opts.context else ""
                raise CollectionError(f"cannot load {where}kubeconfig {path}: {one_line(exc)}") from None
            self.in_cluster = False
        cfg.retries = False  # we retry ourselves, with backoff and a budget
        cfg.connection_pool_maxsize = 16
        self.server = _safe_url(cfg.host)
        self.api = k8s.ApiClient(cfg)
        self.api.user_agent = "eks-upgrade-auditor"

    def close(self) -> None:
        """Drop the pooled connections (verify takes many snapshots in one process)."""
        self.api.rest_client.pool_manager.clear()

    # -- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                body: dict[str, Any] | None = None, *, probe: bool = False) -> bytes:
        """One API call with retries; returns the body. Raises Forbidden, Gone, RequestFailed or CollectionError.

        `probe` (the first call) fails fast on refused connections, DNS and TLS errors.
        """
        policy = self.opts.retry
        retry = 0
        while True:
            if self.stop.is_set():
                raise Stopped()
            wait: float | None = None
            try:
                return self._once(method, path, query, body)
            except ApiException as exc:
                status = exc.status or 0
                cause = f"HTTP {status} {_status_message(exc)}"
                if status == 401:
                    hint = (f"the kubeconfig's credential plugin failed: {self.auth_problem}" if self.auth_problem
                            else "refresh your token or kubeconfig")
                    raise CollectionError(f"context {self.context!r} ({self.server}): credentials rejected "
                                          f"(401 Unauthorized); {hint}") from None
                if status == 403:
                    raise Forbidden(_status_message(exc)) from None
                if status == 410:
                    raise Gone(_status_message(exc)) from None
                if status == 0:  # TLS failure, converted by the client
                    raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: "
                                          f"TLS error: {one_line(exc.reason or '')}") from None
                if status != 429 and not 500 <= status <= 599:
                    raise RequestFailed(f"{method} {path}: {cause}") from None
                wait = _retry_after(exc, policy.max_retry_after)
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                cause = _connect_cause(exc)
                if probe:
                    raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: {cause}") from None
            except urllib3.exceptions.SSLError as exc:
                raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: "
                                      f"TLS error: {one_line(exc)}") from None
            except urllib3.exceptions.ReadTimeoutError:
                cause = f"no response within {self.opts.request_timeout:g}s"
            except (urllib3.exceptions.HTTPError, ConnectionError, orjson.JSONDecodeError) as exc:
                cause = f"connection failed: {_reset_cause(exc)}"
            retry += 1
            if retry >= policy.attempts:
                raise RequestFailed(f"{method} {path}: {cause} (gave up after {policy.attempts} attempts)")
            delay = wait if wait is not None else policy.backoff(retry - 1)
            LOG.info("%s %s: %s; retry %d/%d in %.1fs", method, path, cause, retry, policy.attempts - 1, delay)
            if self.stop.wait(delay):
                raise Stopped()

    def _once(self, method: str, path: str, query: list[tuple[str, Any]] | None,
              body: dict[str, Any] | None) -> bytes:
        headers: dict[str, str] = {"Accept": "application/json", "Content-Type": "application/json",
                                   **self.api.default_headers}
        params: list[tuple[str, Any]] = list(query or [])
        self.api.update_params_for_auth(headers, params, ["BearerToken"])
        resp = self.api.rest_client.request(
            method, self.api.configuration.host + path, query_params=params, headers=headers, body=body,
            _preload_content=False,
            _request_timeout=(self.opts.connect_timeout, self.opts.request_timeout))
        data: bytes = resp.data  # reads the whole body, then the connection goes back to the pool
        for value in resp.headers.getlist("Warning"):
            self._note_warning(value)
        return data

    def _note_warning(self, header: str) -> None:
        texts = [m.group(1).replace('\\"', '"') for m in _WARNING.finditer(header)] or [header]
        with self._lock:
            for text in texts:
                if text not in self.warnings:
                    LOG.debug("server warning: %s", text)
                    self.warnings.append(text)

    # -- calls ------------------------------------------------------------------------------

    def server_version(self) -> dict[str, Any]:
        """GET /version: proves the cluster answers and records what it runs."""
        try:
            data = self.request("GET", "/version", probe=True)
        except (RequestFailed, Forbidden, Gone) as exc:
            raise CollectionError(f"context {self.context!r}: {self.server} did not answer /version: "
                                  f"{one_line(exc)}") from None
        try:
            version = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise CollectionError(f"context {self.context!r}: {self.server} is not a Kubernetes API server "
                                  "(/version is not JSON)") from None
        if not isinstance(version, dict):
            raise CollectionError(f"context {self.context!r}: {self.server}/version returned no version object")
        return version

    def can_list(self, group: str, resource: str, namespace: str | None) -> tuple[bool | None, str]:
        """Ask the API (SelfSubjectAccessReview) whether we may list; None when it cannot tell."""
        attrs: dict[str, str] = {"verb": "list", "group": group, "resource": resource}
        if namespace:
            attrs["namespace"] = namespace
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": attrs}}
        try:
            status = orjson.loads(self.request("POST", SSAR_PATH, body=review)).get("status") or {}
        except (Forbidden, RequestFailed, Gone, orjson.JSONDecodeError, AttributeError) as exc:
            LOG.info("SelfSubjectAccessReview unavailable (%s); the list itself will tell", one_line(exc))
            return None, ""
        allowed = status.get("allowed")
        reason = status.get("reason") or status.get("evaluationError") or ""
        return (bool(allowed), str(reason)) if allowed is not None else (None, "")

    def pages(self, path: str) -> Iterator[list[dict[str, Any]]]:
        """Every page of one list, following `continue` tokens. Raises Gone when a token expires.

        Items come as {top-level key: msgspec.Raw}: spec and status stay undecoded bytes.
        """
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", self.opts.page_size)]
            if token:
                query.append(("continue", token))
            data = self.request("GET", path, query)
            try:
                page = _PAGE.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise RequestFailed(f"GET {path}: response is not a list ({exc})") from None
            del data
            yield page.items or []
            token = page.metadata.get("continue") or None
            if not token:
                return


def _status_message(exc: ApiException) -> str:
    """The `message` of the Status the API returned, else the HTTP reason."""
    body = exc.body
    try:
        status = orjson.loads(body) if body else None
        if isinstance(status, dict) and status.get("message"):
            return one_line(status["message"])
    except (orjson.JSONDecodeError, TypeError):
        pass
    return one_line(exc.reason or "")


def _retry_after(exc: ApiException, cap: float) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(cap, seconds))


def _connect_cause(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, urllib3.exceptions.NameResolutionError) or "Name or service not known" in text:
        return "DNS lookup failed (no such host)"
    if "refused" in text:
        return "connection refused"
    if not isinstance(exc, urllib3.exceptions.NewConnectionError):  # (a subclass of ConnectTimeoutError)
        return "connection timed out"
    return one_line(text.split(": ", 1)[-1])


def _reset_cause(exc: Exception) -> str:
    inner = exc.args[1] if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1 else exc
    return one_line(f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__)
