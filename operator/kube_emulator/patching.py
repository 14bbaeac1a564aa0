"""Patch arithmetic of the emulated API: JSON merge patch and JSON patch (pure).

``application/merge-patch+json`` follows RFC 7386. ``application/json-patch+json`` follows
RFC 6902 (add, remove, replace, move, copy, test). ``application/strategic-merge-patch+json``
and ``application/apply-patch+yaml`` are treated as merge patches: the emulator knows no
patch strategies, so lists are replaced, never merged by key. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH_TYPES",
    "PatchError",
    "apply_patch",
    "json_patch",
    "merge_patch",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH_TYPES = frozenset(
    {
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/json",  # lenient: some clients send a plain dict with this type
    }
)


class PatchError(ValueError):
    """The patch cannot be applied (the API answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``None`` deletes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _parse_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {pointer!r}")
    return [_unescape(token) for token in pointer[1:].split("/")]


def _resolve(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise PatchError(f"path not found: {token!r}")
            doc = doc[token]
        elif isinstance(doc, list):
            try:
                doc = doc[int(token)]
            except (ValueError, IndexError) as e:
                raise PatchError(f"bad list index: {token!r}") from e
        else:
            raise PatchError(f"cannot descend into a scalar at {token!r}")
    return doc


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as e:
                raise PatchError(f"bad list index: {last!r}") from e
            if not 0 <= index <= len(parent):
                raise PatchError(f"list index out of range: {index}")
            parent.insert(index, value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path not found: {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError) as e:
            raise PatchError(f"bad list index: {last!r}") from e
    raise PatchError("cannot remove from a scalar")


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 on a deep copy of ``target``."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, Mapping) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid operation: {operation!r}")
        op = operation["op"]
        tokens = _parse_pointer(operation["path"])
        match op:
            case "add":
                doc = _add(doc, tokens, copy.deepcopy(operation.get("value")))
            case "remove":
                _remove(doc, tokens)
            case "replace":
                _resolve(doc, tokens)  # must exist
                if tokens:
                    _remove(doc, tokens)
                doc = _add(doc, tokens, copy.deepcopy(operation.get("value")))
            case "move":
                value = _remove(doc, _parse_pointer(operation["from"]))
                doc = _add(doc, tokens, value)
            case "copy":
                value = copy.deepcopy(_resolve(doc, _parse_pointer(operation["from"])))
                doc = _add(doc, tokens, value)
            case "test":
                if _resolve(doc, tokens) != operation.get("value"):
                    raise PatchError(f"test failed at {operation['path']!r}")
            case _:
                raise PatchError(f"unknown operation: {op!r}")
    return doc


def apply_patch(target: Mapping[str, Any], patch: Any, *, content_type: str) -> dict[str, Any]:
    """Apply a patch of the given HTTP content type; the result is a new document."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_PATCH:
        result = json_patch(target, patch)
    elif media_type in MERGE_PATCH_TYPES or not media_type:
        if not isinstance(patch, Mapping):
            raise PatchError("a merge patch must be a JSON object")
        result = merge_patch(copy.deepcopy(dict(target)), patch)
    else:
        raise PatchError(f"unsupported patch type: {content_type!r}")
    if not isinstance(result, dict):
        raise PatchError("the patched document is not an object")
    return result
