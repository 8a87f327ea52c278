"""The signal preemption backend: the M on the main thread (POSIX).

Go preempts with a signal (SIGURG) on POSIX.  A Python signal handler runs
on the main thread at its next eval-breaker point without any other thread
having to take the GIL first, so it avoids the switch-interval wait that
bounds the monitoring backend (measured: ~0.2-0.3 ms at a 1 ms slice
against ~1.2 ms).

The kernel's interval timer (ITIMER_REAL; the virtual and profiling timers
tick only every 4 ms here) stands in for sysmon on this M: it is armed when
a goroutine starts a slice, and its SIGALRM handler checks the slice.  An
expired slice, or a pending suspend/throw request, is turned into an
injection by arming the interrupted stack with INSTRUCTION events, so the
landing, safety checks and switch are the monitoring backend's — no
greenlet switch ever happens inside the signal handler itself.  Other
threads (sysmon, suspend_g, throw) inject with pthread_kill(SIGALRM).

SIGALRM is shared with the user's `signal.alarm()`: if the program has its
own SIGALRM handler, this backend is not used (the M falls back to the
monitoring backend).
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from . import _monitoring, _preempt, _sched

SIG = signal.SIGALRM
TOLERANCE_NS = 50_000  # a timer that fires this early still counts as expired
RETRY_S = 100e-6  # the table was busy: try again this soon


def available() -> bool:
    return hasattr(signal, "setitimer") and signal.getsignal(SIG) in (signal.SIG_DFL, signal.SIG_IGN, None)


class SignalBackend(_monitoring.MonitoringBackend):
    name = "signal"

    def __init__(self, m: Any, time_slice_ns: int) -> None:
        self.m = m
        self.slice_s = time_slice_ns / 1e9
        self.slice_ns = time_slice_ns
        self.old = signal.signal(SIG, self._handler)

    def close(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(SIG, self.old)

    def inject(self, m: Any) -> bool:
        signal.pthread_kill(m.tid, SIG)
        return True

    def on_execute(self, m: Any, g: Any) -> None:
        super().on_execute(m, g)
        if not m.timer_armed:
            m.timer_armed = True
            signal.setitimer(signal.ITIMER_REAL, self.slice_s)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        m = self.m
        _preempt.acknowledge(m)
        g = m.curg
        if g is None or _sched.sched is None or _sched.sched.exiting:
            m.timer_armed = False
            return
        remaining = m.p.schedwhen + self.slice_ns - time.perf_counter_ns()
        if remaining > TOLERANCE_NS and not g.preempt and g.pending_exc is None:
            signal.setitimer(signal.ITIMER_REAL, remaining / 1e9)
            return
        m.timer_armed = False
        if not g.preempt and remaining <= TOLERANCE_NS:
            g.preempt = True
            m.p.preempt = True
            m.stats["preempt_requests"] += 1
        if _preempt.suspend_lock.acquire(blocking=False):
            try:
                _monitoring.arm(m, frame)
            finally:
                _preempt.suspend_lock.release()
        else:
            m.timer_armed = True
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)
