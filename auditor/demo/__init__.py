"""Bundled example cluster states for `upgrade-auditor demo`."""
