"""The load-following thread count (:mod:`moola.threads`) at its boundaries, fast: the core
count, the load and torch's default are monkeypatched, nothing trains. (The end-to-end
check, a run that follows the load, is tests/unit/test_threads.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import moola.threads as threads
from moola.threads import AutoThreads, choose_threads


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- choose_threads


@pytest.mark.parametrize(
    ("cores", "load", "own", "cap", "expected"),
    [
        (1, None, 0, None, 1),  # one core, no load average: one thread, not two
        (4, None, 0, 2, 2),  # no load average: torch's default when it is below the cores
        (4, None, 0, 8, 4),  # ... and the cores when the default is above them
        (4, None, 3, None, 4),  # own threads do not matter without a load average
        (4, 1.5, 0, None, 3),  # 2.5 free rounds half up to 3
        (4, 1.51, 0, None, 2),  # 2.49 free rounds to 2
        (4, 0.5, 0, None, 4),  # 3.5 free rounds up to 4
        (4, 0.0, 0, 0, 4),  # a cap of 0 means no cap
        (4, 9.0, 0, None, 1),  # overloaded: never below one thread
        (4, 0.0, 0, 1, 1),  # an idle machine still stops at torch's default
        (4, 2.0, 3, None, 4),  # our own threads exceed the load (it lags): all cores free
        (4, 3.0, 1, None, 2),  # our 1 thread is part of the load of 3: 2 others, 2 free
        (8, 6.0, 4, 6, 6),  # our 4 + 2 others on 8 cores: 6 free, 6 allowed
    ],
)
def test_choose_threads_boundaries(
    cores: int, load: float | None, own: int, cap: int | None, expected: int
) -> None:
    assert choose_threads(cores, load, own=own, cap=cap) == expected


def test_own_defaults_to_zero_threads() -> None:
    """A first count (no threads of our own yet) takes the whole load as other work."""
    assert choose_threads(4, 2.0) == 2
    assert choose_threads(4, 2.0, cap=None) == choose_threads(4, 2.0, own=0)


LOADS = st.one_of(st.none(), st.floats(0.0, 64.0, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(
    cores=st.integers(1, 32),
    load=LOADS,
    own=st.integers(0, 32),
    cap=st.one_of(st.none(), st.integers(1, 64)),
)
def test_the_count_is_within_one_and_the_limit(
    cores: int, load: float | None, own: int, cap: int | None
) -> None:
    n = choose_threads(cores, load, own=own, cap=cap)
    limit = min(cores, cap) if cap else cores
    assert isinstance(n, int) and 1 <= n <= limit
    if load is None or load <= own:  # nothing else runs: every allowed core
        assert n == limit


EIGHTHS = st.integers(0, 512).map(lambda i: i / 8)  # exact in binary: sums do not round


@settings(max_examples=200, deadline=None)
@given(cores=st.integers(1, 32), load=EIGHTHS, extra=EIGHTHS, own=st.integers(0, 8))
def test_more_load_never_gives_more_threads_and_own_threads_count_as_free(
    cores: int, load: float, extra: float, own: int
) -> None:
    assert choose_threads(cores, load + extra, own=own) <= choose_threads(cores, load, own=own)
    # own threads are part of the load: counting them is the same as a lighter load
    assert choose_threads(cores, load + own, own=own) == choose_threads(cores, load)


# ---------------------------------------------------------------- what the OS reports


def test_cores_follow_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert threads.cores() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {7}, raising=False)
    assert threads.cores() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(), raising=False)
    assert threads.cores() == 1  # never zero


@pytest.mark.parametrize("error", [AttributeError, OSError])
def test_cores_fall_back_to_the_cpu_count(monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    def no_affinity(pid: int) -> set[int]:
        raise error("no affinity here")

    monkeypatch.setattr(os, "sched_getaffinity", no_affinity, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert threads.cores() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert threads.cores() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 0)
    assert threads.cores() == 1


def test_cores_without_sched_getaffinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert threads.cores() == 3


def test_load_average_is_the_one_minute_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (1.25, 2.5, 3.75), raising=False)
    value = threads.load_average()
    assert value == 1.25 and isinstance(value, float)


@pytest.mark.parametrize("error", [AttributeError, OSError])
def test_no_load_average_is_none(monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise error("no load average")

    monkeypatch.setattr(os, "getloadavg", unavailable, raising=False)
    assert threads.load_average() is None


# ---------------------------------------------------------------- AutoThreads


def machine(
    monkeypatch: pytest.MonkeyPatch, *, cores: int, default: int, loads: list[float | None]
) -> None:
    """A machine with ``cores`` cores, torch's default ``default``, and these load readings."""
    readings = iter(loads)
    monkeypatch.setattr(threads, "cores", lambda: cores)
    monkeypatch.setattr(threads, "TORCH_DEFAULT_THREADS", default)
    monkeypatch.setattr(threads, "load_average", lambda: next(readings))


def test_start_takes_the_free_cores_up_to_torchs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cores=8, default=3, loads=[0.0])
    auto = AutoThreads()
    assert auto.cap == 3 and auto.threads == 3 == torch.get_num_threads()


def test_start_counts_the_whole_load_as_other_work(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cores=4, default=4, loads=[1.0])
    assert AutoThreads().threads == 3 == torch.get_num_threads()


def test_update_counts_its_own_threads_as_free(monkeypatch: pytest.MonkeyPatch) -> None:
    # alone at the start (4 threads); then the load is our own 4: keep them; then 2 others
    # arrive (load 6): drop to 2; then they leave (load 2 = ours): back to 4
    machine(monkeypatch, cores=4, default=4, loads=[0.0, 4.0, 6.0, 2.0])
    auto = AutoThreads()
    assert auto.threads == 4
    assert auto.update() == 4 == auto.threads == torch.get_num_threads()
    assert auto.update() == 2 == auto.threads == torch.get_num_threads()
    assert auto.update() == 4 == auto.threads == torch.get_num_threads()


def test_update_stays_below_torchs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cores=8, default=2, loads=[5.0, 0.0, None])
    auto = AutoThreads()
    assert auto.threads == 2  # 3 free, capped at 2
    assert auto.update() == 2 == torch.get_num_threads()  # 8 free, capped
    assert auto.update() == 2  # the load average disappeared: the cap, not the cores


def test_update_reads_the_load_again(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cores=4, default=4, loads=[3.0, 0.0])
    auto = AutoThreads()
    assert auto.threads == 1 == torch.get_num_threads()
    assert auto.update() == 4 == auto.threads == torch.get_num_threads()


def test_update_leaves_torch_alone_when_the_count_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    machine(monkeypatch, cores=4, default=4, loads=[2.0, 4.0])
    auto = AutoThreads()
    assert auto.threads == 2
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    assert auto.update() == 2  # the load of 4 holds our 2 threads: 2 others, 2 free
    assert calls == []
