"""Collectors: the only code that talks to clusters (kube.py, live.py) and to AWS (eks.py)."""
