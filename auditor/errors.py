"""Errors users can act on, and the exit-code table.

    AuditorError            base; carries the exit code
     +-- InputError         an input file is missing, unreadable or invalid      (exit 2)
     +-- ConfigError        the config file or a flag value is invalid            (exit 2)
     +-- CollectionError    the cluster or AWS could not be read                  (exit 3)
"""
from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    COLLECTION = 3


class AuditorError(Exception):
    """An expected failure: printed as one line, mapped to an exit code, never a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class InputError(AuditorError):
    """An input file is missing, unreadable, truncated or not a cluster state."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class ConfigError(AuditorError):
    """The configuration file or a command-line value is invalid."""


class CollectionError(AuditorError):
    """The cluster or the AWS API could not be read."""

    exit_code = ExitCode.COLLECTION
