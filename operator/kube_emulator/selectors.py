"""Label and field selectors of the Kubernetes list/watch API (pure).

Parses ``labelSelector`` (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``,
``a notin (x,y)``) and ``fieldSelector`` (``metadata.name``, ``metadata.namespace`` and any
other dotted path with ``=``, ``==``, ``!=``) into predicates over object bodies.
No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Body",
    "FieldRequirement",
    "LabelOp",
    "LabelRequirement",
    "Selector",
    "SelectorError",
    "parse_field_selector",
    "parse_label_selector",
]

Body = Mapping[str, Any]
LabelOp = Literal["=", "!=", "exists", "!exists", "in", "notin"]

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """A selector string that cannot be parsed (the API answers 400 BadRequest)."""


@dataclass(frozen=True)
class LabelRequirement:
    """One comma-separated term of a label selector."""

    key: str
    op: LabelOp
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.op:
            case "=":
                return labels.get(self.key) in self.values
            case "!=":
                return labels.get(self.key) not in self.values
            case "exists":
                return self.key in labels
            case "!exists":
                return self.key not in labels
            case "in":
                return labels.get(self.key) in self.values
            case "notin":
                return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class FieldRequirement:
    """One comma-separated term of a field selector, e.g. ``metadata.name=x``."""

    path: tuple[str, ...]
    value: str
    negated: bool = False

    def matches(self, body: Body) -> bool:
        current: Any = body
        for part in self.path:
            current = current.get(part) if isinstance(current, Mapping) else None
        actual = "" if current is None else str(current)
        return (actual == self.value) != self.negated


@dataclass(frozen=True)
class Selector:
    """A conjunction of label and field requirements; empty matches everything."""

    labels: tuple[LabelRequirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    def matches(self, body: Body) -> bool:
        if self.labels:
            labels = body.get("metadata", {}).get("labels") or {}
            if not all(req.matches(labels) for req in self.labels):
                return False
        return all(req.matches(body) for req in self.fields)

    @property
    def name(self) -> str | None:
        """The exact name if the selector pins ``metadata.name`` (an index lookup then suffices)."""
        for req in self.fields:
            if req.path == ("metadata", "name") and not req.negated:
                return req.value
        return None

    @classmethod
    def parse(cls, *, labels: str | None, fields: str | None) -> Selector:
        return cls(labels=parse_label_selector(labels or ""), fields=parse_field_selector(fields or ""))


def _split_terms(text: str) -> list[str]:
    """Split by commas that are not inside ``(...)`` of set-based terms."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def parse_label_selector(text: str) -> tuple[LabelRequirement, ...]:
    requirements: list[LabelRequirement] = []
    for term in _split_terms(text):
        if match := _SET_RE.match(term):
            key, op, raw_values = match.groups()
            values = frozenset(v.strip() for v in raw_values.split(",") if v.strip())
            requirements.append(LabelRequirement(key, "in" if op == "in" else "notin", values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            requirements.append(LabelRequirement(key.strip(), "!=", frozenset([value.strip()])))
        elif "==" in term or "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            requirements.append(LabelRequirement(key.strip(), "=", frozenset([value.strip()])))
        elif term.startswith("!"):
            requirements.append(LabelRequirement(term[1:].strip(), "!exists"))
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", term):
            requirements.append(LabelRequirement(term, "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return tuple(requirements)


def parse_field_selector(text: str) -> tuple[FieldRequirement, ...]:
    requirements: list[FieldRequirement] = []
    for term in _split_terms(text):
        if "!=" in term:
            key, value = term.split("!=", 1)
            negated = True
        elif "==" in term:
            key, value = term.split("==", 1)
            negated = False
        elif "=" in term:
            key, value = term.split("=", 1)
            negated = False
        else:
            raise SelectorError(f"invalid field selector: {term!r}")
        path = tuple(key.strip().split("."))
        requirements.append(FieldRequirement(path, value.strip(), negated))
    return tuple(requirements)
