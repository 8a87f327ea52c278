"""The signal preemption backend: the M on the main thread (POSIX).

Go preempts with a signal (SIGURG) on POSIX.  A Python signal handler runs
on the main thread at its next eval-breaker point without any other thread
having to take the GIL first, so it avoids the switch-interval wait that
bounds the monitoring backend (measured: ~0.2-0.3 ms at a 1 ms slice
against ~1.2 ms).

The kernel's interval timer (ITIMER_REAL; the virtual and profiling timers
tick only every 4 ms here) stands in for sysmon on this M: it is armed for
the end of the slice or the next sleep timer, whichever comes first, and
its SIGALRM handler checks the slice and, when a timer is due, asks for the
running goroutine to be preempted (wakeup_preempt) so the scheduler runs it.  An
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

from . import _monitoring, _preempt, _sched, _sysmon

SIG = signal.SIGALRM
RETRY_NS = 100_000  # a lock was busy, or g0 was running: try again this soon
BUILTIN_RETRY_NS = 10_000_000  # a goroutine running a builtin as its function


def available() -> bool:
    return hasattr(signal, "setitimer") and signal.getsignal(SIG) in (signal.SIG_DFL, signal.SIG_IGN, None)


class SignalBackend(_monitoring.MonitoringBackend):
    name = "signal"

    def __init__(self, m: Any, s: Any) -> None:
        super().__init__(s)
        self.m = m
        self.old = signal.signal(SIG, self._handler)

    def close(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(SIG, self.old)

    def inject(self, m: Any) -> bool:
        signal.pthread_kill(m.tid, SIG)
        return True

    def on_execute(self, m: Any, g: Any) -> None:
        if g.pending_exc is not None or g.scopes is not None or self.stress:
            self.arm_pending(m, g)  # as MonitoringBackend.on_execute, without a call
        if m.timer_armed:
            p = m.p
            # No deadline comes before the granularity, and an armed timer is
            # never later than the end of the slice it was armed in, so it is
            # early enough unless a sleep timer may be due before it.
            if m.timer_when <= p.schedwhen + self.s.wakeup_granularity_ns or not p.timers.heap:
                return
        self._arm_timer(m, _sysmon.deadline(self.s, m.p))

    def timer_added(self, m: Any) -> None:
        """A timer was added on this M's P while it computes (this thread)."""
        self._arm_timer(m, _sysmon.deadline(self.s, m.p))

    def _arm_timer(self, m: Any, deadline: int) -> None:
        # An earlier timer already armed will do: its handler re-arms for the
        # rest.  (One setitimer per switch would cost more than the early wake.)
        if m.timer_armed and m.timer_when <= deadline:
            return
        m.timer_armed = True
        m.timer_when = deadline
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.perf_counter_ns(), 1000) / 1e9)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        m = self.m
        s = self.s
        _preempt.acknowledge(m)
        m.timer_armed = False
        g = m.curg
        p = m.p
        if g is None or p is None or s.exiting:
            return  # (no P: a syscall; sysmon armed its return instead)
        now = time.perf_counter_ns()
        if not g.preempt and (now >= p.schedwhen + s.time_slice_ns - _sched.TOLERANCE_NS
                              or (p.timers.due(now) and p.timers.urgent_first())):
            g.preempt = p.preempt = True  # the slice is over, or a context deadline
            m.stats["preempt_requests"] += 1
        elif not g.preempt and (p.wakeup_pending or p.timers.due(now)):
            # A due timer is run by this M's scheduler, never in a handler
            # (_timers.py): it counts as a woken goroutine for wakeup_preempt.
            _sched.wakeup_preempt(s, p)
        if not g.preempt and not g.wants_exc():
            self._arm_timer(m, _sysmon.deadline(self.s, p))
            return
        if _preempt.suspend_lock.acquire(blocking=False):
            try:
                armed = _monitoring.arm(m, frame)
            finally:
                _preempt.suspend_lock.release()
            if not armed and frame is not None and frame.f_code is _sched.ENTRY_CODE:
                # The goroutine's function is a builtin (gr.go(time.sleep, 5)):
                # nothing to arm until it calls back into Python; look again
                # much later, or a blocked thread gets a signal every retry.
                m.next_preempt_m = now + BUILTIN_RETRY_NS
                return
            if not armed:
                # Not on the goroutine's stack (g0, between execute and the
                # switch): nothing to arm yet, so look again in a moment.
                self._arm_timer(m, now + RETRY_NS)
                return
            # The arming is the injection now in flight, acknowledged by its
            # landing: sysmon must not re-send while it waits — a thread blocked
            # in a C call would get a signal every retry (and look busy).
            m.signal_pending = True
            if g.wants_exc():
                # Keep watching: the landing may raise the exception without
                # switching out, and then no execute() re-arms this timer.
                self._arm_timer(m, max(_sysmon.deadline(s, p), now + _preempt.UNSAFE_RETRY_NS))
        else:
            self._arm_timer(m, now + RETRY_NS)
