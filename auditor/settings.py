"""Settings: command-line flags plus `.upgrade-auditor.yaml`, validated once, frozen."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError, InputError
from auditor.facts import versions
from auditor.model import Severity
from auditor.rules.base import Options

FORMATS = ("html", "md", "json", "junit")
DEFAULT_FORMATS = ("html", "md", "json")
DEFAULT_CONFIG = ".upgrade-auditor.yaml"
FAIL_ON = ("info", "warning", "error", "never")
CONFIG_MAX_SIZE = 1 << 20  # a config file is a few hundred lines


@dataclass(frozen=True)
class RuleOverride:
    enabled: bool = True
    severity: Severity | None = None


@dataclass(frozen=True)
class Exclude:
    reason: str
    rule: str = "*"
    namespace: str = "*"
    name: str = "*"
    kind: str = "*"
    labels: tuple[tuple[str, str], ...] = ()
    expires: date | None = None  # the last day it applies (UTC); past it the exclude is reported, not applied
    index: int = -1  # position in the config's exclude list, for messages

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("rule", self.rule), ("kind", self.kind), ("namespace", self.namespace),
                                         ("name", self.name)) if v != "*"]
        parts += [f"label {k}={v}" for k, v in self.labels]
        return f"exclude[{self.index}] ({', '.join(parts)}; reason {self.reason!r})"

    def matches(self, rule: str, kind: str, namespace: str, name: str, labels: dict[str, str]) -> bool:
        return (fnmatch.fnmatchcase(rule, self.rule) and fnmatch.fnmatchcase(kind, self.kind)
                and fnmatch.fnmatchcase(namespace, self.namespace) and fnmatch.fnmatchcase(name, self.name)
                and all(labels.get(k) == v for k, v in self.labels))


@dataclass(frozen=True)
class Config:
    path: str | None = None
    fail_on: str | None = None
    rules: dict[str, RuleOverride] = field(default_factory=dict)
    excludes: tuple[Exclude, ...] = ()
    options: Options = field(default_factory=Options)
    #: verify: how long the cluster must stay converged before the run ends (`settle-seconds`, `--settle`)
    settle_seconds: float = 30.0


@dataclass(frozen=True)
class ReportSettings:
    output_dir: Path = Path("upgrade-audit")
    formats: tuple[str, ...] = DEFAULT_FORMATS
    fail_on: Severity | None = Severity.ERROR
    upload: str | None = None
    report_url: str | None = None  # --report-url: linked from report.md (set from --upload when not given)
    quiet: bool = False  # -q: the verdict line alone on stdout
    verbose: bool = False  # -v: also the rules that did not run, and why
    baseline: Path | None = None  # a previous report.json: its findings are known, not gating


def parse_formats(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        return DEFAULT_FORMATS
    out: list[str] = []
    for v in values:
        for part in v.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in FORMATS:
                raise ConfigError(f"--format: unknown format {part!r} (choose from {', '.join(FORMATS)})")
            if part not in out:
                out.append(part)
    return tuple(out) or DEFAULT_FORMATS


def parse_fail_on(value: str) -> Severity | None:
    v = value.strip().lower()
    if v == "never":
        return None
    if v not in FAIL_ON:
        raise ConfigError(f"fail-on: {value!r} is not one of {', '.join(FAIL_ON)}")
    return Severity.parse(v)


def _tolerance(value: Any, where: str) -> tuple[float, bool]:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: tolerance must be a number of endpoints or a percentage like '10%'")
    if isinstance(value, (int, float)) and value >= 0:
        return float(value), False
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            pct = -1
        if 0 <= pct <= 100:
            return pct / 100.0, True
    raise ConfigError(f"{where}: tolerance must be a number of endpoints >= 0 or a percentage like '10%'")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _expiry(value: Any, where: str) -> date:
    """`expires: 2026-12-31` (YAML reads it as a date) or the same text quoted."""
    if isinstance(value, date) and not isinstance(value, datetime):  # a time of day is not an expiry date
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    shown = value.isoformat() if isinstance(value, datetime) else repr(value)
    raise ConfigError(f"{where}: expires must be a date like 2026-12-31 (YYYY-MM-DD), not {shown}")


def _read_yaml(p: Path) -> Any:
    """The config file's YAML, bounded like every input: a regular file, size, nesting and aliases capped."""
    from auditor.state.inputs import read_file
    from auditor.state.safeyaml import YAMLLimitError, safe_load

    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a YAML config file")
    try:
        data = read_file(p, CONFIG_MAX_SIZE)
    except InputError as exc:
        problem = exc.problem
        if "input size limit" in problem:
            problem = f"is larger than {CONFIG_MAX_SIZE >> 20} MiB; a config file is a few hundred lines of YAML"
        raise ConfigError(f"{p}: {problem}") from None
    try:
        return safe_load(bytes(data).decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; the config file must be YAML") from None
    except YAMLLimitError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: invalid YAML{where}") from None


#: top-level keys of .upgrade-auditor.yaml
CONFIG_KEYS = {"fail-on", "grace-seconds", "rules", "exclude", "third-party-managers", "target-version",
               "outage-tolerance-seconds", "rotating", "settle-seconds"}


def load_config(path: str | None, known_rules: set[str], *, explicit: bool = False) -> Config:
    """Read and validate the config file; an absent default file means defaults. Each section is one function."""
    p = Path(path or DEFAULT_CONFIG)
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: config file not found (check the --config path)")
        return Config()
    raw = _read_yaml(p)
    if raw is None:
        return Config(path=str(p))
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    unknown = set(raw) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                          f"(allowed: {', '.join(sorted(CONFIG_KEYS))})")
    overrides, (tol, ratio) = _rule_overrides(p, raw.get("rules") or {}, known_rules)
    options = Options(grace_seconds=_grace(p, raw), capacity_tolerance=tol, capacity_tolerance_is_ratio=ratio,
                      third_party_managers=_managers(p, raw), target_version=_config_target(p, raw),
                      outage_tolerance_seconds=_outage_tolerance(p, raw), rotating=_rotating(p, raw))
    fail_on = _fail_on(p, raw)
    return Config(path=str(p), fail_on=fail_on, rules=overrides,
                  excludes=_excludes(p, raw.get("exclude") or [], known_rules), options=options,
                  settle_seconds=_seconds(p, raw, "settle-seconds", 30.0))


