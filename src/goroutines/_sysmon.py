"""sysmon: the monitor thread that runs without a P (Go's proc.go §sysmon).

Each tick it looks at every P (`retake`): a goroutine that has run past
its time slice gets `preemptone`; a request that has not landed yet is
re-sent (preempt_m rate-limits and keeps one injection in flight); a
pending throw() to a running goroutine is re-sent the same way.  It polls
the network when no M has for 10 ms (_netpoll.py), enforces the grace
period of a stopping runtime and prints schedtrace.

Sleep policy: Go's — 20 µs, doubling after 50 idle ticks up to 10 ms —
except that while some P is running a goroutine it wakes at that slice's
deadline instead of polling (each wake-up costs the workers a GIL
hand-off).  The M on the main thread with the signal backend has its own
kernel timer for slices; sysmon only re-sends requests to it.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from . import _netpoll, _preempt, _sched
from ._g import STATUS_NAMES

MIN_SLEEP_NS = 20_000
MAX_SLEEP_NS = 10_000_000


class Sysmon:
    def __init__(self, s: Any) -> None:
        self.s = s
        self.note = s.sysmon_note
        self.note.acquire()
        self.stopped = False
        self.thread = threading.Thread(target=self.loop, name="goroutines-sysmon", daemon=True)
        self.last_trace = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True
        _sched.wake_sysmon(self.s)
        self.thread.join()

    def loop(self) -> None:
        s = self.s
        idle = 0
        delay = MIN_SLEEP_NS
        while not self.stopped:
            if idle == 0:
                delay = MIN_SLEEP_NS
            elif idle > 50:
                delay = min(delay * 2, MAX_SLEEP_NS)
            now = _sched.nanotime()
            wait = min(delay, self.until_next_deadline(now))
            if s.debug.schedtrace_ms:
                wait = min(wait, s.debug.schedtrace_ms * 1_000_000)
            self.note.acquire(timeout=wait / 1e9)
            if self.stopped:
                return
            now = _sched.nanotime()
            s.sysmon_stats["sysmon_ticks"] += 1
            idle = 0 if self.retake(now) else idle + 1
            if self.netpoll(now):
                idle = 0
            if s.stopping and not s.abandon and now > s.stop_deadline:
                abandon(s)
            if s.debug.schedtrace_ms and now - self.last_trace >= s.debug.schedtrace_ms * 1_000_000:
                self.last_trace = now
                sys.stderr.write(schedtrace(s, s.debug.scheddetail, now))

    def netpoll(self, now: int) -> bool:
        """Poll the network if nobody has for 10 ms (every M computing), so
        that goroutines waiting for I/O are readied anyway (Go's sysmon)."""
        np = self.s.netpoll
        if np is None or np.polling or not np.has_waiters() \
                or now - np.lastpoll < _netpoll.SYSMON_POLL_NS:
            return False
        ready = np.poll(0)
        np.deliver(ready)
        return bool(ready)

    def until_next_deadline(self, now: int) -> int:
        best = MAX_SLEEP_NS
        for p in self.s.ps:
            m = p.m
            if m is None or m.curg is None:
                continue
            if m.curg.preempt or m.curg.wants_exc():
                # a request is pending: re-send it once the rate limit allows
                best = min(best, max(m.next_preempt_m - now, _preempt.UNSAFE_RETRY_NS))
            elif (not _uses_timer(m) or p.wakeup_pending or not m.timer_armed
                  or m.timer_when > deadline(self.s, p) + _sched.TOLERANCE_NS):
                best = min(best, deadline(self.s, p) - now)
        return max(MIN_SLEEP_NS, best)

    def retake(self, now: int) -> int:
        """Preempt goroutines past their slice, or past the wakeup granularity
        when a woken goroutine or a due timer waits; re-send pending
        requests.  Returns how many requests were issued or re-sent."""
        s = self.s
        n = 0
        for p in s.ps:
            m = p.m
            g = m.curg if m is not None else None
            if g is None or m.exiting:
                continue
            if g.preempt or g.wants_exc():
                if s.async_preempt and m.backend is not None:
                    _preempt.preempt_m(m)
                    n += 1
                continue
            if _uses_timer(m) and m.timer_armed and not p.wakeup_pending \
                    and m.timer_when <= deadline(s, p) + _sched.TOLERANCE_NS:
                continue  # its own kernel timer does all this
            if now >= p.schedwhen + s.time_slice_ns - _sched.TOLERANCE_NS:
                _preempt.preemptone(p)
                n += 1
            elif p.timers.due(now) and p.timers.urgent_first():
                _preempt.preemptone(p)  # a context deadline interrupts at once
                n += 1
            elif ((p.wakeup_pending or p.timers.due(now))
                  and now >= p.schedwhen + s.wakeup_granularity_ns - _sched.TOLERANCE_NS):
                # a due timer runs on its own M (_timers.py): preempt for it
                # as for a woken goroutine, once the granularity has passed
                with s.lock:
                    _sched.wakeup_preempt(s, p)
                n += 1
        return n


def deadline(s: Any, p: Any) -> int:
    """When p's running goroutine must be looked at again: the end of its
    slice, or — no sooner than the wakeup granularity into it — the next
    timer of p (an urgent one: at once), or now if a woken goroutine is
    already waiting."""
    end = p.schedwhen + s.time_slice_ns
    woken = p.schedwhen if p.wakeup_pending else p.timers.next_when()
    if woken is None:
        return end
    if p.timers.urgent_first() and not p.wakeup_pending:
        return min(end, woken)  # a context deadline: no granularity
    return min(end, max(woken, p.schedwhen + s.wakeup_granularity_ns))


def _uses_timer(m: Any) -> bool:
    return m.backend is not None and m.backend.name == "signal"


def abandon(s: Any) -> None:
    """The grace period is over: give up on goroutines that did not stop."""
    with s.lock:
        s.abandon = True
        for g in s.allgs.values():
            g.abandoned = True
            s.abandoned.append(g)
        _sched.stop_ms(s)
    if s.abandoned:
        ids = ", ".join(str(g.id) for g in s.abandoned[:20])
        sys.stderr.write(
            f"goroutines: abandoned {len(s.abandoned)} goroutine(s) that reached no "
            f"exception-safe point within the grace period: {ids}\n"
        )


def schedtrace(s: Any, detailed: bool, now: int) -> str:
    """Go's `SCHED` line (and, if detailed, the P, M and G lines)."""
    ms_since = (now - s.start_ns) // 1_000_000
    idleprocs = sum(1 for p in s.ps if p.m is None or p.m.curg is None)
    line = (
        f"SCHED {ms_since}ms: gomaxprocs={s.procs} idleprocs={idleprocs} threads={len(s.ms) + 1} "
        f"spinningthreads=0 needspinning=0 idlethreads={s.nmidle} runqueue={len(s.runq)}"
    )
    if not detailed:
        lens = " ".join(str(len(p.runq)) for p in s.ps)
        ticks = " ".join(str(p.schedtick) for p in s.ps)
        return f"{line} [ {lens} ] schedticks=[ {ticks} ]\n"
    out = [f"{line} gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0\n"]
    for p in s.ps:
        out.append(
            f"  P{p.id}: status={1 if p.m and p.m.curg else 0} schedtick={p.schedtick} syscalltick=0 "
            f"m={p.m.id if p.m else 'nil'} runqsize={len(p.runq)} gfreecnt={len(p.m.gfree) if p.m else 0} "
            f"timerslen={len(p.timers)}\n"
        )
    for m in s.ms:
        curg = m.curg.id if m.curg else "nil"
        out.append(
            f"  M{m.id}: p={m.p.id} curg={curg} mallocing=0 throwing=0 preemptoff= locks={m.locks} "
            f"dying=0 spinning=false blocked={'true' if m.idle else 'false'} lockedg=nil\n"
        )
    for g in list(s.allgs.values()):
        reason = f"({g.waitreason})" if g.waitreason and STATUS_NAMES[g.atomicstatus] == "waiting" else "()"
        out.append(f"  G{g.id}: status={g.atomicstatus}{reason} m={g.m.id if g.m else 'nil'} lockedm=nil\n")
    return "".join(out)
