"""Helpers shared by the Python reference benchmarks (run side by side with the C++ benches)."""
import time


def seconds_per_call(steps, fn):
    """Mean seconds of `steps` calls of fn, after one warm-up call."""
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps
