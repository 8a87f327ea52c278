"""CPU overhead of being preempted: the same work as plain calls and as two sliced hogs.

Two hogs each run spin(n). Three ways, alternated `pairs` times in one process:
  plain      spin(n) twice in a row on the main thread, no runtime;
  coop       two goroutines on one P with run(async_preempt=False): same runtime, same
             greenlets, but each hog runs to completion;
  preempted  the same two goroutines with asynchronous preemption, so each is switched
             out every time slice.
preempted ÷ plain is the whole cost of running the work under goroutines (sysmon's thread
included); preempted ÷ coop isolates the cost of the preemptions themselves.
The threads peer runs two threads with GIL switch interval = slice against plain.

Wall time and process CPU time (which includes sysmon's thread) are both compared, each as
the median of per-alternation ratios: comparing within one process and interleaving cancels
drift and the process-to-process spread (several % on a VM, from memory layout alone).
Every run gets a fresh copy of spin's code object, so no run inherits another's
specialisation or sys.monitoring instrumentation (which on 3.12 slows an armed code object
for good).
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


def _medians(rows):
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def goroutines(n, pairs, time_slice, thread):
    """Two spin(n) goroutines on one P, run() on the main thread or on another thread."""
    import goroutines as gr

    def main():
        work = _fresh_spin()
        start = _clock()
        hogs = [gr.go(work, n) for _ in range(2)]
        for g in hogs:
            g.join()
        return _since(start)

    def sliced(async_preempt):
        return run_goroutines(main, thread=thread, procs=1, time_slice=time_slice,
                              async_preempt=async_preempt)

    rows = []
    for _ in range(pairs):
        plain = _plain(n)
        coop, _ = sliced(False)
        (wall, cpu), stats = sliced(True)
        rows.append({"plain_wall_s": plain[0], "wall_ratio": wall / plain[0],
                     "cpu_ratio": cpu / plain[1], "cpu_vs_coop": cpu / coop[1],
                     **stats_subset(stats)})
    return _medians(rows)


def threads(n, pairs, switch_interval):
    """Two spin(n) threads sharing the GIL, which changes hands every switch interval."""
    default_interval = sys.getswitchinterval()
    rows = []
    for _ in range(pairs):
        plain = _plain(n)
        work = _fresh_spin()
        hogs = [threading.Thread(target=work, args=(n,)) for _ in range(2)]
        sys.setswitchinterval(switch_interval)
        start = _clock()
        for t in hogs:
            t.start()
        for t in hogs:
            t.join()
        wall, cpu = _since(start)
        sys.setswitchinterval(default_interval)
        rows.append({"plain_wall_s": plain[0], "wall_ratio": wall / plain[0],
                     "cpu_ratio": cpu / plain[1]})
    return _medians(rows)
