"""Timing statistics of the benchmark harness on known timings (no runtimes involved)."""

from __future__ import annotations

import math

import pytest

from edgecolor.bench.stats import TimingStats, summarize, time_calls, time_once


def test_summarize_known_list():
    s = summarize([float(i) for i in range(1, 11)])  # 1..10 ms
    assert s.n == 10
    assert s.mean == pytest.approx(5.5)
    assert s.median == pytest.approx(5.5)
    assert s.p90 == pytest.approx(9.1)  # linear interpolation between ranks 9 and 10
    assert s.p99 == pytest.approx(9.91)
    assert (s.min, s.max) == (1.0, 10.0)
    assert s.std == pytest.approx(3.0276503540974917)  # sample std (n - 1)
    assert s.fps == pytest.approx(1000.0 / 5.5)


def test_median_not_mean_sets_fps():
    s = summarize([2.0, 2.0, 2.0, 2.0, 100.0])  # one slow outlier
    assert s.median == 2.0
    assert s.fps == pytest.approx(500.0)
    assert s.mean == pytest.approx(21.6)
    assert s.p99 > s.p90 > s.median


def test_single_run_has_zero_std_and_its_own_percentiles():
    s = summarize([4.0])
    assert (s.std, s.p90, s.p99, s.mean) == (0.0, 4.0, 4.0, 4.0)
    assert s.fps == 250.0


def test_to_dict_carries_fps():
    d = summarize([1.0, 3.0]).to_dict()
    assert d["fps"] == pytest.approx(500.0)
    assert set(d) >= {"n", "mean", "median", "p90", "p99", "min", "max", "std"}


def test_zero_median_gives_infinite_fps():
    assert math.isinf(TimingStats(1, 0, 0, 0, 0, 0, 0, 0).fps)


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [1.0, math.nan], [math.inf]])
def test_bad_timings_are_refused(bad):
    with pytest.raises(ValueError):
        summarize(bad)


def test_time_calls_counts_warmup_and_runs():
    calls = []
    times = time_calls(lambda: calls.append(1), runs=7, warmup=2)
    assert len(times) == 7
    assert len(calls) == 9
    assert all(t >= 0 for t in times)


def test_time_calls_for_seconds_keeps_minimum_runs():
    times = time_calls(lambda: None, runs=1, warmup=0, seconds=0.01, min_runs=5)
    assert len(times) >= 5


def test_time_once_returns_result_and_elapsed_ms():
    import time

    result, ms = time_once(lambda: (time.sleep(0.02), 42)[1])
    assert result == 42
    assert 15.0 <= ms < 2000.0


def test_time_calls_budget_stops_slow_models_early():
    import time

    times = time_calls(lambda: time.sleep(0.02), runs=1000, warmup=1000, budget_s=0.1)
    assert 3 <= len(times) < 1000  # capped, but never fewer than min_runs
    assert min(times) >= 15.0


def test_round_robin_interleaves_one_call_each_per_round():
    from edgecolor.bench.stats import time_round_robin

    calls: list[str] = []
    times = time_round_robin({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             runs=3)
    assert calls == ["a", "b"] * 3
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for v in times.values() for t in v)