def _fail_on(p: Path, raw: dict[str, Any]) -> str | None:
    fail_on = raw.get("fail-on")
    if fail_on is None:
        return None
    try:
        parse_fail_on(str(fail_on))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return str(fail_on)


def _grace(p: Path, raw: dict[str, Any]) -> int:
    grace = raw.get("grace-seconds", 120)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        raise ConfigError(f"{p}: grace-seconds must be a whole number of seconds >= 0")
    return grace


def _outage_tolerance(p: Path, raw: dict[str, Any]) -> float:
    return _seconds(p, raw, "outage-tolerance-seconds", 0.0)


def _seconds(p: Path, raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ConfigError(f"{p}: {key} must be a number of seconds >= 0")
    return float(value)


def _rule_overrides(p: Path, rules: Any, known_rules: set[str]
                    ) -> tuple[dict[str, RuleOverride], tuple[float, bool]]:
    """`rules:` -> per-rule overrides, and the capacity tolerance (the one rule option today)."""
    tolerance = (0.0, False)
    overrides: dict[str, RuleOverride] = {}
    if not isinstance(rules, dict):
        raise ConfigError(f"{p}: rules must map rule ids to settings")
    for rid, conf in rules.items():
        if rid not in known_rules:
            raise ConfigError(f"{p}: rules: unknown rule {rid!r} (see `upgrade-auditor rules`)")
        conf = conf or {}
        if not isinstance(conf, dict):
            raise ConfigError(f"{p}: rules.{rid} must be a mapping (enabled, severity, tolerance)")
        bad = set(conf) - {"enabled", "severity", "tolerance"}
        if bad:
            raise ConfigError(f"{p}: rules.{rid}: unknown key(s) {', '.join(sorted(bad))}")
        sev = None
        if "severity" in conf:
            try:
                sev = Severity.parse(str(conf["severity"]))
            except ValueError as exc:
                raise ConfigError(f"{p}: rules.{rid}.severity: {exc}") from None
        enabled = conf.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{p}: rules.{rid}.enabled must be true or false")
        if "tolerance" in conf:
            if rid != "service-capacity-dropped":
                raise ConfigError(f"{p}: rules.{rid}.tolerance: only service-capacity-dropped has a tolerance")
            tolerance = _tolerance(conf["tolerance"], f"{p}: rules.{rid}.tolerance")
        overrides[rid] = RuleOverride(enabled=enabled, severity=sev)
    return overrides, tolerance


def _excludes(p: Path, raw_excludes: Any, known_rules: set[str]) -> tuple[Exclude, ...]:
    if not isinstance(raw_excludes, list):
        raise ConfigError(f"{p}: exclude must be a list of entries, each starting with '- rule: ...' "
                          "and carrying a reason")
    return tuple(_exclude(f"{p}: exclude[{i}]", ex, known_rules, i) for i, ex in enumerate(raw_excludes))


def _exclude(where: str, ex: Any, known_rules: set[str], index: int) -> Exclude:
    """One `exclude:` entry: matchers (at least one), a reason, an optional expiry."""
    if not isinstance(ex, dict):
        raise ConfigError(f"{where} must be a mapping")
    bad = set(ex) - {"rule", "namespace", "name", "kind", "labels", "reason", "expires"}
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
    reason = ex.get("reason")
    if not reason or not isinstance(reason, str):
        raise ConfigError(f"{where}: every exclude needs a reason")
    for key in ("rule", "namespace", "name", "kind"):
        if key in ex and ex[key] is None:  # `namespace:` left empty would silently match nothing
            raise ConfigError(f"{where}: {key} has no value (write \"*\" to match any, or leave the key out)")
    labels = ex.get("labels") or {}
    if not isinstance(labels, dict):
        raise ConfigError(f"{where}: labels must be a mapping")
    rule_pat = str(ex.get("rule", "*"))
    if not any(ch in rule_pat for ch in "*?[") and rule_pat not in known_rules:
        raise ConfigError(f"{where}: unknown rule {rule_pat!r}")
    if not labels and all(str(ex.get(k, "*")) == "*" for k in ("rule", "namespace", "name", "kind")):
        raise ConfigError(f"{where}: has no matcher; give at least one of rule, kind, namespace, name or "
                          "labels (an exclude that matches everything would hide every finding)")
    return Exclude(reason=reason, rule=rule_pat, namespace=str(ex.get("namespace", "*")),
                   name=str(ex.get("name", "*")), kind=str(ex.get("kind", "*")),
                   labels=tuple((str(k), str(v)) for k, v in labels.items()),
                   expires=_expiry(ex.get("expires"), where) if "expires" in ex else None, index=index)


def _managers(p: Path, raw: dict[str, Any]) -> tuple[str, ...]:
    managers = raw.get("third-party-managers") or []
    if not isinstance(managers, list) or not all(isinstance(m, str) for m in managers):
        raise ConfigError(f"{p}: third-party-managers must be a list of managed-by values")
    return tuple(managers)


def _rotating(p: Path, raw: dict[str, Any]) -> tuple[str, ...]:
    """`rotating: [ng-blue, "karpenter:default"]`: the node groups the upgrade replaces (names are checked
    against the state once it is read)."""
    value = raw.get("rotating")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{p}: rotating must be a list of node group names (karpenter:POOL for Karpenter)")
    try:
        return parse_rotating(value)
    except ConfigError as exc:
        raise ConfigError(f"{p}: rotating: {exc}") from None


def parse_rotating(values: list[Any] | tuple[Any, ...]) -> tuple[str, ...]:
    """Node group names as given (`ng-blue`, `karpenter:default`), de-duplicated; ConfigError for a bad one."""
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{v!r} is not a node group name (write NODEGROUP or karpenter:NODEPOOL)")
        for part in v.split(","):  # `--rotating ng-blue,ng-green` like --format
            name = part.strip()
            if not name or name == "karpenter:" or any(ch.isspace() for ch in name):
                raise ConfigError(f"{v!r} is not a node group name (write NODEGROUP or karpenter:NODEPOOL)")
            if name not in out:
                out.append(name)
    return tuple(out)


def _config_target(p: Path, raw: dict[str, Any]) -> str | None:
    target = raw.get("target-version")
    if isinstance(target, float):  # YAML reads 1.30 as the number 1.3: the version would be misread
        raise ConfigError(f'{p}: target-version: quote it, like "1.31" (unquoted, YAML reads it as the '
                          f"number {target!r}, which drops trailing zeros)")
    if target is None:
        return None
    try:
        return normalise_version(str(target))
    except ConfigError as exc:
        raise ConfigError(f"{p}: target-version: {exc}") from None


def normalise_version(text: str) -> str:
    """'1.31', 'v1.31' -> '1.31' (auditor.facts.versions); anything else is a ConfigError."""
    try:
        return versions.normalise_target(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
