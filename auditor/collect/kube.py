"""Live Kubernetes access through the official client: connect, check RBAC, page through lists as raw JSON."""
from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec
import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from auditor.collect.deadline import RequestDeadline, watch
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
    items: list[msgspec.Raw] | None = None


_PAGE = msgspec.json.Decoder(_Page)


class Forbidden(Exception):
    """403: RBAC does not allow the request."""


class Gone(Exception):
    """410: the continue token (or the resourceVersion asked for) expired; the list must start again."""


class NotFound(Exception):
    """404 on a list: the cluster does not serve that resource (a CustomResourceDefinition not installed)."""


class Refused(Exception):
    """400 on a list at an exact resourceVersion: the server does not serve that kind of read."""


class TimeLimit(CollectionError):
    """The whole collection ran out of time (verify's --timeout)."""


class _Overran(Exception):
    """A request did not complete before its deadline."""


class _HTTPStatus(Exception):
    """A non-2xx answer."""

    def __init__(self, status: int, reason: str, body: bytes, headers: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.reason, self.body, self.headers = status, reason, body, headers


class RequestFailed(Exception):
    """A request failed for good (retry budget spent, or an unexpected status)."""


class Stopped(Exception):
    """Another part of the collection failed fatally; give up quietly."""


_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """Text from the server without control or format characters (terminal escapes, bidi overrides)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in _UNPRINTABLE)


def one_line(exc: BaseException | str) -> str:
    text = " ".join(printable(" ".join(str(exc).split())).split())
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
        if urlsplit(cfg.host).scheme.lower() == "http" and _has_credentials(cfg):
            # client-go never sends credentials over plain HTTP; sending them would hand the token to the network.
            raise CollectionError(f"context {self.context!r}: {self.server} is plain http://; refusing to send the "
                                  "kubeconfig's token unencrypted (use the cluster's https:// address)")
        self.api = k8s.ApiClient(cfg)
        self.api.user_agent = "eks-upgrade-auditor"
        watch(self.api.rest_client.pool_manager)
        # verify's --timeout: every request ends by then, whatever the server does.
        self.deadline = time.monotonic() + opts.time_limit if opts.time_limit is not None else None

    def close(self) -> None:
        """Drop the pooled connections (verify takes many snapshots in one process)."""
        self.api.rest_client.pool_manager.clear()

    # -- requests ---------------------------------------------------------------------------

    def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                body: dict[str, Any] | None = None, *, probe: bool = False) -> bytes:
        """One API call with retries; returns the body. Raises Forbidden, Gone, RequestFailed or CollectionError.

        Each attempt must complete (body included) within --request-timeout; all attempts and the waits
        between them within the retry policy's time budget. `probe` (the first call) fails fast on refused
        connections, DNS and TLS errors.
        """
        policy = self.opts.retry
        retry = 0
        first = time.monotonic()
        budget_end = first + policy.budget
        while True:
            if self.stop.is_set():
                raise Stopped()
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                raise TimeLimit(f"stopped at the time limit ({self.opts.time_limit:.3g}s) during {method} {path}")
            deadline = min(now + self.opts.request_timeout, budget_end)
            if self.deadline is not None:
                deadline = min(deadline, self.deadline)
            wait: float | None = None
            try:
                return self._once(method, path, query, body, deadline)
            except _HTTPStatus as exc:
                status = exc.status
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
                if status == 404 and method == "GET":
                    raise NotFound(_status_message(exc)) from None
                if status == 400 and query and any(k == "resourceVersionMatch" for k, _ in query):
                    raise Refused(_status_message(exc)) from None
                if status != 429 and not 500 <= status <= 599:
                    raise RequestFailed(f"{method} {path}: {cause}") from None
                wait = _retry_after(exc, policy.max_retry_after)
            except _Overran:
                cause = f"no complete response within {deadline - now:.3g}s"
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                cause = _connect_cause(exc)
                if probe:
                    raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: {cause}") from None
            except urllib3.exceptions.SSLError as exc:
                raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: "
                                      f"TLS error: {one_line(exc)}") from None
            except urllib3.exceptions.ReadTimeoutError:
                cause = f"no complete response within {deadline - now:.3g}s"
            except (urllib3.exceptions.HTTPError, ConnectionError, orjson.JSONDecodeError) as exc:
                cause = f"connection failed: {_reset_cause(exc)}"
            retry += 1
            delay = wait if wait is not None else policy.backoff(retry - 1)
            if retry >= policy.attempts or time.monotonic() + delay >= budget_end:
                spent = f"{retry} attempt{'s' if retry > 1 else ''} in {time.monotonic() - first:.0f}s"
                raise RequestFailed(f"{method} {path}: {cause} (gave up after {spent})")
            if self.deadline is not None and time.monotonic() + delay >= self.deadline:
                raise TimeLimit(f"stopped at the time limit ({self.opts.time_limit:.3g}s): {method} {path}: {cause}")
            LOG.info("%s %s: %s; retry %d/%d in %.1fs", method, path, cause, retry, policy.attempts - 1, delay)
            if self.stop.wait(delay):
                raise Stopped()

    def _once(self, method: str, path: str, query: list[tuple[str, Any]] | None,
              body: dict[str, Any] | None, deadline: float) -> bytes:
        """One attempt, bounded as a whole by `deadline` (monotonic): the watchdog cuts a stalled or trickling read."""
        headers: dict[str, str] = {"Accept": "application/json", "Content-Type": "application/json",
                                   **self.api.default_headers}
        params: list[tuple[str, Any]] = list(query or [])
        self.api.update_params_for_auth(headers, params, ["BearerToken"])
        url = self.api.configuration.host + path + (f"?{urlencode(params)}" if params else "")
        remaining = max(0.001, deadline - time.monotonic())
        timeout = urllib3.Timeout(connect=min(self.opts.connect_timeout, remaining), read=remaining)
        with RequestDeadline(deadline) as limit:
            try:
                resp = self.api.rest_client.pool_manager.request(
                    method, url, body=orjson.dumps(body) if body is not None else None, headers=headers,
                    preload_content=False, timeout=timeout, retries=False, redirect=False)
                try:
                    chunks = []
                    while True:
                        chunk = resp.read(1 << 16)
                        if not chunk:
                            break
                        chunks.append(chunk)
                        if limit.passed:
                            raise _Overran()
                    if limit.passed:
                        raise _Overran()
                    data = b"".join(chunks)
                finally:
                    resp.release_conn()
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
                raise
            except (urllib3.exceptions.HTTPError, OSError):
                if limit.passed:  # the watchdog shut the socket: the deadline, not the network, ended it
                    raise _Overran() from None
                raise
        for value in resp.headers.getlist("Warning"):
            self._note_warning(value)
        if not 200 <= resp.status <= 299:
            raise _HTTPStatus(resp.status, resp.reason or "", data, resp.headers)
        return data

    def _note_warning(self, header: str) -> None:
        texts = [one_line(m.group(1).replace('\\"', '"')) for m in _WARNING.finditer(header)] or [one_line(header)]
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
        except (RequestFailed, Forbidden, Gone, NotFound) as exc:
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
        reason = one_line(str(status.get("reason") or status.get("evaluationError") or ""))
        return (bool(allowed), reason) if allowed is not None else (None, "")

    def pages(self, path: str, resource_version: str = "", limit: int | None = None) -> Generator[ListPage, None, None]:
        """Every page of one list, following `continue` tokens. Raises Gone when a token (or the version) expired.

        With `resource_version`, the first page asks for exactly that version (`resourceVersionMatch=Exact`);
        continued pages carry only their token, which pins the same version. `limit=0` asks for one
        unpaginated list. Items are raw JSON, one per object.
        """
        token: str | None = None
        size = self.opts.page_size if limit is None else limit
        while True:
            query: list[tuple[str, Any]] = [("limit", size)] if size else []
            if token:
                query.append(("continue", token))
            elif resource_version:
                query += [("resourceVersion", resource_version), ("resourceVersionMatch", "Exact")]
            data = self.request("GET", path, query)
            try:
                page = _PAGE.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise RequestFailed(f"GET {path}: response is not a list ({exc})") from None
            del data
            rv = page.metadata.get("resourceVersion")
            yield ListPage(page.items or [], str(rv) if rv else "")
            token = page.metadata.get("continue") or None
            if not token:
                return


class ListPage(msgspec.Struct):
    items: list[msgspec.Raw]
    resource_version: str


def _has_credentials(cfg: k8s.Configuration) -> bool:
    """Whether the loaded kubeconfig would send a bearer token (or a credential plugin's token)."""
    return bool((cfg.api_key or {}).get("authorization") or cfg.refresh_api_key_hook is not None
                or cfg.username or cfg.password)


def _status_message(exc: _HTTPStatus) -> str:
    """The `message` of the Status the API returned, else the HTTP reason."""
    body = exc.body
    try:
        status = orjson.loads(body) if body else None
        if isinstance(status, dict) and status.get("message"):
            return one_line(status["message"])
    except (orjson.JSONDecodeError, TypeError):
        pass
    return one_line(exc.reason or "")


def _retry_after(exc: _HTTPStatus, cap: float) -> float | None:
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
