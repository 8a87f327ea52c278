"""CPU overhead of being preempted: the same work as plain calls and as two sliced hogs.

Baseline: spin(n) called twice in a row on the main thread, no runtime. Measured: two
goroutines each running spin(n) on one P, so each is preempted every time slice, and the
threads peer (two threads, GIL switch interval = slice). Both wall time and process CPU
time (which includes sysmon's own thread) are compared with the baseline.

Baseline and measurement alternate `pairs` times in one process, and the median ratio is
reported: comparing within a process and interleaving cancels most of the drift and the
process-to-process spread (a few % on a VM). Every run gets a fresh copy of spin's code
object, so no run inherits another's specialisation or sys.monitoring instrumentation
(which on 3.12 slows an armed code object for good).
"""

import statistics
import sys
import threading
import time
import types

from common import run_goroutines, spin, stats_subset


def _fresh_spin():
    code = spin.__code__.replace()  # a new code object: unspecialised, never armed
    return types.FunctionType(code, spin.__globals__, spin.__name__)


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _plain(n):
    work = _fresh_spin()
    start = _clock()
    work(n)
    work(n)
    return _since(start)


def _paired(pairs, n, measure):
    """Median ratios of measure(n) to the plain baseline over `pairs` alternations."""
    rows = []
    for _ in range(pairs):
        plain = _plain(n)
        (wall, cpu), extra = measure(n)
        rows.append({"plain_wall_s": plain[0], "wall_ratio": wall / plain[0],
                     "cpu_ratio": cpu / plain[1], **extra})
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def goroutines(n, pairs, time_slice, thread):
    """Two spin(n) goroutines on one P, run() on the main thread or on another thread."""
    import goroutines as gr

    def main(work):
        start = _clock()
        hogs = [gr.go(work, n) for _ in range(2)]
        for g in hogs:
            g.join()
        return _since(start)

    def measure(n):
        elapsed, stats = run_goroutines(main, _fresh_spin(), thread=thread, procs=1,
                                        time_slice=time_slice)
        return elapsed, stats_subset(stats)

    return _paired(pairs, n, measure)


def threads(n, pairs, switch_interval):
    """Two spin(n) threads sharing the GIL, which changes hands every switch interval."""

    def measure(n):
        work = _fresh_spin()
        hogs = [threading.Thread(target=work, args=(n,)) for _ in range(2)]
        sys.setswitchinterval(switch_interval)
        start = _clock()
        for t in hogs:
            t.start()
        for t in hogs:
            t.join()
        elapsed = _since(start)
        sys.setswitchinterval(default_interval)
        return elapsed, {}

    default_interval = sys.getswitchinterval()
    return _paired(pairs, n, measure)
