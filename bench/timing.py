"""Timing shared by the bench scripts: the best of several runs after a warm-up."""
import time


def best_seconds(fn, reps: int) -> float:
    """Runs fn once to warm up, then reps times; returns the shortest wall time in seconds."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
