"""A minimal decoder of Kubernetes protobuf request bodies (pure).

client-go's generated clients always send built-in types as ``application/vnd.kubernetes.protobuf``
(e.g. ``kubectl create namespace``). The emulator has no schemas for all the built-in types, so it
decodes only the envelope, the ObjectMeta that every top-level type has as field 1, and the
bodies of a few simple kinds (Namespace, ConfigMap). Anything else is answered 415, and the
caller should send JSON (``kubectl apply`` and all dynamic clients do).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOBUF", "ProtobufError", "decode_object"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body cannot be decoded (or the kind is not supported)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a string")
    return value.decode()


def _map(entries: list[int | bytes]) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, bytes):
            pairs = dict(_fields(entry))
            result[_text(pairs.get(1, b""))] = _text(pairs.get(2, b""))
    return result


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    labels: list[int | bytes] = []
    annotations: list[int | bytes] = []
    finalizers: list[str] = []
    for number, value in _fields(data):
        if number == 1:
            meta["name"] = _text(value)
        elif number == 2:
            meta["generateName"] = _text(value)
        elif number == 3:
            meta["namespace"] = _text(value)
        elif number == 11:
            labels.append(value)
        elif number == 12:
            annotations.append(value)
        elif number == 14:
            finalizers.append(_text(value))
    if labels:
        meta["labels"] = _map(labels)
    if annotations:
        meta["annotations"] = _map(annotations)
    if finalizers:
        meta["finalizers"] = finalizers
    return meta


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a protobuf-encoded Namespace or ConfigMap into its JSON form."""
    if not body.startswith(_MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body")
    envelope = dict(_fields(body[len(_MAGIC) :]))
    type_bytes = envelope.get(1)
    type_meta = dict(_fields(type_bytes)) if isinstance(type_bytes, bytes) else {}
    api_version = _text(type_meta.get(1, b""))
    kind = _text(type_meta.get(2, b""))
    raw = envelope.get(2, b"")
    if not isinstance(raw, bytes):
        raise ProtobufError("no raw object in the envelope")
    fields = _fields(raw)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    data: list[int | bytes] = []
    for number, value in fields:
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _object_meta(value)
        elif kind == "ConfigMap" and number == 2:
            data.append(value)
        elif kind == "ConfigMap" and number == 4:
            obj["immutable"] = bool(value)
        elif kind not in ("Namespace", "ConfigMap"):
            raise ProtobufError(f"protobuf bodies of {kind or 'this kind'} are not supported; send JSON")
    if data:
        obj["data"] = _map(data)
    return obj
