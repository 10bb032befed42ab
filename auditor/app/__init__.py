"""Orchestration, one function per command: inputs -> state -> engine -> `AuditResult` -> reports, and
verify's live loop (list, watch, follow, conclude).

Returns results and texts; prints nothing and knows nothing of click. May import every stage below it
(collect, report, engine, settings, rules, analysis, facts, state); only `auditor.cli` imports it.
"""
