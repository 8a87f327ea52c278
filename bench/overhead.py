"""CPU overhead of being preempted: the same work as plain calls and as two sliced hogs.

Baseline: spin(n) called twice in a row on the main thread, no runtime. Measured: two
goroutines each running spin(n) on one P, so each is preempted every time slice, and the
threads peer (two threads, GIL switch interval = slice). Both wall time and process CPU
time (which includes sysmon's own thread) are compared with the baseline, measured first
in the same process: on 3.12 a code object that was once armed for sys.monitoring keeps
running slower, so the baseline must not run after the runtime.
"""

import sys
import threading
import time

from common import run_goroutines, spin, stats_subset


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _plain(n):
    spin(n // 10)  # warm-up: the first pass over fresh code runs a few % slower
    start = _clock()
    spin(n)
    spin(n)
    return _since(start)


def _compare(plain, measured):
    return {
        "plain_wall_s": plain[0],
        "wall_s": measured[0],
        "wall_ratio": measured[0] / plain[0],
        "cpu_ratio": measured[1] / plain[1],
    }


def goroutines(n, time_slice, thread):
    """Two spin(n) goroutines on one P, run() on the main thread or on another thread."""
    import goroutines as gr

    def main():
        start = _clock()
        hogs = [gr.go(spin, n) for _ in range(2)]
        for g in hogs:
            g.join()
        return _since(start)

    plain = _plain(n)
    measured, stats = run_goroutines(main, thread=thread, procs=1, time_slice=time_slice)
    return {**_compare(plain, measured), **stats_subset(stats)}


def threads(n, switch_interval):
    """Two spin(n) threads sharing the GIL, which changes hands every switch interval."""
    plain = _plain(n)
    sys.setswitchinterval(switch_interval)
    hogs = [threading.Thread(target=spin, args=(n,)) for _ in range(2)]
    start = _clock()
    for t in hogs:
        t.start()
    for t in hogs:
        t.join()
    return _compare(plain, _since(start))
