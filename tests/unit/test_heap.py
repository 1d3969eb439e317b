"""``freeze_long_lived``: start-up's objects leave the collector's passes; a reload frees cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from recsys.service.heap import freeze_long_lived, thaw


class Node:
    """A tracked object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    thaw()


def test_frozen_objects_are_not_walked_by_a_full_collection() -> None:
    kept = [Node() for _ in range(1_000)]
    freeze_long_lived()
    assert gc.get_freeze_count() >= len(kept)
    # A full pass now finds none of them among the tracked objects it walks.
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in walked for node in kept)


def test_a_reload_freeze_frees_the_cycles_of_what_it_replaced() -> None:
    old = Node()
    old.other = Node()
    old.other.other = old  # a cycle: reference counting alone never frees it
    alive = weakref.ref(old)
    freeze_long_lived()
    del old
    gc.collect()
    assert alive() is not None, "frozen cycles survive a collection"
    freeze_long_lived(collect_first=True)
    assert alive() is None
    assert gc.get_freeze_count() > 0


def test_thaw_gives_everything_back() -> None:
    freeze_long_lived()
    thaw()
    assert gc.get_freeze_count() == 0
