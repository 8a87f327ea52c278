"""Helpers shared by the benchmark workloads.

The CPU hog is the same pure-Python loop for every runtime, so a difference between
runtimes is the scheduler's doing, never the workload's. `run_goroutines` starts
`goroutines.run` either on the calling (main) thread, which uses the signal preemption
backend, or on a fresh `threading.Thread`, which uses the sys.monitoring backend.
"""

import statistics
import threading
import time


def spin(n):
    """Burn CPU in pure Python: n iterations of a small arithmetic loop."""
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


def percentile(values, q):
    """The q-th percentile (0..100) of values, nearest-rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def summarize_ms(values_s):
    """p50/p99/max of a list of durations in seconds, expressed in milliseconds."""
    return {
        "p50_ms": ms(percentile(values_s, 50)),
        "p99_ms": ms(percentile(values_s, 99)),
        "max_ms": ms(max(values_s) if values_s else None),
    }


def median(values):
    """Median of the non-None values, None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ms(seconds):
    """Seconds to milliseconds, passing None through."""
    return None if seconds is None else seconds * 1e3


def us(seconds):
    """Seconds to microseconds, passing None through."""
    return None if seconds is None else seconds * 1e6


def run_goroutines(main, *args, thread=False, **run_kwargs):
    """goroutines.run(main, *args) on this thread or, with thread=True, on a new thread.

    Returns (result, stats) where stats is goroutines.stats() after run() returned.
    """
    import goroutines as gr

    if not thread:
        return gr.run(main, *args, **run_kwargs), gr.stats()
    outcome = {}

    def target():
        try:
            outcome["result"] = gr.run(main, *args, **run_kwargs)
        except BaseException as exc:  # re-raised on the calling thread below
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="goroutines-run")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], gr.stats()


def stats_subset(stats):
    """The goroutines.stats() counters worth reporting next to a measurement."""
    keys = ("preempt_requests", "preemptions", "preempt_unsafe", "switches")
    return {k: stats[k] for k in keys if k in stats}


def calibrate():
    """Iterations of spin() per second on this interpreter (best of 5 short runs)."""
    n = 200_000
    best = min(_time_spin(n) for _ in range(5))
    return int(n / best)


def _time_spin(n):
    t0 = time.perf_counter()
    spin(n)
    return time.perf_counter() - t0
