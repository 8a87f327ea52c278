"""Asynchronous preemption and suspension (Go's preempt.go, signal_unix.go).

The protocol, as in Go:

1. A requester (sysmon's retake, the signal backend's timer, suspend_g,
   throw) sets `g.preempt` and calls `preempt_m(m)` for the M running g.
2. `preempt_m` injects a call into that M's thread through its backend
   (_monitoring.py, _signal.py) — at most one injection in flight per M
   (`m.signal_pending`), never into the caller's own M ("self-preempt"),
   serialised by `suspend_lock`.  An M not started yet or already gone is
   acknowledged and skipped.  Runtime shutdown takes `suspend_lock` and sets
   `sched.exiting`, so no injection is in flight while threads are torn
   down (the seed commit's exit race).
3. The injected call, `async_preempt`, acknowledges every landing
   (`m.preempt_gen += 1`), then checks `want_async_preempt(g)` and
   `is_async_safe_point(g, frame)`.  If either fails it returns: the
   request stays, and it is retried — not before `m.next_preempt_m` (the
   rate limit), and only after this acknowledgement — or honoured at the
   goroutine's next runtime call (`_sched.checkpoint`).
4. At a safe point it switches to g0 (`mcall`), which requeues the G
   (`gopreempt_m`) or, for suspend_g, parks it as _Gpreempted.

`throw()` rides the same path: the injected call raises the pending
exception instead of switching, but only at an exception-safe point
(_excsafe.py) and only from an INSTRUCTION event — raising from JUMP or
BRANCH callbacks skips the frame's handlers (a CPython bug, DESIGN.md §2).
"""

from __future__ import annotations

import sys
import _thread
import time
import traceback
from typing import Any

from . import _excsafe, _hazards, _sched
from ._g import G, Gdead, Gpreempted, Grunnable, Grunning, Gsyscall, Gwaiting

suspend_lock = _thread.allocate_lock()

# Retry an injection that landed at an unsafe point no sooner than this.
UNSAFE_RETRY_NS = 500_000
# A pending exception keeps INSTRUCTION armed for this many unsafe
# instructions before backing off (a loop body has a raise-safe one).
EXC_BUDGET = 256
# suspend_g: Go's yieldDelay; re-inject at most every yieldDelay/2.
YIELD_DELAY_NS = 10_000

INSTRUCTION = sys.monitoring.events.INSTRUCTION


def preemptone(p: Any) -> bool:
    """Ask the goroutine running on p to stop (sysmon; best effort)."""
    m = p.m
    if m is None or m is _sched.current_m():
        return False
    g = m.curg
    if g is None:
        return False
    g.preempt = True
    m.stats["preempt_requests"] += 1
    if m.backend is not None:
        p.preempt = True
        preempt_m(m)
    return True


def preempt_m(m: Any) -> None:
    """Inject a call to async_preempt into the thread running m."""
    if m is _sched.current_m():
        raise RuntimeError("self-preempt")
    now = time.perf_counter_ns()
    with suspend_lock:
        s = _sched.sched
        if s is None or s.exiting or m.tid is None or m.exiting:
            m.preempt_gen += 1  # not started or gone: acknowledge and skip
            return
        if m.signal_pending or now < m.next_preempt_m:
            return
        m.signal_pending = True
        m.stats["preempt_injections"] += 1
        if not m.backend.inject(m):
            acknowledge(m)


def acknowledge(m: Any) -> None:
    m.preempt_gen += 1
    m.signal_pending = False


def want_async_preempt(g: G) -> bool:
    """Is a switch-out still wanted?  (The request may have been honoured
    cooperatively, or withdrawn, since the injection was sent.)"""
    p = g.m.p
    return (g.preempt or (p is not None and p.preempt)) and g.atomicstatus == Grunning


def is_async_safe_point(m: Any, g: G, frame: Any) -> bool:
    """May g be switched out with `frame` on top?  Walks g's stack down to
    its entry frame: no runtime, import, finalizer or thread-lock-holding
    frame may be on it, and the top must be user code."""
    if g.nopreempt or m.locks or _hazards.gc_running or m.curg is not g:
        return False
    f = frame
    entry = _sched.ENTRY_CODE
    unsafe = _hazards.is_unsafe_code
    while f is not None:
        code = f.f_code
        if code is entry:
            return f is not frame
        if unsafe(code):
            return False
        f = f.f_back
    return False


