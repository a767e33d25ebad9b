"""The default thread count: the CPUs this process may use, less data-loading workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xdsl import threads


@pytest.fixture
def three_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process confined to CPUs 0, 3 and 5 of a larger machine, with no cgroup quota."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    v2 = tmp_path / "cpu.max"
    monkeypatch.setattr(threads, "CGROUP_V2", v2)
    monkeypatch.setattr(threads, "CGROUP_V1", (tmp_path / "quota", tmp_path / "period"))
    return v2


def test_the_default_takes_the_affinity_mask_less_the_workers(three_cpus: Path) -> None:
    assert threads.available_cpus() == 3
    assert threads.default_threads(0, env={}) == 3
    assert threads.default_threads(1, env={}) == 2
    assert threads.default_threads(3, env={}) == 1  # never fewer than one
    assert threads.default_threads(8, env={}) == 1


def test_omp_num_threads_and_torchrun_processes(three_cpus: Path) -> None:
    assert threads.default_threads(0, env={"OMP_NUM_THREADS": "1"}) == 1
    assert threads.default_threads(2, env={"OMP_NUM_THREADS": "5"}) == 5  # the user's word
    assert threads.default_threads(0, env={"OMP_NUM_THREADS": "x"}) == 3  # not a count
    assert threads.default_threads(0, env={"LOCAL_WORLD_SIZE": "3"}) == 1  # 3 CPUs, 3 processes
    assert threads.default_threads(0, env={"LOCAL_WORLD_SIZE": "2"}) == 1


def test_an_explicit_count_wins(three_cpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads.choose_threads(None, workers=1) == 2
    assert threads.choose_threads(7, workers=1) == 7


def test_a_cgroup_quota_caps_the_cpus(three_cpus: Path, tmp_path: Path) -> None:
    three_cpus.write_text("150000 100000\n")  # docker --cpus 1.5
    assert threads.available_cpus() == 2
    three_cpus.write_text("max 100000\n")
    assert threads.available_cpus() == 3
    three_cpus.unlink()
    (tmp_path / "quota").write_text("100000\n")  # cgroup v1: one CPU
    (tmp_path / "period").write_text("100000\n")
    assert threads.available_cpus() == 1
    (tmp_path / "quota").write_text("-1\n")
    assert threads.available_cpus() == 3


def test_without_an_affinity_mask_the_machine_count(three_cpus: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    assert threads.available_cpus() == 64


STAT = "cpu  9 9 9 9 9 9 9 9\ncpu0 {} 0 0 {} 0 0 0 0\ncpu1 {} 0 0 {} 0 0 0 0\nintr 1\n"


def test_busy_cpus_are_counted_from_proc_stat() -> None:
    before = STAT.format(100, 100, 100, 100)
    after = STAT.format(190, 110, 110, 190)  # cpu0 busy 90 %, cpu1 10 %
    assert threads.busy_between(before, after, {0, 1}) == 1
    assert threads.busy_between(before, after, {1}) == 0
    assert threads.busy_between(before, STAT.format(190, 110, 190, 110), None) == 2


def test_the_note_says_when_threads_outnumber_the_idle_cpus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity", lambda: {0, 1})
    readings = iter([STAT.format(100, 100, 100, 100), STAT.format(190, 110, 110, 190)])
    note = threads.busy_note(2, interval=0, read=lambda: next(readings))
    assert note is not None and note.startswith("1 of the 2 CPUs this process may use were busy")
    assert note.endswith("try --threads 1")
    readings = iter([STAT.format(100, 100, 100, 100), STAT.format(190, 110, 110, 190)])
    assert threads.busy_note(1, interval=0, read=lambda: next(readings)) is None
    readings = iter([STAT.format(100, 100, 100, 100), STAT.format(110, 190, 110, 190)])
    assert threads.busy_note(2, interval=0, read=lambda: next(readings)) is None  # all idle
