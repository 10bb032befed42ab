"""What every format rendered from one result reads, computed once for all of them: the view model (Markdown and
HTML) and each finding's evidence blocks (the HTML's findings data and the JUnit failure bodies).

At 6,000 findings each format built its own copies, and that was most of the reports' cost after the rules. A
renderer called alone builds its own `Prepared`; `auditor.report.render.render_all` hands one to every format."""
from __future__ import annotations

from functools import cached_property
from typing import Any

from auditor.model import AuditResult, Finding
from auditor.report import evidence
from auditor.report.view import build_view


class Prepared:
    """One result's shared report material. Read only: the formats share these objects, none may change them.

    `keep_blocks` off (the last format that reads blocks is rendering): each finding's blocks are handed out once
    and dropped, so that they do not add to the memory of the last document (10 MB of blocks for 6,000
    findings, beside a 12 MB JUnit document)."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self.keep_blocks = True
        # id(finding) -> (the finding, its blocks): the finding is kept so that its id cannot be reused meanwhile
        self._blocks: dict[int, tuple[Finding, list[evidence.Block]]] = {}

    @cached_property
    def view(self) -> dict[str, Any]:
        """auditor.report.view.build_view of the result."""
        return build_view(self.result)

    def blocks(self, f: Finding) -> list[evidence.Block]:
        """The finding's evidence as evidence.blocks gives it (the default row limit)."""
        hit = self._blocks.pop(id(f), None) if not self.keep_blocks else self._blocks.get(id(f))
        if hit is not None and hit[0] is f:
            return hit[1]
        made = evidence.blocks(f.evidence)
        if self.keep_blocks:
            self._blocks[id(f)] = (f, made)
        return made

    def drop(self, *, blocks: bool = False, view: bool = False) -> None:
        """Free what no format left to render reads."""
        if blocks:
            self._blocks.clear()
        if view:
            self.__dict__.pop("view", None)  # cached_property keeps it there


#: The formats that read each part (auditor.report.render frees a part once none of them is left to render).
READS_BLOCKS = frozenset({"html", "junit"})
READS_VIEW = frozenset({"html", "md"})


def prepared(result: AuditResult, given: Prepared | None) -> Prepared:
    """`given` when it was made for this very result, else a new one."""
    return given if given is not None and given.result is result else Prepared(result)