def async_preempt(m: Any, event: int, offset: int, frame: Any) -> None:
    """The injected call (Go's asyncPreempt + asyncPreempt2), run by a
    monitoring callback on m's thread with `frame` the goroutine's frame."""
    acknowledge(m)
    g = m.curg
    if g is not None and m.p is None:
        _exitsyscall(m, g, event, frame)
        return
    if g is None or g.atomicstatus != Grunning:
        _monitoring.disarm_nowait(m)
        return
    if event != INSTRUCTION and time.perf_counter_ns() < m.next_preempt_m:
        return  # an earlier landing was unsafe: retry only after the rate limit
    if event == INSTRUCTION and g.scopes is not None and g.scopes.cancelled:
        g.scopes.promote(g)  # a cancelled context scope: its exception becomes pending
    if g.pending_exc is not None and event == INSTRUCTION and is_async_safe_point(m, g, frame) \
            and _excsafe.is_exception_safe(frame, offset, _sched.ENTRY_CODE):
        _monitoring.disarm_nowait(m)
        exc, g.pending_exc = g.pending_exc, None
        raise exc
    if g.pending_exc is not None and event == INSTRUCTION and m.exc_budget > 0 \
            and not g.preempt_stop:
        # An exception-safe instruction is a few instructions away: deliver
        # there rather than switch out first (resuming re-arms and restarts
        # the search — under preemptstress, forever).
        _defer(m, g, event, frame)
        return
    if not want_async_preempt(g) or not is_async_safe_point(m, g, frame):
        _defer(m, g, event, frame)
        return
    m.stats["preemptions"] += 1
    _monitoring.disarm_nowait(m)
    ts = _monitoring.leave_tracing()
    try:
        _sched.mcall(g, _sched.preempt_park if g.preempt_stop else _sched.gopreempt_m)
    finally:
        _monitoring.enter_tracing(ts)
    if g.wants_exc():
        m.exc_budget = EXC_BUDGET
        _monitoring.arm_own(m, frame)


def _exitsyscall(m: Any, g: G, event: int, frame: Any) -> None:
    """The first landing after a syscall whose P sysmon gave away: get a P
    (exitsyscall blocks this thread until then), unless the point is unsafe
    — then g runs on without one until its next runtime call or a landing
    at a safe point (the cheap events stay armed)."""
    if not is_async_safe_point(m, g, frame):
        _defer(m, g, event, frame)
        return
    _monitoring.disarm_nowait(m)
    _sched.exitsyscall(m, g)
    if g.wants_exc():
        m.exc_budget = EXC_BUDGET
        _monitoring.arm_own(m, frame)


def notify_exitsyscall(m: Any) -> None:
    """sysmon gave away the P of m, whose thread is blocked in a call: arm
    its stack so that its first instruction after the call lands in
    async_preempt (no signal: it would interrupt the call)."""
    with suspend_lock:
        s = _sched.sched
        if s is None or s.exiting or m.exiting or _monitoring.tool is None:
            return
        if _monitoring.arm(m, sys._current_frames().get(m.tid)):
            m.signal_pending = True


def _defer(m: Any, g: G, event: int, frame: Any) -> None:
    """Unsafe landing: keep the request, stop paying for INSTRUCTION events,
    and retry after the rate limit.  A pending exception needs an
    INSTRUCTION landing (only those may raise): ask for one."""
    if g.preempt:
        m.stats["preempt_unsafe"] += 1
    if event == INSTRUCTION:
        if g.wants_exc() and m.exc_budget > 0:
            m.exc_budget -= 1  # exception-safe instructions are a few apart
            return
        m.next_preempt_m = time.perf_counter_ns() + UNSAFE_RETRY_NS
        _monitoring.downgrade_nowait(m, frame.f_code)
    elif g.wants_exc():
        m.exc_budget = EXC_BUDGET
        _monitoring.arm_own(m, frame)


# ---------------------------------------------------------------------------
# suspend_g / resume_g (Go's suspendG / resumeG)


class SuspendState:
    __slots__ = ("g", "dead", "stopped")

    def __init__(self, g: G | None, dead: bool = False, stopped: bool = False) -> None:
        self.g = g
        self.dead = dead
        self.stopped = stopped  # this suspend_g parked it and must ready it


