"""The cyclic garbage collector paused around a batch: back on after the last block, off if it was off."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from loopwise.ingest import collector
from loopwise.ingest.collector import gc_paused, paused


def test_nested_blocks_turn_it_back_on_once() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(ValueError, match="boom"), paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_caller_who_turned_it_off_keeps_it_off() -> None:
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_threads_keep_it_off_until_the_last_ends() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    with paused():
        t.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread's block is still running
    leave.set()
    t.join(10)
    assert gc.isenabled()


def test_cycles_made_while_others_hold_it_off_are_still_collected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "YOUNG_LIMIT", 100)

    class Node:
        pass

    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    try:
        with paused():
            a, b = Node(), Node()
            a.other, b.other = b, a  # type: ignore[attr-defined]
            gone = weakref.ref(a)
            del a, b
            junk = [[i] for i in range(500)]  # tracked objects made meanwhile (alive: freeing uncounts them)
        assert not gc.isenabled()
        assert gone() is None  # the block that ended collected the young generations
        del junk
    finally:
        leave.set()
        t.join(10)
    assert gc.isenabled()


def test_the_decorator_keeps_the_function() -> None:
    @gc_paused
    def f(x: int, *, y: int = 1) -> tuple[bool, int]:
        return gc.isenabled(), x + y

    assert f(2, y=3) == (False, 5)
    assert f.__name__ == "f"
    assert gc.isenabled()
