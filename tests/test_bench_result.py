"""The measuring process's result is a typed record (issue 15): read in one place, with a
schema version, unknown keys kept, and malformed results turned into failed rows."""

from __future__ import annotations

import json
from pathlib import Path

from edgecolor.bench.job import RESULT_SCHEMA, BenchResult
from edgecolor.bench.suite import _row_from_result

TIMING = {"mean": 4.0, "median": 3.5, "p90": 5.0, "p99": 6.0, "min": 3.0, "std": 0.5,
          "fps": 250.0}


def _ok(**kw) -> dict:
    return {"status": "ok", "runner": "tflite", "load_ms": 12.0, "first_ms": 9.0,
            "model_ms": TIMING, "e2e_ms": {**TIMING, "median": 7.0, "fps": 140.0},
            "peak_load_mb": 80.0, "peak_run_mb": 95.5, "per_image": [], **kw}


def test_round_trip_keeps_the_schema_and_unknown_keys():
    r = BenchResult.from_dict(_ok(hwm_reset=True, future_key=[1, 2]))
    assert r.ok and r.peak_mb == 95.5 and r.extra == {"hwm_reset": True, "future_key": [1, 2]}
    d = json.loads(json.dumps(r.to_dict()))
    assert d["schema"] == RESULT_SCHEMA and d["future_key"] == [1, 2]
    assert BenchResult.from_dict(d) == r


def test_an_older_result_without_schema_is_read_a_newer_one_is_refused():
    assert BenchResult.from_dict(_ok()).ok  # no "schema": an older edgecolor's result
    newer = BenchResult.from_dict(_ok(schema="edgecolor.bench.result/2"))
    assert newer.status == "failed" and "same edgecolor version" in newer.error
    assert BenchResult.from_dict(["not", "a", "dict"]).status == "failed"


def test_ok_without_timings_is_a_failed_row_not_a_keyerror():
    bad = _ok()
    del bad["e2e_ms"]
    row = _row_from_result(Path("m-tflite-int8.tflite"), {"format": "tflite"}, bad, None, None)
    assert row["status"] == "failed" and "without model/e2e timings" in row["error"]


def test_the_row_reads_the_typed_fields():
    row = _row_from_result(Path("m-tflite-int8.tflite"), {"format": "tflite"},
                           BenchResult.from_dict(_ok()), None, None)
    assert (row["status"], row["ait_ms"], row["median_ms"], row["e2e_ms"], row["peak_mb"]) == (
        "ok", 4.0, 3.5, 7.0, 95.5)
    assert row["runner"] == "tflite" and row["load_ms"] == 12.0