def suspend_g(g: G, timeout: float | None = None) -> SuspendState:
    """Stop g at a safe point (or find it parked) and keep it from running
    until resume_g.  Running -> _Gpreempted -> _Gwaiting (stopped);
    runnable/waiting -> held; dead -> dead=True."""
    s = _sched.sched
    if s is None:
        raise RuntimeError("suspend() needs a running goroutines.run()")
    cur = _sched.getg()
    if g is cur:
        raise RuntimeError("suspend of the calling goroutine")
    deadline = None if timeout is None else time.perf_counter_ns() + int(timeout * 1e9)
    async_m = None
    async_gen = -1
    next_preempt_m = 0
    while True:
        inject = None
        with s.lock:
            st = g.atomicstatus
            if st == Gdead:
                return SuspendState(g, dead=True)
            if g.scan:
                pass  # another suspend_g holds it: wait
            elif st == Gpreempted:
                g.atomicstatus = Gwaiting
                g.waitreason = "preempted"
                return _hold(s, g, stopped=True)
            elif st in (Grunnable, Gwaiting, Gsyscall):
                g.preempt = g.preempt_stop = False
                return _hold(s, g, stopped=False)
            elif st == Grunning:
                m = g.m
                pending = g.preempt_stop and g.preempt and async_m is m and async_gen == m.preempt_gen
                if not pending:
                    g.preempt_stop = True
                    g.preempt = True
                    need = async_m is not m or async_gen != m.preempt_gen
                    async_m, async_gen = m, m.preempt_gen
                    if need and m.backend is not None:
                        inject = m
        if inject is not None:
            now = time.perf_counter_ns()
            if now >= next_preempt_m:
                next_preempt_m = now + YIELD_DELAY_NS // 2
                preempt_m(inject)
        if deadline is not None and time.perf_counter_ns() > deadline:
            _cancel_stop(s, g)
            raise TimeoutError(f"suspend: goroutine {g.id} reached no safe point in {timeout} s")
        _wait_a_little(cur)


def _hold(s: Any, g: G, stopped: bool) -> SuspendState:
    g.scan = True
    s.nsuspended += 1
    return SuspendState(g, stopped=stopped)


def _cancel_stop(s: Any, g: G) -> None:
    with s.lock:
        if g.atomicstatus == Grunning:
            g.preempt_stop = False


def _wait_a_little(cur: G | None) -> None:
    # The target runs on another M and needs the GIL to reach a safe point:
    # wait off the GIL (a goroutine parks; a plain thread sleeps).
    if cur is not None:
        from ._time import sleep

        sleep(50e-6)
    else:
        time.sleep(50e-6)


def resume_g(state: SuspendState) -> None:
    """Release a G held by suspend_g; ready it if suspend_g stopped it or a
    wake-up arrived meanwhile."""
    if state.dead:
        return
    g = state.g
    s = _sched.sched
    if s is None:
        return
    with s.lock:
        if not g.scan:
            raise RuntimeError(f"resume of goroutine {g.id} that is not suspended")
        g.scan = False
        s.nsuspended -= 1
        was_ready, g.scan_ready = g.scan_ready, False
        if g.atomicstatus == Gsyscall:
            g.m.cond.notify()  # exitsyscall may wait for the release
        elif g.atomicstatus == Grunnable and was_ready:
            if g.m is not None and g.m.p is None:
                _sched.put_global(s, g)
            else:
                _sched.put_runnable(s, g, g.m.p if g.m is not None else s.ps[0], next=False)
        elif g.atomicstatus == Gwaiting and (state.stopped or was_ready):
            _sched.ready_locked(s, g, next=True)


def stack_of(g: G) -> traceback.StackSummary:
    """The user frames of g, innermost last, without runtime frames."""
    frame = _top_frame(g)
    frames = []
    while frame is not None and frame.f_code is not _sched.ENTRY_CODE:
        if not _hazards.is_runtime_code(frame.f_code):
            frames.append((frame, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return traceback.StackSummary.extract(iter(frames), lookup_lines=True)


def _top_frame(g: G) -> Any:
    if g.atomicstatus == Gdead:
        return None
    if g.atomicstatus in (Grunning, Gsyscall) and g.m is not None and g.m.tid is not None:
        if g is _sched.getg():
            return sys._getframe(2)
        return sys._current_frames().get(g.m.tid)
    gr = g.resume_gr
    return gr.gr_frame if gr is not None else None


from . import _monitoring  # noqa: E402  (backends call back into this module)
