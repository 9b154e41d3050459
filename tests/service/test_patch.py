"""RFC 7396 merge patch and RFC 6902 JSON Patch, checked against the RFCs' own examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.service.patch import (
    MalformedPatch,
    PatchConflict,
    PatchError,
    PatchTooLarge,
    apply_json_patch,
    json_equal,
    merge_patch,
    parse_pointer,
    validate_json_patch,
)

# RFC 7396 Appendix A, row by row.
MERGE_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [pytest.param(*row, id=f"RFC 7396 A.{n}") for n, row in enumerate(MERGE_EXAMPLES, 1)],
)
def test_merge_patch_rfc7396_appendix_a(target: Any, patch: Any, result: Any) -> None:
    original = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == original  # the input is never changed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values, json_values)
def test_merge_patch_never_mutates_and_is_idempotent(target: Any, patch: Any) -> None:
    original = copy.deepcopy(target)
    once = merge_patch(target, patch)
    assert target == original
    assert merge_patch(once, patch) == once  # RFC 7396 §1: applying twice changes nothing more


# RFC 6902 Appendix A (A.1-A.16), as (document, patch, result or error class).
JSON_PATCH_EXAMPLES: list[Any] = [
    (
        "A.1 add object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 add array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 remove object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 remove array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replace a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 move a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 move an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 test success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.9 test error",
        {"baz": "qux"},
        [{"op": "test", "path": "/baz", "value": "bar"}],
        PatchConflict,
    ),
    (
        "A.10 add nested member",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignore unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.12 add to nonexistent target",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        PatchConflict,
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.15 comparing strings and numbers",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": "10"}],
        PatchConflict,
    ),
    (
        "A.16 add array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    ("§4.2 remove missing", {"a": 1}, [{"op": "remove", "path": "/b"}], PatchConflict),
    (
        "§4.3 replace missing",
        {"a": 1},
        [{"op": "replace", "path": "/b", "value": 2}],
        PatchConflict,
    ),
    (
        "§4.1 index past the end",
        {"a": [1]},
        [{"op": "add", "path": "/a/2", "value": 2}],
        PatchConflict,
    ),
    ("§4 leading zero index", {"a": [1, 2]}, [{"op": "remove", "path": "/a/01"}], PatchConflict),
    (
        "§4.4 move into own child",
        {"a": {"b": 1}},
        [{"op": "move", "from": "/a", "path": "/a/b"}],
        PatchConflict,
    ),
    (
        "§4.5 copy",
        {"a": {"b": 1}},
        [{"op": "copy", "from": "/a", "path": "/c"}],
        {"a": {"b": 1}, "c": {"b": 1}},
    ),
    ("§4.1 replace the root", {"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
    (
        "§5 all or nothing",
        {"a": 1},
        [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 2}],
        PatchConflict,
    ),
    ("§4.6 true is not 1", {"a": True}, [{"op": "test", "path": "/a", "value": 1}], PatchConflict),
    ("§4.6 1 equals 1.0", {"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], {"a": 1}),
]


@pytest.mark.parametrize(
    ("document", "patch", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in JSON_PATCH_EXAMPLES],
)
def test_json_patch_rfc6902(document: Any, patch: Any, expected: Any) -> None:
    original = copy.deepcopy(document)
    if isinstance(expected, type):
        with pytest.raises(expected):
            apply_json_patch(document, patch)
    else:
        assert apply_json_patch(document, patch) == expected
    assert document == original  # a failed or successful patch never changes its input


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({"op": "add"}, id="§3 not an array"),
        pytest.param([{"path": "/a", "value": 1}], id="§4 op missing"),
        pytest.param([{"op": "frobnicate", "path": "/a"}], id="§4 unknown op"),
        pytest.param([{"op": "add", "path": "/a"}], id="§4.1 value missing"),
        pytest.param([{"op": "copy", "path": "/a"}], id="§4.5 from missing"),
        pytest.param([{"op": "add", "path": "a", "value": 1}], id="RFC 6901 no leading slash"),
        pytest.param([{"op": "add", "path": "/a~2", "value": 1}], id="RFC 6901 bad escape"),
        pytest.param(["add"], id="§4 operation not an object"),
        pytest.param([{"op": {}, "path": ""}], id="§4 op not a string (found by schemathesis)"),
    ],
)
def test_malformed_patches_are_400(patch: Any) -> None:
    with pytest.raises(MalformedPatch) as error:
        validate_json_patch(patch)
    assert error.value.status == 400
    with pytest.raises(MalformedPatch):
        apply_json_patch({"a": 1}, patch)


def test_copy_amplification_is_bounded() -> None:
    doubling = [{"op": "copy", "from": "", "path": f"/k{n}"} for n in range(64)]
    with pytest.raises(PatchTooLarge) as error:
        apply_json_patch({"k": "x" * 100}, doubling, max_bytes=100_000)
    assert error.value.status == 422


def test_error_names_the_operation() -> None:
    patch = [{"op": "add", "path": "/b", "value": 1}, {"op": "remove", "path": "/zz"}]
    with pytest.raises(PatchError, match="operation 1"):
        apply_json_patch({}, patch)


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        pytest.param("", [], id="RFC 6901 §5 whole document"),
        pytest.param("/foo/0", ["foo", "0"], id="RFC 6901 §5 /foo/0"),
        pytest.param("/", [""], id="RFC 6901 §5 empty key"),
        pytest.param("/a~1b", ["a/b"], id="RFC 6901 §4 ~1"),
        pytest.param("/m~0n", ["m~n"], id="RFC 6901 §4 ~0"),
        pytest.param("/~01", ["~1"], id="RFC 6901 §4 ~01 is ~1 not /"),
    ],
)
def test_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (None, False, False),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("1", 1, False),
    ],
)
def test_json_equal_rfc6902_4_6(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal
    assert json_equal(right, left) is equal
