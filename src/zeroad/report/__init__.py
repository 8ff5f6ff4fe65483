"""Reports of benchmark results: a self-contained HTML page with tables and figures.

>>> from zeroad.report import write_report
>>> write_report("benchmarks/results/adbench_defaults", "/tmp/report.html")  # doctest: +SKIP
"""

from zeroad.report.html import build_report, write_report
from zeroad.report.results import BenchmarkResults, load_results

__all__ = ["BenchmarkResults", "build_report", "load_results", "write_report"]
