"""The body parsing of recsys.api.routing: which bodies are JSON, how deep they nest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recsys.api.routing import MAX_DEPTH, _declares_json, decode_json, nesting_over


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ([], 1), ({}, 1), ({"events": [{"a": 1}]}, 3), (nested(32), 32), (nested(33), 33)],
)
def test_nesting_over_counts_objects_and_arrays(value: Any, depth: int) -> None:
    assert nesting_over(value, depth) is False
    assert nesting_over(value, depth - 1) is (depth > 0)


def test_nesting_over_walks_far_past_the_recursion_limit() -> None:
    assert nesting_over(nested(100_000), MAX_DEPTH) is True


def test_nesting_over_finds_the_deep_branch_among_shallow_ones() -> None:
    value = {"events": [{"a": 1}] * 1000 + [nested(MAX_DEPTH)]}
    assert nesting_over(value, MAX_DEPTH) is True


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_decode_json_refuses_numbers_json_has_no_value_for(literal: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON number"):
        decode_json(f'{{"k": {literal}}}'.encode())


def test_decode_json_reads_what_json_reads() -> None:
    body = '{"a": [1, 2.5, -0.0, 1e308, "é", null, true], "b": {"c": "\\ud83d\\ude00"}}'
    assert decode_json(body.encode()) == json.loads(body)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_decode_json_reads_the_encodings_json_loads_reads(encoding: str) -> None:
    assert decode_json('{"a": "é😀"}'.encode(encoding)) == {"a": "é😀"}


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_the_bodies_decoded_are_those_fastapi_decodes(
    content_type: str | None, is_json: bool
) -> None:
    assert _declares_json(content_type) is is_json
