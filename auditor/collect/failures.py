"""What can go wrong with a request to the API server: the exceptions the collectors raise and catch, and the
one-line causes they put in messages (server text made printable, Status messages, Retry-After, connect errors)."""
from __future__ import annotations

import email.utils
import time
import unicodedata
from typing import Any

import orjson
import urllib3

from auditor.errors import CollectionError


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


class Capped(CollectionError):
    """The server sent more than any real one would (a body, a watch line, a page sequence): never retried,
    and the collection ends (exit 3), whatever was already written left as it was."""


class Mistyped(CollectionError):
    """A served object whose fields do not have the types the auditor reads: what it says cannot be judged."""


#: what ends a feed for good (the run then ends with exit 3), rather than a retry
FATAL = (Capped, Mistyped)


class Overran(Exception):
    """A request did not complete before its deadline."""


class HTTPStatus(Exception):
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


def status_message(exc: HTTPStatus) -> str:
    """The `message` of the Status the API returned, else the HTTP reason."""
    body = exc.body
    try:
        status = orjson.loads(body) if body else None
        if isinstance(status, dict) and status.get("message"):
            return one_line(status["message"])
    except (orjson.JSONDecodeError, TypeError):
        pass
    return one_line(exc.reason or "")


def retry_after(exc: HTTPStatus, cap: float) -> float | None:
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


def connect_cause(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, urllib3.exceptions.NameResolutionError) or "Name or service not known" in text:
        return "DNS lookup failed (no such host)"
    if "refused" in text:
        return "connection refused"
    if not isinstance(exc, urllib3.exceptions.NewConnectionError):  # (a subclass of ConnectTimeoutError)
        return "connection timed out"
    return one_line(text.split(": ", 1)[-1])


def reset_cause(exc: Exception) -> str:
    inner = exc.args[1] if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1 else exc
    return one_line(f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__)
