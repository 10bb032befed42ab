"""One watch request on the wire: opened through the kubernetes client's pool, read as JSON lines as they arrive.

The API server answers `?watch=1` with a chunked stream of JSON objects, one per line:
`{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}`. This module opens the
request with the Cluster's auth headers and TLS settings (as `Cluster._once` does, but streamed and
without the whole-request watchdog: a watch lasts minutes), cuts the body into complete lines, and says
what a refusal means. Decoding uses msgspec structs that skip everything but the few fields read here.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import msgspec
import urllib3

from auditor.collect.failures import Capped, Forbidden, one_line
from auditor.collect.kube import Cluster


class Meta(msgspec.Struct, rename="camel"):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""


class Head(msgspec.Struct):
    """An object's metadata, its other fields skipped."""

    metadata: Meta = msgspec.field(default_factory=Meta)


class WatchEvent(msgspec.Struct):
    type: str = ""
    object: msgspec.Raw = msgspec.Raw(b"{}")


class Status(msgspec.Struct):
    code: int = 0
    reason: str = ""
    message: str = ""


HEAD = msgspec.json.Decoder(Head)
EVENT = msgspec.json.Decoder(WatchEvent)
STATUS = msgspec.json.Decoder(Status)
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


class Expired(Exception):
    """The watch's resourceVersion is too old (410, as an ERROR event or the HTTP status): list again."""


class Failed(Exception):
    """A watch attempt failed; resume after a backoff (`retry_after` from the server when it said)."""

    def __init__(self, text: str, retry_after: float | None = None) -> None:
        super().__init__(text)
        self.retry_after = retry_after


def open_watch(cluster: Cluster, path: str, query: list[tuple[str, Any]], read_timeout: float) -> Any:
    """GET `path?query` streamed (not preloaded): a urllib3 response whose body is read as it arrives.

    Auth goes through the client's `update_params_for_auth` on every request, so a kubeconfig's credential
    plugin refreshes an expiring token (EKS tokens last 15 minutes) when a watch resumes."""
    api = cluster.api
    headers: dict[str, str] = {"Accept": "application/json", **api.default_headers}
    params: list[tuple[str, Any]] = list(query)
    api.update_params_for_auth(headers, params, ["BearerToken"])
    url = api.configuration.host + path + f"?{urlencode(params)}"
    timeout = urllib3.Timeout(connect=cluster.opts.connect_timeout, read=read_timeout)
    return api.rest_client.pool_manager.request("GET", url, headers=headers, preload_content=False,
                                                timeout=timeout, retries=False, redirect=False)


def refusal(status: int, body: bytes, headers: Any, max_retry_after: float) -> Exception:
    """What a non-200 answer to a watch means: Forbidden (403), Expired (410), else Failed."""
    try:
        message = one_line(STATUS.decode(body).message) if body else ""
    except DECODE_ERRORS:
        message = ""
    message = message or f"HTTP {status}"
    if status == 403:
        return Forbidden(message)
    if status == 410:
        return Expired(message)
    retry_after = None
    value = headers.get("Retry-After") if headers is not None else None
    if value and status in (429, 503):
        try:
            retry_after = max(0.0, min(float(value), max_retry_after))
        except ValueError:
            retry_after = None
    if status == 401:
        message = f"credentials rejected (401): {message}"
    return Failed(f"HTTP {status}: {message}", retry_after)


def error_of(raw: msgspec.Raw) -> Exception:
    """The exception an ERROR event's Status stands for."""
    try:
        status = STATUS.decode(raw)
    except DECODE_ERRORS:
        status = Status()
    if status.code == 410:
        return Expired(status.message)
    return Failed(f"watch error {status.code} {status.reason}: {one_line(status.message)}")


def lines(resp: Any, max_line: int) -> Iterator[list[bytes]]:
    """The complete lines of the body, in the batches they arrived in (a line split over chunks is joined).
    Raises Capped once a line grows past `max_line` bytes without its newline (never held whole in memory)."""
    parts: list[bytes] = []
    pending = 0
    for chunk in _chunks(resp):
        if b"\n" not in chunk:
            parts.append(chunk)
            pending += len(chunk)
            if pending > max_line:
                raise Capped(f"a watch line longer than {max_line >> 20} MiB without a newline")
            continue
        data = b"".join(parts) + chunk if parts else chunk
        batch = data.split(b"\n")
        rest = batch.pop()
        parts = [rest] if rest else []
        pending = len(rest)
        if any(len(line) > max_line for line in batch):
            raise Capped(f"a watch line longer than {max_line >> 20} MiB")
        yield batch
    if parts:  # a last line without its newline, at a clean end
        yield [b"".join(parts)]


def _chunks(resp: Any) -> Iterator[bytes]:
    """The body as it arrives: each HTTP chunk of a chunked stream, else whatever each read returns."""
    if resp.chunked and resp.supports_chunked_reads():
        yield from resp.read_chunked(1 << 16, decode_content=True)
        return
    while True:
        data = resp.read1(1 << 16)
        if not data:
            return
        yield data
