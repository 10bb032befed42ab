"""What every command reads and checks before a rule runs: the config, the states, the target, the order."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from auditor.analysis import plan
from auditor.analysis.index import ClusterIndex
from auditor.engine.baseline import Baseline, load_baseline
from auditor.errors import ConfigError, InputError
from auditor.facts import versions
from auditor.facts.nodes import kubelet_version
from auditor.rules import ALL_RULES
from auditor.settings import Config, ReportSettings
from auditor.settings import load_config as _load_config
from auditor.state import snapshot
from auditor.state.clusterstate import ClusterState, format_time


def load_config(path: str | None) -> Config:
    return _load_config(path, {r.id for r in ALL_RULES}, explicit=path is not None)


def load_states(specs: list[str] | list[Path], default_namespace: str = "default") -> ClusterState:
    """INPUT arguments (files, folders, `-`) merged into one state, completeness judged on the merge; namespaced
    objects without a namespace read in `default_namespace` (kubectl apply's), with a notice."""
    return snapshot.load_inputs([str(s) for s in specs], default_namespace)


def baseline_of(report: ReportSettings) -> Baseline | None:
    """The --baseline report (read once, cached); a bad one is an InputError naming the file."""
    return load_baseline(report.baseline) if report.baseline is not None else None


def output_dir(out_dir: Path) -> None:
    """Create --output-dir before the long part of a run: a path that cannot be one is exit 2 at once."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {out_dir}: cannot create it ({exc.strerror or exc})") from None


def resolve_target(state: ClusterState, flag: str | None, config: Config, *, planning: bool) -> str | None:
    """--target-version, else config, else (with EKS data) the next minor for audit, AFTER's version for compare."""
    if flag:
        return versions.normalise_target(flag)
    if config.options.target_version:
        return config.options.target_version
    eks = state.eks_data
    if eks is not None:
        v = versions.parse(eks.cluster.version)
        if v is None:
            return None
        return str(v.next()) if planning else str(v)
    return None


def with_options(config: Config, target: str | None, rotating: tuple[str, ...] | None = None) -> Config:
    """The config the rules read: this run's target, and --rotating (which replaces the config's list)."""
    options = replace(config.options, target_version=target)
    if rotating:
        options = replace(options, rotating=tuple(rotating))
    return replace(config, options=options)


def check_target(states: list[ClusterState], flag: str | None, config: Config) -> None:
    """A target below the control plane is a downgrade EKS cannot do: a usage error (exit 2), never findings."""
    text = versions.normalise_target(flag) if flag else config.options.target_version
    if not text:
        return
    where = "--target-version" if flag else f"{config.path}: target-version"
    target = versions.parse(text)
    assert target is not None
    for st in states:
        eks = st.eks_data
        cp = versions.control_plane(st.server_version, eks.cluster.version if eks is not None else None)
        if cp is not None:
            if target < cp.version:
                source = "the API server's /version" if cp.source == "apiserver" else "EKS"
                raise ConfigError(f"{where}: {target} is below the control plane's version {cp.version} "
                                  f"({cp.text}, from {source}): EKS cannot downgrade; give the version you are "
                                  f"upgrading to (for example {cp.version.next()})")
            continue
        kubelets = [v for v in (versions.parse(kubelet_version(n)) for n in st.of("Node")) if v]
        if kubelets and target < max(kubelets):  # a control plane is never older than its kubelets
            raise ConfigError(f"{where}: {target} is below the newest kubelet ({max(kubelets)}), so below the "
                              "control plane: EKS cannot downgrade; give the version you are upgrading to")


def check_order(before: ClusterState, after: ClusterState, allow_reversed: bool) -> tuple[str, ...]:
    """BEFORE taken after AFTER means swapped arguments: exit 2 unless --allow-reversed (then a notice)."""
    if before.taken_at < after.taken_at:
        return ()
    b, a = format_time(before.taken_at), format_time(after.taken_at)
    if before.taken_at > after.taken_at and not allow_reversed:
        names = f"{before.inputs[0].path if before.inputs else 'BEFORE'} and " \
                f"{after.inputs[0].path if after.inputs else 'AFTER'}"
        raise InputError(names, f"BEFORE was taken at {b}, after AFTER ({a}): the arguments look swapped "
                                "(compare BEFORE AFTER); pass --allow-reversed to compare them in this order")
    return (f"BEFORE ({b}) is not older than AFTER ({a}): are the arguments swapped?",)


def check_rotating(state: ClusterState, flag: tuple[str, ...], config: Config) -> None:
    """A --rotating (or config `rotating:`) name that is no node group of the state is a usage error (exit 2)
    naming the known groups, checked before any rule runs."""
    names = flag or config.options.rotating
    if not names:
        return
    where = "--rotating" if flag else f"{config.path}: rotating"
    try:
        plan.check_rotating(ClusterIndex(state), names)
    except plan.UnknownGroupError as exc:
        raise ConfigError(f"{where}: {exc}") from None
