"""Which cluster and credentials: the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) or the in-cluster
service account, loaded into a client configuration; failures are one-line CollectionErrors."""
from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config import exec_provider

from auditor.collect.failures import one_line
from auditor.collect.options import ClusterOptions
from auditor.errors import CollectionError


@dataclass
class Loaded:
    """A client configuration and where it came from."""

    cfg: k8s.Configuration
    context: str
    in_cluster: bool
    auth_problem: str = ""  # what a failing credential plugin logged (the cause of a later 401)


# How long a credential plugin may run (the latest loaded options': one cluster per command, or the same
# options for each of fleet's): --request-timeout, and never past the command's --timeout.
_exec_limit: tuple[float, float | None] = (60.0, None)  # (seconds, monotonic deadline or None)


class _BoundedPopen(subprocess.Popen):
    """The kubernetes client waits for a credential plugin without a timeout (`aws eks get-token` stuck on SSO
    or a network that drops packets would hold the command forever): this one is killed at its limit."""

    def communicate(self, input: Any = None, timeout: float | None = None) -> Any:  # noqa: A002 - Popen's name
        seconds, deadline = _exec_limit
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        try:
            return super().communicate(input, seconds if timeout is None else min(timeout, seconds))
        except subprocess.TimeoutExpired:
            self.kill()
            super().communicate()
            name = Path(str(self.args[0] if isinstance(self.args, list | tuple) else self.args)).name
            raise k8s_config.ConfigException(f"exec: credential plugin {name} gave no answer within {seconds:.3g}s; "
                                             "stopped it") from None


class _BoundedSubprocess:
    """What the kubernetes client's exec provider sees as `subprocess`."""

    PIPE = subprocess.PIPE
    Popen = _BoundedPopen


exec_provider.subprocess = _BoundedSubprocess


def load(opts: ClusterOptions) -> Loaded:
    """The configuration for `opts`: the in-cluster service account when there is no kubeconfig and the process
    runs in a Pod, else the kubeconfig's context (`opts.context`, or its current one)."""
    global _exec_limit
    _exec_limit = (opts.request_timeout,
                   time.monotonic() + opts.time_limit if opts.time_limit is not None else None)
    cfg = k8s.Configuration()
    path = _resolve_kubeconfig(opts)
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST") and not opts.context:
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)
        except Exception as exc:  # noqa: BLE001 - the loader raises ConfigException, OSError, ValueError...
            raise CollectionError(f"in-cluster config: {one_line(exc)}") from None
        return Loaded(cfg, "in-cluster", True)
    if path is None:
        raise CollectionError("no kubeconfig found ($KUBECONFIG and ~/.kube/config do not exist) and "
                              "not running in a cluster; pass --kubeconfig")
    try:
        contexts, current = k8s_config.list_kube_config_contexts(path)
        names = {c.get("name") for c in contexts or []}
        if opts.context and opts.context not in names:
            raise CollectionError(f"kubeconfig {path}: no context named {opts.context!r} "
                                  f"(it has: {', '.join(sorted(n for n in names if n)) or 'none'})")
        context = opts.context or (current or {}).get("name", "")
        with _LoaderErrors() as errors:
            k8s_config.load_kube_config(config_file=path, context=opts.context, client_configuration=cfg,
                                        persist_config=False)
        return Loaded(cfg, context, False, "; ".join(errors.messages))
    except CollectionError:
        raise
    except Exception as exc:  # noqa: BLE001 - bad YAML, failing exec plugin, missing cert file...
        where = f"context {opts.context!r} in " if opts.context else ""
        raise CollectionError(f"cannot load {where}kubeconfig {path}: {one_line(exc)}") from None


def contexts(kubeconfig: str | None) -> tuple[str, list[str]]:
    """The kubeconfig's path (as --kubeconfig, $KUBECONFIG or ~/.kube/config resolve it) and its context names, in
    the file's order (`fleet audit`)."""
    path = _resolve_kubeconfig(ClusterOptions(kubeconfig=kubeconfig))
    if path is None:
        raise CollectionError("no kubeconfig found ($KUBECONFIG and ~/.kube/config do not exist); pass --kubeconfig")
    try:
        found, _ = k8s_config.list_kube_config_contexts(path)
    except Exception as exc:  # noqa: BLE001 - bad YAML, no contexts at all...
        raise CollectionError(f"cannot load kubeconfig {path}: {one_line(exc)}") from None
    names = [str(c.get("name")) for c in found or [] if c.get("name")]
    return path, list(dict.fromkeys(names))


def safe_url(url: str) -> str:
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


def has_credentials(cfg: k8s.Configuration) -> bool:
    """Whether the loaded kubeconfig would send a bearer token (or a credential plugin's token)."""
    return bool((cfg.api_key or {}).get("authorization") or cfg.refresh_api_key_hook is not None
                or cfg.username or cfg.password)
