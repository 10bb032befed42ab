"""`rules` and `explain`: the rule catalogue as text, from the rules' own metadata and docstrings."""
from __future__ import annotations

import orjson

from auditor.errors import ConfigError
from auditor.rules import ALL_RULES, by_id


def rules_listing(fmt: str = "text") -> str:
    """`upgrade-auditor rules`: a table, or (json) one array with one object per rule, stable keys."""
    if fmt == "json":
        # like `ruff rule --all --output-format json`
        data = [{"id": r.id, "severity": r.severity.label, "title": r.title, "family": r.mode,
                 "commands": sorted(r.commands), "convergence": r.convergence, "needs": sorted(r.needs),
                 "options": list(r.options), "docs": r.docs} for r in ALL_RULES]
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    width = max(len(r.id) for r in ALL_RULES)
    return "\n".join(f"{r.id.ljust(width)}  {r.severity.label:<7}  {r.mode:<6}  {r.title}" for r in ALL_RULES)


def explanation(rule_id: str) -> str:
    """`upgrade-auditor explain RULE`: the rule's documentation, the same text the reports show."""
    r = by_id(rule_id)
    if r is None:
        raise ConfigError(f"unknown rule {rule_id!r}; `upgrade-auditor rules` lists them")
    parts = [f"{r.id} ({r.severity.label}): {r.title}\n"]
    parts += [f"## {section}\n{text}\n" for section, text in r.docs.items()]
    return "\n".join(parts)
