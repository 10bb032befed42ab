"""The cluster state as data: typed objects and the kinds registry, bounded inputs (files, stdin, folders),
snapshot read/write, `ClusterState`, the typed EKS section, and verify's recordings.

Owns every file format the tool reads or writes for a state. May import `auditor.model`, `auditor.errors` and the
standard library (plus msgspec, orjson, PyYAML); never facts, analysis, rules, the engine, reports, collectors or
clients: everything above reads the state, the state reads nothing above it.
"""
