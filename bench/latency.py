"""Preemption latency: how long past its time slice does a hog keep the CPU?

Two hogs share one P (one GIL for the threads peer). Each busy loop reads
time.perf_counter_ns() every iteration and stores it in its own slot of a shared list.
A hog that sees a jump of more than a quarter slice between two of its own iterations was
switched out in between: it logs (me, last iteration before, first iteration after, the
other hog's slot). From that trace:
  run-length  the span from one resumption of a hog to its next switch-out;
  overshoot   run-length - time slice: how late the preemption came;
  switch      first iteration after resuming - the other hog's last iteration.
Each hog judges only from its own clock reads, so a preemption between reading the clock
and storing it cannot corrupt the trace (a single shared "last writer" slot would be).
"""

import itertools
import sys
import threading
import time

from common import ms, percentile, run_goroutines, stats_subset, us


def _trace_hog(me, last, trace, threshold_ns, deadline_ns):
    now = time.perf_counter_ns
    other = 1 - me
    prev = now()
    while prev < deadline_ns:
        t = now()
        last[me] = t
        if t - prev > threshold_ns:
            trace.append((me, prev, t, last[other]))
        prev = t


def _analyse(trace, time_slice):
    """Run-lengths, overshoots and switch gaps from the switch-out/in trace of both hogs."""
    runs = []
    for me in (0, 1):
        gaps = sorted((out, back) for who, out, back, _ in trace if who == me)
        runs += [(nxt[0] - cur[1]) / 1e9 for cur, nxt in itertools.pairwise(gaps)]
    switches = [(back - other_last) / 1e9 for _, _, back, other_last in trace]
    overshoot = [r - time_slice for r in runs]
    return {
        "runs": len(runs),
        "run_p50_ms": ms(percentile(runs, 50)),
        "over_p50_ms": ms(percentile(overshoot, 50)),
        "over_p99_ms": ms(percentile(overshoot, 99)),
        "switch_p50_us": us(percentile(switches, 50)),
    }


def _hog_args(duration, time_slice):
    last, trace = [0, 0], []
    deadline = time.perf_counter_ns() + int(duration * 1e9)
    return [(me, last, trace, int(time_slice / 4 * 1e9), deadline) for me in (0, 1)], trace


def goroutines(duration, time_slice, thread):
    """Two hog goroutines on one P; run() on the main thread (signal) or another (monitoring)."""
    import goroutines as gr

    def main():
        hog_args, trace = _hog_args(duration, time_slice)
        for g in [gr.go(_trace_hog, *args) for args in hog_args]:
            g.join()
        return trace

    trace, stats = run_goroutines(main, thread=thread, procs=1, time_slice=time_slice)
    return {**_analyse(trace, time_slice), **stats_subset(stats)}


def threads(duration, switch_interval):
    """Two hog threads; the GIL hands over every switch interval (the slice here)."""
    sys.setswitchinterval(switch_interval)
    hog_args, trace = _hog_args(duration, switch_interval)
    hogs = [threading.Thread(target=_trace_hog, args=args) for args in hog_args]
    for t in hogs:
        t.start()
    for t in hogs:
        t.join()
    return _analyse(trace, switch_interval)
