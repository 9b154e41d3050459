"""JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902, with JSON Pointer, RFC 6901).

Both work on parsed JSON values and never change their input: the service
applies a patch to the document it read inside the write transaction, and a
patch that fails anywhere raises before anything is stored, so a PATCH is
all or nothing (RFC 6902 §5: "the entire PATCH request MUST NOT be
deemed successful").

Errors follow RFC 5789 §2.2: a malformed patch document is 400
(:class:`MalformedPatch`); a patch that cannot apply to the current state
(a failed ``test``, a path that does not exist) is 409
(:class:`PatchConflict`); a result too large to store is 422
(:class:`PatchTooLarge`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

JSON = Any
"""A parsed JSON value: dict, list, str, int, float, bool or None."""

MEDIA_MERGE_PATCH = "application/merge-patch+json"
MEDIA_JSON_PATCH = "application/json-patch+json"
_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


class PatchError(Exception):
    """A patch that cannot be applied; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, detail: str, *, index: int | None = None) -> None:
        super().__init__(detail if index is None else f"operation {index}: {detail}")
        self.index = index


class MalformedPatch(PatchError):
    """The patch document breaks its RFC's grammar (RFC 5789 §2.2: 400)."""

    status = 400


class PatchConflict(PatchError):
    """The patch does not apply to the current document (RFC 5789 §2.2: 409)."""

    status = 409


class PatchTooLarge(PatchError):
    """The patched document would exceed the size limit (422)."""

    status = 422


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """Apply an RFC 7396 merge patch, following the pseudo-code of §2.

    An object patch merges member by member (``null`` removes a member);
    any other patch value replaces the target.

    >>> merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}})
    {'a': 'z', 'c': {'d': 'e'}}
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def parse_pointer(text: Any) -> list[str]:
    """Split an RFC 6901 JSON Pointer into unescaped reference tokens.

    >>> parse_pointer("/a~1b/m~0n/0")
    ['a/b', 'm~n', '0']
    """
    if not isinstance(text, str):
        raise MalformedPatch("a JSON Pointer must be a string")
    if text == "":
        return []
    if not text.startswith("/"):
        raise MalformedPatch(f"JSON Pointer must be empty or start with '/': {text[:60]!r}")
    tokens = []
    for raw in text[1:].split("/"):
        stripped = raw.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise MalformedPatch(f"'~' must be followed by 0 or 1 in {text[:60]!r}")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def json_equal(left: JSON, right: JSON) -> bool:
    """Equality as RFC 6902 §4.6 defines it for ``test``.

    Unlike Python's ``==``, ``true`` is not ``1``; numbers compare by value.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return type(left) is type(right) and left == right


def validate_json_patch(operations: JSON) -> None:
    """Check a JSON Patch document's form (RFC 6902 §3-§4) without a target.

    The service calls this before its write transaction, so a malformed
    patch is a 400 without taking a lock.
    """
    if not isinstance(operations, list):
        raise MalformedPatch("a JSON Patch document is an array of operations (RFC 6902 §3)")
    for index, operation in enumerate(operations):
        try:
            _check(operation)
        except PatchError as error:
            raise type(error)(str(error), index=index) from None


def _check(operation: JSON) -> str:
    if not isinstance(operation, dict):
        raise MalformedPatch("an operation is a JSON object")
    op = operation.get("op")
    if not isinstance(op, str) or op not in _OPS:
        raise MalformedPatch(f"'op' must be one of {sorted(_OPS)}, not {op!r}")
    parse_pointer(_member(operation, "path"))
    if op in {"add", "replace", "test"}:
        _member(operation, "value")
    if op in {"move", "copy"}:
        parse_pointer(_member(operation, "from"))
    return str(op)


def apply_json_patch(document: JSON, operations: JSON, *, max_bytes: int | None = None) -> JSON:
    """Apply an RFC 6902 JSON Patch and return the new document.

    ``max_bytes`` bounds the growth a run of ``copy`` operations could
    cause (each can double the document): the serialized size of every
    copied value is added to a running estimate, and exceeding the bound
    raises :class:`PatchTooLarge` before memory is spent on it.

    >>> apply_json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}])
    {'a': [1, 2]}
    """
    if not isinstance(operations, list):
        raise MalformedPatch("a JSON Patch document is an array of operations (RFC 6902 §3)")
    result = copy.deepcopy(document)
    estimate = _size(result)
    for index, operation in enumerate(operations):
        try:
            result, grown = _apply(result, operation)
        except PatchError as error:
            raise type(error)(str(error), index=index) from None
        estimate += grown
        if max_bytes is not None and estimate > max_bytes:
            raise PatchTooLarge(f"the patched document would exceed {max_bytes} bytes", index=index)
    return result


def _size(value: JSON) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _member(operation: dict[str, Any], name: str) -> Any:
    if name not in operation:
        raise MalformedPatch(f"{operation['op']!r} needs a {name!r} member")
    return operation[name]


def _apply(document: JSON, operation: JSON) -> tuple[JSON, int]:
    """One operation (RFC 6902 §4); returns the document and the bytes a copy added."""
    op = _check(operation)
    path = parse_pointer(_member(operation, "path"))
    if op == "add":
        return _add(document, path, copy.deepcopy(_member(operation, "value"))), 0
    if op == "remove":
        return _remove(document, path)[0], 0
    if op == "replace":
        value = copy.deepcopy(_member(operation, "value"))
        _get(document, path)
        if not path:
            return value, 0
        return _add(_remove(document, path)[0], path, value), 0
    if op == "test":
        if not json_equal(_get(document, path), _member(operation, "value")):
            raise PatchConflict(f"test failed: the value at {operation['path']!r} differs")
        return document, 0
    source = parse_pointer(_member(operation, "from"))
    if op == "move":
        if path[: len(source)] == source and len(path) > len(source):
            raise PatchConflict("'from' may not be a proper prefix of 'path' (RFC 6902 §4.4)")
        document, value = _remove(document, source)
        return _add(document, path, value), 0
    value = copy.deepcopy(_get(document, source))
    return _add(document, path, value), _size(value)


def _index(container: list[Any], reference: str, *, append: bool) -> int:
    if append and reference == "-":
        return len(container)
    digits = reference.isascii() and reference.isdigit()
    if not digits or (reference != "0" and reference.startswith("0")):
        raise PatchConflict(f"{reference[:40]!r} is not an array index")
    index = int(reference)
    if index > len(container) or (index == len(container) and not append):
        raise PatchConflict(f"array index {index} is out of range")
    return index


def _get(document: JSON, path: list[str]) -> JSON:
    value = document
    for token in path:
        if isinstance(value, dict):
            if token not in value:
                raise PatchConflict(f"no member {token[:40]!r}")
            value = value[token]
        elif isinstance(value, list):
            value = value[_index(value, token, append=False)]
        else:
            raise PatchConflict(f"cannot descend into a scalar at {token[:40]!r}")
    return value


def _add(document: JSON, path: list[str], value: JSON) -> JSON:
    if not path:
        return value
    parent, token = _get(document, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, append=True), value)
    else:
        raise PatchConflict("the parent of the target is not an object or an array")
    return document


def _remove(document: JSON, path: list[str]) -> tuple[JSON, JSON]:
    if not path:
        raise PatchConflict("the whole document cannot be removed")
    parent, token = _get(document, path[:-1]), path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchConflict(f"no member {token[:40]!r} to remove")
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, token, append=False))
    raise PatchConflict("the parent of the target is not an object or an array")
