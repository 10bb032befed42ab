"""The engine: runs rules in isolation (a crashing rule is a finding), applies config excludes, annotations
and baselines in one place, and owns the convergence verdict (which findings mean "not converged", per state, per
Service and while following a live cluster).

May import `auditor.rules`, `auditor.settings`, `auditor.analysis`, `auditor.facts`, `auditor.state` and
`auditor.model`; never collectors, reports, the app or the CLI.
"""
