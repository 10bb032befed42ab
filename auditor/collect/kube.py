"""Live Kubernetes access through the official client: connect, check RBAC, page through lists as raw JSON."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import orjson
import urllib3
from kubernetes import client as k8s

from auditor.collect import kubeconfig
from auditor.collect.deadline import RequestDeadline, watch
from auditor.collect.failures import (
    Capped,
    Forbidden,
    Gone,
    HTTPStatus,
    NotFound,
    Overran,
    Refused,
    RequestFailed,
    Stopped,
    TimeLimit,
    connect_cause,
    one_line,
    reset_cause,
    retry_after,
    status_message,
)
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


class Cluster:
    """One authenticated client for one cluster, safe to share between threads."""

    def __init__(self, opts: ClusterOptions) -> None:
        self.opts = opts
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        loaded = kubeconfig.load(opts)
        cfg = loaded.cfg
        self.context, self.in_cluster, self.auth_problem = loaded.context, loaded.in_cluster, loaded.auth_problem
        cfg.retries = False  # we retry ourselves, with backoff and a budget
        # Every kind is listed at once (and followed by its own watch): a smaller pool discards connections, and
        # urllib3 warns on stderr for each.
        cfg.connection_pool_maxsize = 64
        self.server = kubeconfig.safe_url(cfg.host)
        if urlsplit(cfg.host).scheme.lower() == "http" and kubeconfig.has_credentials(cfg):
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
            now, deadline = self._attempt(method, path, budget_end)
            wait: float | None = None
            try:
                return self._once(method, path, query, body, deadline)
            except HTTPStatus as exc:
                cause, wait = self._retryable(exc, method, path, query)
            except Overran:
                cause = f"no complete response within {deadline - now:.3g}s"
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                cause = connect_cause(exc)
                if probe:
                    raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: {cause}") from None
            except urllib3.exceptions.SSLError as exc:
                raise CollectionError(f"context {self.context!r}: cannot reach {self.server}: "
                                      f"TLS error: {one_line(exc)}") from None
            except urllib3.exceptions.ReadTimeoutError:
                cause = f"no complete response within {deadline - now:.3g}s"
            except (urllib3.exceptions.HTTPError, ConnectionError, orjson.JSONDecodeError) as exc:
                cause = f"connection failed: {reset_cause(exc)}"
            retry += 1
            delay = wait if wait is not None else policy.backoff(retry - 1)
            self._before_retry(f"{method} {path}", cause, retry, delay, time.monotonic() - first, budget_end)

    def _attempt(self, method: str, path: str, budget_end: float) -> tuple[float, float]:
        """(now, the deadline of the next attempt), both monotonic; raises Stopped, or TimeLimit past --timeout."""
        if self.stop.is_set():
            raise Stopped()
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            raise TimeLimit(f"stopped at the time limit ({self.opts.time_limit:.3g}s) during {method} {path}")
        deadline = min(now + self.opts.request_timeout, budget_end)
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return now, deadline

    def _retryable(self, exc: HTTPStatus, method: str, path: str,
                   query: list[tuple[str, Any]] | None) -> tuple[str, float | None]:
        """(the cause, the server's Retry-After) of a status worth retrying (429, 5xx); any other status raises
        what it means: CollectionError (401), Forbidden, Gone, NotFound, Refused or RequestFailed."""
        status = exc.status
        cause = f"HTTP {status} {status_message(exc)}"
        if status == 401:
            hint = (f"the kubeconfig's credential plugin failed: {self.auth_problem}" if self.auth_problem
                    else "refresh your token or kubeconfig")
            raise CollectionError(f"context {self.context!r} ({self.server}): credentials rejected "
                                  f"(401 Unauthorized); {hint}") from None
        if status == 403:
            raise Forbidden(status_message(exc)) from None
        if status == 410:
            raise Gone(status_message(exc)) from None
        if status == 404 and method == "GET":
            raise NotFound(status_message(exc)) from None
        if status == 400 and query and any(k == "resourceVersionMatch" for k, _ in query):
            raise Refused(status_message(exc)) from None
        if status != 429 and not 500 <= status <= 599:
            raise RequestFailed(f"{method} {path}: {cause}") from None
        return cause, retry_after(exc, self.opts.retry.max_retry_after)

    def _before_retry(self, what: str, cause: str, retry: int, delay: float, spent: float, budget_end: float) -> None:
        """Wait `delay` before retry number `retry`; raises RequestFailed when the attempts or the time budget are
        spent, TimeLimit when the wait would pass --timeout, Stopped when the collection stops meanwhile."""
        policy = self.opts.retry
        if retry >= policy.attempts or time.monotonic() + delay >= budget_end:
            raise RequestFailed(f"{what}: {cause} (gave up after {retry} attempt{'s' if retry > 1 else ''} "
                                f"in {spent:.0f}s)")
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            raise TimeLimit(f"stopped at the time limit ({self.opts.time_limit:.3g}s): {what}: {cause}")
        LOG.info("%s: %s; retry %d/%d in %.1fs", what, cause, retry, policy.attempts - 1, delay)
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
                    data = self._body(resp, limit, f"{method} {path}")
                finally:
                    resp.release_conn()
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
                raise
            except (urllib3.exceptions.HTTPError, OSError):
                if limit.passed:  # the watchdog shut the socket: the deadline, not the network, ended it
                    raise Overran() from None
                raise
        for value in resp.headers.getlist("Warning"):
            self._note_warning(value)
        if not 200 <= resp.status <= 299:
            raise HTTPStatus(resp.status, resp.reason or "", bytes(data), resp.headers)
        return data

    def _body(self, resp: Any, limit: RequestDeadline, what: str) -> bytes:
        """The whole body, read as it arrives: Overran past the deadline, Capped past `max_body` (the connection
        is then closed: the rest is never read)."""
        cap = self.opts.max_body
        buf = bytearray()
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            buf += chunk
            if len(buf) > cap:
                resp.close()
                raise Capped(f"{what}: the response is larger than {cap >> 20} MiB; stopped reading it")
            if limit.passed:
                raise Overran()
        if limit.passed:
            raise Overran()
        return buf  # type: ignore[return-value]  # read as bytes everywhere; a copy would double the peak

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
        pages = 0
        while True:
            pages += 1
            if pages > self.opts.max_pages:
                raise Capped(f"GET {path}: more than {self.opts.max_pages} pages (the server keeps returning a "
                             "continue token); stopped listing")
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
