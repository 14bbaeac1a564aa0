"""``kubectl sj tree NAME``: a ScheduledJob's pipeline graph (``spec.dependsOn``), upstreams and downstreams.

Pure: given the ScheduledJobs of one namespace, it draws the node, then the tree of what it runs
after (its upstreams, theirs, ...) and the tree of what runs after it, each node with its last
result. A name that is not there is shown ``(missing)``; a cycle is cut where it closes, ``(cycle)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kubectl_sj.objects import ScheduledJob

__all__ = ["depends_on", "pipeline_tree", "upstream_cell"]

_NONE = "<none>"


def depends_on(sj: ScheduledJob) -> list[str]:
    """The upstream names as written in ``spec.dependsOn`` (``namespace/name`` when another namespace is named)."""
    out = []
    for dep in sj.raw_spec.get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            ns = dep.get("namespace")
            out.append(f"{ns}/{dep['name']}" if ns and ns != sj.namespace else str(dep["name"]))
    return out


def upstream_cell(sj: ScheduledJob) -> str:
    """The UPSTREAM column of ``kubectl sj list``."""
    return ",".join(depends_on(sj)) or _NONE


def _label(name: str, by_name: Mapping[str, ScheduledJob]) -> str:
    sj = by_name.get(name)
    if sj is None:
        return f"{name}  (missing)"
    waiting = sum(1 for q in sj.status.queued if q.reason == "WaitingForUpstream")
    extra = f", {waiting} waiting for upstream" if waiting else ""
    return f"{name}  {sj.status.lastResult or _NONE}{extra}"


def _draw(
    name: str,
    children: Callable[[str], list[str]],
    by_name: Mapping[str, ScheduledJob],
    *,
    prefix: str,
    path: tuple[str, ...],
    lines: list[str],
) -> None:
    kids = children(name)
    for i, kid in enumerate(kids):
        last = i == len(kids) - 1
        branch, deeper = ("└── ", "    ") if last else ("├── ", "│   ")
        if kid in path:
            lines.append(f"{prefix}{branch}{kid}  (cycle)")
            continue
        lines.append(f"{prefix}{branch}{_label(kid, by_name)}")
        _draw(kid, children, by_name, prefix=prefix + deeper, path=(*path, kid), lines=lines)


def pipeline_tree(name: str, items: Sequence[ScheduledJob]) -> str:
    """The node, its upstreams' tree and its downstreams' tree, as text."""
    by_name = {sj.name: sj for sj in items}
    downstreams: dict[str, list[str]] = {}
    for sj in items:
        for up in depends_on(sj):
            downstreams.setdefault(up, []).append(sj.name)

    def ups(n: str) -> list[str]:
        return depends_on(by_name[n]) if n in by_name else []

    def downs(n: str) -> list[str]:
        return sorted(downstreams.get(n, []))

    lines = [_label(name, by_name)]
    for title, children in (("upstreams (runs after):", ups), ("downstreams (run after it):", downs)):
        lines.append(title)
        before = len(lines)
        _draw(name, children, by_name, prefix="", path=(name,), lines=lines)
        if len(lines) == before:
            lines.append(_NONE)
    return "\n".join(lines) + "\n"
