"""Analysis of one state or a pair: the `ClusterIndex`, the desired state per Service, the reconcile engine
(discrepancies and whether they are in flight), the rotation plan, the blast radius, the timeline of a followed
upgrade, and the EKS view.

Pure: no I/O, no clients, no clock (the state carries its time). May import `auditor.facts`, `auditor.state` and
`auditor.model`; never rules, the engine, reports, collectors or the CLI. Rules build on it.
"""
