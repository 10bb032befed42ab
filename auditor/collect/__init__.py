"""Collectors: the only code that talks to clusters (the kubernetes client: `kube`, with `kubeconfig` and
`failures`; snapshots: `listing`, `live`; following: `watch`, `watchfeed`, `livestate`, `stream`) and to AWS
(boto3: `eks`, and `s3` for the reports a fleet report gathers).

Owns paging, watches, deadlines, retries and the projection of each kind (what a snapshot keeps; never secrets).
May import `auditor.state` (to write snapshots), `auditor.facts.versions`, `auditor.errors` and
`auditor.interrupts`; never facts beyond versions, analysis, rules, the engine or reports.
"""
