"""Timing helpers the benchmarks share: repeated sequential calls and their p50/p99."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank (values in any order)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds of samples in seconds."""
    return statistics.median(samples) * 1000, percentile(samples, 99) * 1000


def measure(call: Callable[[], object], calls: int, warmup: int = 30) -> list[float]:
    """Seconds per call of ``calls`` sequential calls, after ``warmup`` uncounted ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples
