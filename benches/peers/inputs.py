"""Benchmark inputs, generated exactly as hounsfield_benches (benches/src/lib.rs) generates them."""

import statistics
import time

import numpy as np


def ssim_pair(n):
    z, y, x = np.indices((n, n, n), dtype=np.float64)
    smooth = np.sin(0.11 * x) * np.cos(0.07 * y) + 0.5 * np.sin(0.05 * z + 0.03 * x)
    fine = ((x * 7 + y * 13 + z * 29) % 17) / 17.0 - 0.5
    return (smooth + 0.1 * fine).astype(np.float32), (smooth + 0.4 * fine).astype(np.float32)


def median_time(fn, runs=5):
    """Median wall time of `runs` calls of fn."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
