"""Device benchmark: speed (AIT, percentiles, FPS), memory, quality vs ground truth and loss vs
FP32 for every artifact in a folder, each measured in its own process; reports in JSON and
markdown. No TensorFlow import here (devices run it); the Keras reference imports it in its
own process when available.
"""

from edgecolor.bench.report import add_comparison, check_rules, parse_rule, write_report
from edgecolor.bench.stats import TimingStats, summarize
from edgecolor.bench.suite import SCHEMA, BenchError, BenchSettings, bench_folder

__all__ = [
    "SCHEMA",
    "BenchError",
    "BenchSettings",
    "TimingStats",
    "add_comparison",
    "bench_folder",
    "check_rules",
    "parse_rule",
    "summarize",
    "write_report",
]
