"""A 1 ms ticker beside 4 CPU hogs: asyncio starves it, goroutines keeps it ticking.

The ticker sleeps 1 ms in a loop and records how late each wake-up is; the hogs are
plain Python loops that never yield. asyncio (and gevent, shown if installed) can only
switch when a task awaits, so the ticker waits for the hogs to finish. goroutines
preempts the running hog at the end of its time slice, or as soon as the sleeping ticker
is due, so the ticker keeps ticking while the hogs run.

The workloads are the benchmark's own (bench/fairness.py), so the demo shows what
BENCHMARKS.md measures.

    PYTHONPATH=src python examples/demo.py        # about 6 s
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import fairness  # noqa: E402  (the benchmark's workloads)
from common import calibrate  # noqa: E402

TICK = 0.001
HOGS = 4
HOG_CPU_S = 0.4


def runtimes():
    yield "asyncio", fairness.asyncio_
    try:
        import gevent  # noqa: F401  (optional peer)
    except ImportError:
        pass
    else:
        yield "gevent", fairness.gevent_
    yield "goroutines", lambda n, hogs, tick: fairness.goroutines(
        n, hogs, tick, time_slice=0.010, thread=False)


def cell(value):
    return "-" if value is None else f"{value:.2f}"


def main():
    n = int(calibrate() * HOG_CPU_S)
    print(f"A {TICK * 1e3:g} ms ticker beside {HOGS} CPU hogs of ~{HOG_CPU_S} s each.\n")
    header = f"{'runtime':26s} {'ticks':>6s} {'late p50 ms':>12s} {'p99 ms':>8s} {'max ms':>8s} {'wall s':>7s}"
    print(header)
    print("-" * len(header))
    for name, measure in runtimes():
        r = measure(n, HOGS, TICK)
        print(f"{name:26s} {r['ticks']:6d} {cell(r['p50_ms']):>12s} {cell(r['p99_ms']):>8s} "
              f"{cell(r['max_ms']):>8s} {r['wall_s']:7.2f}")
    print(f"\nAn ideal ticker ticks once per {TICK * 1e3:g} ms of wall time. A cooperative runtime "
          "wakes it only once the hogs\nare done; goroutines preempts the hogs, so it keeps "
          "waking up while they run.")


if __name__ == "__main__":
    main()
