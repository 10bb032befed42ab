"""Pure Kubernetes facts, each once: Pods (IPs, readiness, phase, node), Nodes, Services (selector, families,
ports), EndpointSlices (writer, ready endpoints, what kube-proxy programs), v1 Endpoints, workloads and disruption
budgets, versions and the skew policy, EKS compatibility, and the ready-to-paste fix commands built from them.

Functions of objects only: no index, no clock, no I/O. May import `auditor.state` (typed objects) and
`auditor.model`; never analysis, rules, the engine, reports, collectors or clients. Each module has a
table-driven test file in tests/facts/.
"""
