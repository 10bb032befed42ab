"""Reports from an `AuditResult` alone: the view model, the json / md / html / junit renderers, the terminal
summary, evidence blocks, and the upload of written reports to S3.

May import `auditor.model`, `auditor.errors`, `auditor.settings` and the templates (`auditor.reports`); never
rules, the engine, analysis, collectors or the CLI: a renderer knows the result, not how it was reached.
"""
