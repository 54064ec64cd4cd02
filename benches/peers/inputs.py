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


def work_dir(name):
    """target/bench-data/<name>, created."""
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "target" / "bench-data" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def hounsfield_binary():
    """The release `hounsfield` binary, built if missing."""
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    binary = root / "target" / "release" / "hounsfield"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "hounsfield-cli"], check=True, cwd=root)
    return binary


def best_time(fn, repeat=3):
    """(result of the last call, shortest wall time of `repeat` calls)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)
