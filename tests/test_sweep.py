"""kws.sweep: points computed in parallel worker processes give the same results as one by
one, finished points are never recomputed, and a failing worker is a clear error that keeps
what was done."""

import os

import pytest
import torch

from kws.errors import KwsError
from kws.sweep import PointCache, compute_points


def _point(seed: int) -> dict:
    """A small seeded torch computation (what a sweep point does, in miniature)."""
    torch.manual_seed(seed)
    w = torch.randn(64, 64)
    x = torch.randn(256, 64)
    return {"value": float((x @ w).relu().sum()), "threads": torch.get_num_threads(),
            "pid": os.getpid()}


def _tasks(n=5):
    return [({"point": "toy", "seed": s}, lambda s=s: _point(s)) for s in range(n)]


def test_workers_give_the_results_of_one_process(tmp_path):
    one = compute_points(_tasks(), PointCache(tmp_path / "a"), workers=1, progress=False)
    two = compute_points(_tasks(), PointCache(tmp_path / "b"), workers=2, progress=False)
    assert [r["value"] for r, _ in one] == [r["value"] for r, _ in two]
    assert all(r["threads"] == 1 for r, _ in one + two)  # a point always runs on one thread
    assert {r["pid"] for r, _ in two} != {os.getpid()}   # ... in other processes
    assert not any(hit for _, hit in one + two)


def test_finished_points_are_taken_from_the_cache(tmp_path):
    cache = PointCache(tmp_path)
    compute_points(_tasks(3), cache, workers=2, progress=False)

    def must_not_run():
        raise AssertionError("recomputed a cached point")

    tasks = [(inputs, must_not_run) for inputs, _ in _tasks(3)] + _tasks(5)[3:]
    out = compute_points(tasks, cache, workers=2, progress=False)
    assert [hit for _, hit in out] == [True, True, True, False, False]


def test_a_failing_worker_is_one_error_and_keeps_the_finished_points(tmp_path, capfd):
    def boom():
        raise KwsError("point 3 is impossible")

    tasks = _tasks(3) + [({"point": "toy", "seed": 99}, boom)]
    cache = PointCache(tmp_path)
    with pytest.raises(KwsError, match="worker"):
        compute_points(tasks, cache, workers=2, progress=False)
    assert "error: point 3 is impossible" in capfd.readouterr().err
    assert all(cache.get(inputs) is not None for inputs, _ in _tasks(3))


def test_costliest_points_start_first_and_results_keep_the_task_order(tmp_path):
    started = []

    def point(s):
        started.append(s)
        return {"seed": s}

    tasks = [({"point": "toy", "seed": s}, lambda s=s: point(s)) for s in range(4)]
    out = compute_points(tasks, PointCache(tmp_path), workers=1, progress=False,
                         cost=[1.0, 5.0, 1.0, 3.0])
    assert started == [1, 3, 0, 2]  # costliest first; equal costs in their given order
    assert [r["seed"] for r, _ in out] == [0, 1, 2, 3]
