"""The scheduler: Ms, Ps, and the loop that runs goroutines (Go's proc.go).

Invariants:

* An M is an OS thread.  Its scheduler loop runs in its own greenlet, `g0`;
  goroutines run in greenlets whose parent is g0.  A live goroutine leaves
  the CPU only by switching to g0 with a function for g0 to run on its
  behalf (`mcall`, as in Go): gosched_m, gopreempt_m, preempt_park.
  Those functions run *after* the goroutine's stack is switched out.
  Parking and finishing (gopark, goexit1) skip g0 and switch straight to
  the next goroutine (next_greenlet): a started G is bound to its M's thread,
  so a waker on another M can ready it but never run it before it is gone.
* m.curg is the goroutine whose greenlet runs, and None while g0 runs.
* A started goroutine is bound to its M's thread (greenlet affinity); only
  not-yet-started goroutines may be stolen or move between Ms.
* An M needs a P (GOMAXPROCS of them) to run goroutines, and normally
  keeps its P.  A P changes hands only (a) when sysmon finds its M blocked
  in a call that released the GIL (a "syscall": handoff_syscall, Go's
  retake + handoffp), (b) when an M that lost its P wants one back
  (`sched.pwait`, acquirep) and an owner is idle, has no work, or has used
  up its slice, and (c) when its M exits.  A P's local queue holds only Gs
  its current M can run, so a started G whose M has no P waits on the
  global queue, under its M.  An M without a P runs no goroutine, except
  the one that was in the syscall — until its next runtime call or
  landing, where exitsyscall gets it a P back (Go's exitsyscall).
* Every G status transition, run queue, timer heap and idle list is guarded
  by `sched.lock`.  Lock order: a channel's or mutex's lock, then
  `sched.lock`, then `suspend_lock` (_preempt.py).  Nothing takes
  `sched.lock` while holding `suspend_lock`.
* Code that runs inside an injected preemption callback or a signal handler
  (async_preempt) never blocks on these locks: it try-locks or gives up.
"""

from __future__ import annotations

import _thread
import random
import threading
import time
from collections import deque
from typing import Any, Callable

import greenlet

from . import _accel
from ._debug import Debug
from ._g import (
    G, GoroutineExit, Gdead, Gpreempted, Grunnable, Grunning, Gsyscall, Gwaiting,
)
from ._parking import complete
from ._runq import GlobalRunQueue, LocalRunQueue
from ._timers import TimerHeap

nanotime = time.perf_counter_ns
_get_ident = threading.get_ident
_getcurrent = greenlet.getcurrent

# A slice (or granularity) that ends this soon counts as ended: timers and
# signals fire a little early, and a second wake-up would cost more than it saves.
TOLERANCE_NS = 50_000
GFREE_MAX = 1024  # finished goroutines' greenlets kept per M for reuse (Go's gfree)
STOP_GRACE_NS = 2_000_000_000  # how long run() waits for goroutines to honour GoroutineExit
MAX_MS = 1000  # threads for Ms at most (Go's maxmcount is 10000; ours cost more)


class Deadlock(RuntimeError):
    """Raised by run() when every goroutine is blocked forever."""


class P:
    """A processor: the right to run goroutines, with a local run queue and timers."""

    __slots__ = ("id", "m", "runq", "timers", "schedtick", "schedwhen", "preempt",
                 "wakeup_pending", "runnext_handoff", "draining")

    def __init__(self, pid: int) -> None:
        self.id = pid
        self.m: M | None = None
        self.runq = LocalRunQueue()
        self.timers = TimerHeap()
        self.schedtick = 0  # incremented by execute unless the slice is inherited
        self.schedwhen = 0  # nanotime() when the current slice began
        self.preempt = False  # Go's p.preempt: enter the scheduler ASAP
        self.wakeup_pending = False  # a woken G waits for the granularity to pass
        # runnext was put there by p's own running goroutine (a channel
        # handoff, a go statement), not woken by a timer or another M
        self.runnext_handoff = False
        # Beyond GOMAXPROCS after a shrink: its M runs only the goroutines
        # bound to it (they cannot move) and takes no new work.
        self.draining = False

    def owes_waiter(self, s: Sched) -> bool:
        """Should p's M give it to the M waiting longest for a P (s.pwait)?
        Yes once p's slice is over, or the waiter has waited a slice; never
        while p is draining (its M runs only its own goroutines)."""
        if self.draining:
            return False
        now = nanotime()
        limit = s.time_slice_ns - TOLERANCE_NS
        return now - self.schedwhen >= limit or now - s.pwait[0].waitp_since >= limit


class M:
    """A worker thread with its scheduler greenlet g0."""

    __slots__ = (
        "id", "tid", "g0", "p", "curg", "cond", "idle", "gfree", "exiting",
        "backend", "armed", "preempt_gen", "signal_pending",
        "next_preempt_m", "exc_budget", "timer_armed", "timer_when", "locks", "stats",
        "handoff", "polling", "sc_sample", "sc_since", "cpuclock", "waitp_since",
        "native_id",
    )

    def __init__(self, mid: int, p: P | None, lock: threading.Lock) -> None:
        self.id = mid
        self.tid: int | None = None  # set when the thread starts (Go's mp.thread)
        self.g0: greenlet.greenlet | None = None
        self.p = p
        self.curg: G | None = None
        self.cond = threading.Condition(lock)
        self.idle = False
        self.gfree: list[greenlet.greenlet] = []
        self.exiting = False
        self.backend: Any = None  # preemption backend for this M (None: cooperative only)
        self.armed: dict = {}  # code -> events this M armed (monitoring backend)
        self.preempt_gen = 0  # completed injections (Go's m.preemptGen)
        self.signal_pending = False  # one injection in flight (Go's m.signalPending)
        self.next_preempt_m = 0  # rate limit for retries after an unsafe landing
        self.exc_budget = 0  # INSTRUCTION landings left to find an exception-safe point
        self.timer_armed = False  # signal backend: interval timer pending
        self.timer_when = 0  # ... and when it fires (nanotime)
        self.locks = 0  # runtime-held locks (Go's m.locks): no async preemption
        self.stats = dict.fromkeys(M_STATS, 0)  # per M: no lost counts across threads
        self.handoff: tuple[G, bool] | None = None  # an unstarted G picked for g0 to start
        self.polling = False  # blocked in the netpoller: woken by netpoll_break
        self.sc_sample: Any = None  # sysmon: what this M's thread was at (_sysmon.py)
        self.sc_since = 0  # ... since when (nanotime); also when its syscall began
        self.cpuclock: int | None = None  # its thread's CPU-time clock (set with tid)
        self.waitp_since = 0  # when it joined sched.pwait
        self.native_id = 0  # the kernel's id of its thread (/proc/self/task/N)

    def set_thread(self) -> None:
        """Called on the M's own thread when it starts (Go's mstart)."""
        self.tid = _get_ident()
        self.native_id = threading.get_native_id()
        self.cpuclock = cpu_clock(self.tid)
        self.g0 = _getcurrent()
        ms_by_tid[self.tid] = self


def cpu_clock(tid: int) -> int | None:
    """The CPU-time clock of thread `tid`, or None where there is none."""
    try:
        return time.pthread_getcpuclockid(tid)
    except (AttributeError, OSError):
        return None


M_STATS = ("switches", "preempt_requests", "preemptions", "preempt_unsafe",
           "preempt_coop", "preempt_injections", "wakeup_preemptions", "greenlets_created")


class Sched:
    """Global scheduler state for one run()."""

    __slots__ = (
        "lock", "procs", "time_slice_ns", "wakeup_granularity_ns", "inherit_limit_ns",
        "async_preempt", "debug", "ps", "ms", "threads", "runq", "allgs", "goidgen", "nmidle",
        "nsuspended", "main_g", "stopping", "stop_deadline", "abandon", "exiting", "panic",
        "deadlock", "abandoned", "start_ns", "sysmon_stats", "pwait", "syscall_sites",
        "on_stop", "sysmon_note", "netpoll", "blocking", "__weakref__",
    )

    def __init__(self, procs: int, time_slice_ns: int, async_preempt: bool, debug: Debug,
                 wakeup_granularity_ns: int = 1_000_000) -> None:
        self.lock = _accel.allocate_lock()
        self.procs = procs
        self.time_slice_ns = time_slice_ns
        self.wakeup_granularity_ns = wakeup_granularity_ns
        gran = wakeup_granularity_ns
        self.inherit_limit_ns = time_slice_ns - gran if gran < time_slice_ns else time_slice_ns
        self.async_preempt = async_preempt
        self.debug = debug
        self.ps = [P(i) for i in range(procs)]
        self.ms: list[M] = []
        self.threads: list[threading.Thread] = []  # of Ms other than M0
        self.runq = GlobalRunQueue()
        self.allgs: dict[int, G] = {}
        self.goidgen = 0
        self.nmidle = 0
        self.nsuspended = 0
        self.main_g: G | None = None
        self.stopping = False  # main returned, a goroutine panicked, or deadlock
        self.stop_deadline = 0
        self.abandon = False  # grace period over: give up on the remaining goroutines
        self.exiting = False  # runtime threads are being torn down (under suspend_lock)
        self.panic: tuple[G, BaseException] | None = None
        self.deadlock = False
        self.abandoned: list[G] = []
        self.start_ns = nanotime()
        self.sysmon_stats = {"sysmon_ticks": 0, "syscall_handoffs": 0, "syscall_reports": 0}
        self.pwait: deque[M] = deque()  # Ms back from a syscall, waiting for a P
        self.syscall_sites: set[tuple[str, int]] = set()  # reported by sysmon
        self.on_stop: Callable[[Sched], None] | None = None  # records the final dump
        self.sysmon_note = _thread.allocate_lock()  # held while sysmon sleeps
        self.netpoll: Any = None  # _netpoll.NetPoller, created on first I/O wait
        self.blocking: Any = None  # _blocking.Pool, created on first blocking()


sched: Sched | None = None
ms_by_tid: dict[int, M] = {}
# Guards G.waiters (Goroutine.join); taken before sched.lock.  A finishing G
# sets `finished` and then takes it only if `waiters` exists; join() creates
# `waiters` before it reads `finished`, so one of the two always sees the other.
join_lock = _thread.allocate_lock()


def current_m() -> M | None:
    return ms_by_tid.get(_get_ident())


def getg() -> G | None:
    """The running goroutine, or None outside one (g0, other threads).
    m.curg is None whenever g0 runs scheduler code, so no greenlet check."""
    m = ms_by_tid.get(_get_ident())
    return m.curg if m is not None else None


def enter(what: str) -> G:
    """A blocking runtime call begins: return the calling goroutine, past
    the cooperative safe point (checkpoint) — inlined for the common case
    where nothing is pending, as every channel operation starts here."""
    m = ms_by_tid.get(_get_ident())
    g = m.curg if m is not None else None
    if g is None:
        raise outside(what)
    if g.preempt or g.pending_exc is not None or g.scopes is not None:
        checkpoint(g)
    return g


def must_getg(what: str) -> G:
    g = getg()
    if g is None:
        raise outside(what)
    return g


def outside(what: str) -> RuntimeError:
    return RuntimeError(f"{what} must be called from a goroutine (inside goroutines.run())")


# ---------------------------------------------------------------------------
# Creating and finishing goroutines


def go(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> G:
    """Start fn(*args, **kwargs) in a new goroutine; return it.

    Go's newproc: the new G goes to runnext of the caller's P, so it runs
    when the caller next leaves the CPU."""
    m = ms_by_tid.get(_get_ident())
    if m is None or m.curg is None:
        raise outside("go()")
    if not callable(fn):
        raise TypeError(f"go() needs a callable, got {type(fn).__name__}")
    s = sched
    s.lock.acquire()  # not `with`: lock.__exit__ is a slow varargs call
    try:
        g = newg(s, fn, args, kwargs)
        p = m.p
        if p is None or p.draining:  # (None: a syscall's return raced with its handoff)
            s.runq.put(g)
            wakep(s, s.ps[0])
        else:
            p.runq.put(g, True, s.runq)
            p.runnext_handoff = True
            if s.nmidle:
                wakep(s, p)
    finally:
        s.lock.release()
    return g


def newg(s: Sched, fn: Callable[..., Any], args: tuple, kwargs: dict) -> G:
    """A new runnable G (sched.lock held).  One created while the runtime
    stops is stopped too, at its start."""
    s.goidgen += 1
    g = G(s.goidgen, fn, args, kwargs)
    s.allgs[g.id] = g
    if s.stopping:
        g.pending_exc = GoroutineExit()
    return g


def spawn(s: Sched, p: P, fn: Callable[..., Any], args: tuple, kwargs: dict) -> G:
    """go fn(*args, **kwargs) from scheduler context (a timer's function):
    the new G goes to runnext of p, whose M is running timers."""
    with s.lock:
        g = newg(s, fn, args, kwargs)
        put_runnable(s, g, p, True)
    return g


def add_timer(s: Sched, p: P, when: int, target: Any) -> int:
    """Arm a sleeper or RuntimeTimer on p (sched.lock held); wake p's M if
    it sleeps, so it re-computes how long to sleep, or have a computing M
    watched until the new timer.  Returns the seq."""
    seq = p.timers.add(when, target)
    m = p.m
    if m is not None and m.idle:
        notewakeup(s, m)
    elif m is not None and m.curg is not None and p.timers.heap[0][1] == seq:
        # The new earliest timer of a computing M: whoever watches that M
        # must look again sooner (its own kernel timer, or sysmon).
        if m.backend is not None and m.backend.name == "signal" and m is current_m():
            m.backend.timer_added(m)
        else:
            wake_sysmon(s)
    return seq


def goroutine_main(g: G) -> None:
    """Body of every goroutine greenlet; loops to run the next unstarted G.

    Its frame is the goroutine's entry frame: user frames sit above it, and
    async safe-point checks stop walking here (ENTRY_CODE)."""
    while True:
        try:
            exc = g.pending_exc
            if exc is not None:
                g.pending_exc = None
                raise exc
            g.result = g.fn(*g.args, **g.kwargs)  # type: ignore[misc]
        except GoroutineExit as e:
            g.exc = e
        except BaseException as e:  # noqa: BLE001 - a goroutine's panic
            g.exc = e
        g = goexit1(g)


ENTRY_CODE = goroutine_main.__code__


def goexit1(g: G) -> G:
    """g's function has returned.  Finish g here, on its own greenlet: a dead
    G is on no queue, so nothing can try to run it (Go switches to g0 only
    because it frees the stack).  If the next G to run has not started, it
    starts on this greenlet too — a short-lived goroutine then costs no
    greenlet switch at all.  Otherwise the greenlet returns to the M's gfree
    list and the next G is switched to directly (next_greenlet)."""
    m = g.m
    s = sched
    m.curg = None
    if m.backend is not None:
        m.backend.on_switch_out(m)
    g.finished = True
    joiners = None
    if g.waiters is not None:  # join() creates it before checking finished
        join_lock.acquire()
        try:
            joiners, g.waiters = g.waiters, None
            for sg in joiners:
                complete(sg)
        finally:
            join_lock.release()
    found = pick_next(s, m, g, joiners)
    if found is not None and found[0].resume_gr is None:
        g = found[0]
        execute(s, m, g, found[1])
        return g
    if len(m.gfree) < GFREE_MAX:
        m.gfree.append(_getcurrent())
    return next_greenlet(s, m, found).switch(None)  # from gfree: resumed with a G


def pick_next(s: Sched, m: M, dead: G | None = None,
              joiners: Any = None) -> tuple[G, bool] | None:
    """The next G for m without blocking, from a goroutine's greenlet that
    is giving up the CPU (no runtime lock held): run due timers, pick.
    A finished G is destroyed under the same lock hold (spawn is hot)."""
    p = m.p
    if p is not None and p.timers.heap and p.timers.due(nanotime()):
        run_timers(s, p)
    s.lock.acquire()
    try:
        if dead is not None:
            gdestroy(s, dead, joiners)
        p = m.p
        if m.exiting or p is None:
            return None  # g0 finds work (findrunnable), or a P first
        if s.pwait and p.owes_waiter(s):
            releasep(s, m)  # an M back from a syscall waited long enough
            return None
        return _pick(s, m, p)
    finally:
        s.lock.release()


def next_greenlet(s: Sched, m: M, found: tuple[G, bool] | None) -> greenlet.greenlet:
    """The greenlet a goroutine giving up the CPU (parked or finished,
    m.curg None) switches to, passing None: `found`'s own if it has
    started (execute done), else g0 — which sleeps in findrunnable when
    there is nothing to run, and starts an unstarted G (`m.handoff`): a
    greenlet started from a goroutine's stack would inherit its recursion
    depth, and a chain of goroutines each starting the next would hit
    RecursionError.  The caller switches, so no frame of this function
    stays on a parked goroutine's stack.

    Safe without Go's mcall because a started G is bound to this thread:
    a waker on another M may ready the G that is leaving, but only this
    thread can run it, and only after the switch."""
    if found is None or found[0].resume_gr is None:
        m.handoff = found
        return m.g0  # type: ignore[return-value]
    nxt, inherit = found
    execute(s, m, nxt, inherit)
    return nxt.resume_gr


def new_greenlet(m: M) -> greenlet.greenlet:
    """A greenlet to start a G on: a finished one from gfree, or a new one."""
    if m.gfree:
        return m.gfree.pop()
    m.stats["greenlets_created"] += 1
    return greenlet.greenlet(goroutine_main, parent=m.g0)


def gdestroy(s: Sched, g: G, joiners: Any) -> None:
    """Mark g dead, ready its joiners, record a panic (under sched.lock)."""
    g.atomicstatus = Gdead
    g.fn = g.args = g.kwargs = None  # type: ignore[assignment]
    g.resume_gr = None
    for sg in joiners or ():
        ready_locked(s, sg.g, next=True)
    exc = g.exc
    panicked = (
        exc is not None and not isinstance(exc, GoroutineExit) and s.panic is None
        and (g is s.main_g or exc is not g.thrown)  # dying of a throw() is no panic
    )
    if panicked:
        exc.add_note(f"(raised in goroutine {g.id})")
        s.panic = (g, exc)
    if panicked or g is s.main_g:
        begin_stop(s)  # its dump still lists g, as dead
    del s.allgs[g.id]
    if s.stopping and not s.allgs:
        stop_ms(s)


# ---------------------------------------------------------------------------
# Leaving the CPU: mcall targets (run on g0)


def mcall(g: G, fn: Callable[[M, G], None]) -> Any:
    """Switch from g to its M's g0, which runs fn(m, g); returns on resume."""
    g.resume_gr = _getcurrent()
    return g.m.g0.switch(fn)


def gosched_m(m: M, g: G) -> None:
    """Yield: to the global queue, as in Go (goschedImpl), so a goroutine
    looping on gosched() cannot keep a busy local queue to itself."""
    s = sched
    with s.lock:
        g.atomicstatus = Grunnable
        s.runq.put(g)


def gopreempt_m(m: M, g: G) -> None:
    """Preempted (async or cooperative): like a yield, behind the others.
    Also a chance to poll the network (not in Go, whose sysmon alone polls
    while every P computes): a request that arrived while a goroutine
    computed then waits one time slice at most, not sysmon's 10 ms on top.
    (One epoll_wait(0) per preemption: a few µs per slice.)"""
    g.preempt = False
    if m.p is not None:
        m.p.preempt = False
    gosched_m(m, g)
    np = sched.netpoll
    if np is not None:
        np.poll_stale(0)


def preempt_park(m: M, g: G) -> None:
    """Stopped for suspend_g: _Gpreempted, on no run queue."""
    s = sched
    with s.lock:
        g.preempt = False
        g.preempt_stop = False
        if m.p is not None:
            m.p.preempt = False
        g.atomicstatus = Gpreempted


def gopark(g: G, unlockf: Callable[[Any], None] | None, lock: Any, reason: str) -> None:
    """Park g until ready(g); `unlockf(lock)` runs once g is _Gwaiting, so
    a waker that needs that lock finds it parked.  The next G runs at once
    (next_greenlet): a channel handoff costs one greenlet switch, not two."""
    m = g.m
    s = sched
    g.waitreason = reason
    g.resume_gr = _getcurrent()
    m.curg = None
    if m.backend is not None:
        m.backend.on_switch_out(m)
    s.lock.acquire()
    try:
        g.atomicstatus = Gwaiting
        if g.pending_exc is not None and g.nopreempt == 0:  # throw() raced with parking
            ready_locked(s, g, next=False)
    finally:
        s.lock.release()
    if unlockf is not None:
        unlockf(lock)
    found = pick_next(s, m)
    if found is not None and found[0] is g:  # readied meanwhile: run on
        execute(s, m, g, found[1])
        return
    next_greenlet(s, m, found).switch(None)


def park_unlock(g: G, lock: Any, reason: str) -> None:
    """gopark g, releasing `lock` (a runtime lock g holds) once it is parked.
    _accel puts the C fast path in its place."""
    gopark(g, _release, lock, reason)


def _release(lock: Any) -> None:
    lock.release()


def gosched(g: G) -> None:
    mcall(g, gosched_m)


def checkpoint(g: G) -> None:
    """The cooperative safe point every runtime call passes (Go's stack-bound
    check): get a P back after a syscall, deliver a pending throw(), honour
    a preemption request."""
    if g.m.p is None:
        exitsyscall(g.m, g)
    checkpoint_exc(g)
    if g.preempt and g.nopreempt == 0:
        g.m.stats["preempt_coop"] += 1
        mcall(g, preempt_park if g.preempt_stop else gopreempt_m)
        checkpoint_exc(g)


def checkpoint_exc(g: G) -> None:
    """Raise g's pending exception, unless inside nopreempt()."""
    if g.scopes is not None and g.scopes.cancelled:
        g.scopes.promote(g)  # a cancelled context scope wants its exception raised
    if g.pending_exc is not None and g.nopreempt == 0:
        exc, g.pending_exc = g.pending_exc, None
        raise exc


# ---------------------------------------------------------------------------
# Becoming runnable


def put_runnable(s: Sched, g: G, p: P, next: bool) -> None:
    g.atomicstatus = Grunnable
    p.runq.put(g, next, s.runq)
    wakep(s, p)


def put_global(s: Sched, g: G) -> None:
    """g's M has no P (it is in a syscall, waiting for a P, or idle): g
    waits on the global queue for its M, which is woken to get a P."""
    g.atomicstatus = Grunnable
    s.runq.put(g)
    if g.m.idle:
        notewakeup(s, g.m)


def ready_locked(s: Sched, g: G, next: bool = True) -> None:
    """goready: _Gwaiting -> _Grunnable on g's P (runnext by default).
    Idempotent: a G that is no longer waiting (thrown into, already readied)
    is left alone.  A scanned G is readied by resume_g instead."""
    if g.atomicstatus != Gwaiting:
        return
    if g.scan:
        g.scan_ready = True
        return
    if g.m is not None and g.m.p is None:
        put_global(s, g)
        return
    p = g.m.p if g.m is not None else _p_for_unbound(s)
    put_runnable(s, g, p, next)
    if not next:
        return
    m = current_m()
    p.runnext_handoff = p.m is m and m.curg is not None  # type: ignore[union-attr]
    if p.m is not m:
        # Woken from elsewhere (another M, sysmon): it may preempt p's
        # goroutine.  Readied by p's own goroutine, it waits in runnext for
        # the waker to block, as in Go — preempting the waker would send it
        # behind every other goroutine and stall a ping-pong pair.
        wakeup_preempt(s, p)


def ready_all(gs: list[G]) -> None:
    """goready each of gs, for a caller holding no sched.lock (the
    netpoller's batch).  _accel puts the C fast path in its place."""
    s = sched
    with s.lock:
        for g in gs:
            ready_locked(s, g, next=True)


def wakeup_preempt(s: Sched, p: P) -> None:
    """A goroutine was just woken into p's runnext (by a timer, a channel, a
    lock...).  If p's M is running another goroutine that has had at least
    the wakeup granularity of its slice, ask it to yield now rather than at
    the end of its slice — Linux CFS's wakeup preemption, which Go lacks.
    Not for a goroutine readied by p's own running goroutine (ready_locked);
    another M's goroutine is preempted asynchronously, this M's own (from
    the signal handler) at its next safe point."""
    m = p.m
    cur = m.curg if m is not None else None
    if cur is None or cur.preempt:
        return
    ran = nanotime() - p.schedwhen
    if ran >= s.time_slice_ns - TOLERANCE_NS:
        return  # the slice is over anyway: an ordinary preemption
    if ran < s.wakeup_granularity_ns - TOLERANCE_NS:
        p.wakeup_pending = True  # sysmon or the M's timer preempts at the granularity
        if m is not current_m():
            wake_sysmon(s)
        return
    cur.preempt = True
    p.preempt = True
    m.stats["wakeup_preemptions"] += 1
    if m.backend is not None and m is not current_m():
        from ._preempt import preempt_m

        preempt_m(m)


def _p_for_unbound(s: Sched) -> P:
    return local_p(s, current_m())


def local_p(s: Sched, m: M | None) -> P:
    """The P for work readied or armed by m: its own, or P0 if m has none
    (not a runtime thread, in a syscall) or is draining."""
    p = m.p if m is not None else None
    return p if p is not None and not p.draining else s.ps[0]


def wakep(s: Sched, p: P) -> None:
    """Wake p's M if it sleeps; for stealable work, also another idle M."""
    m = p.m
    if m is not None and m.idle:
        notewakeup(s, m)
    elif s.nmidle:
        for other in s.ms:
            if other.idle and other.p is not None and not other.p.draining:
                notewakeup(s, other)
                break


def wake_sysmon(s: Sched) -> None:
    try:
        s.sysmon_note.release()
    except RuntimeError:
        pass  # not sleeping, or already woken


def notewakeup(s: Sched, m: M) -> None:
    """Wake an idle M.  It stops counting as idle *now*, not when its thread
    gets to run: otherwise checkdead could see every M idle while a woken
    one has work, and call it a deadlock."""
    if m.idle:
        m.idle = False
        s.nmidle -= 1
    if m.polling:
        s.netpoll.netpoll_break()
    else:
        m.cond.notify()


# ---------------------------------------------------------------------------
# The scheduler loop (runs on each M's g0)


def schedule(m: M) -> None:
    """Run goroutines until the runtime stops; returns on g0 when M exits."""
    s = sched
    while True:
        found, m.handoff = m.handoff, None
        if found is None:
            found = findrunnable(s, m)
            if found is None:
                return
        g, inherit = found
        execute(s, m, g, inherit)
        gogo(m, g)


def execute(s: Sched, m: M, g: G, inherit: bool) -> None:
    """Make g m's running goroutine (the switch itself is gogo's)."""
    p = m.p
    now = nanotime()
    if not inherit:
        p.schedtick += 1
        p.schedwhen = now
    g.preempt = p.preempt = p.wakeup_pending = False  # earlier requests are void
    g.atomicstatus = Grunning
    g.m = m
    m.curg = g
    m.stats["switches"] += 1
    if m.backend is not None:
        m.backend.on_execute(m, g)


def gogo(m: M, g: G) -> None:
    """Switch from g0 to g; back on g0, run what the goroutine asked for.
    The goroutine that switches back may not be g (goroutines switch to each
    other directly: next_greenlet): m.curg says which it is, None if it parked
    or finished (nothing left for g0 to do but find work)."""
    gr = g.resume_gr
    fn = gr.switch() if gr is not None else new_greenlet(m).switch(g)
    g = m.curg  # type: ignore[assignment]
    m.curg = None
    if m.backend is not None:
        m.backend.on_switch_out(m)
    if fn is not None:
        fn(m, g)


def findrunnable(s: Sched, m: M) -> tuple[G, bool] | None:
    """The next G for m, blocking while there is none (Go's findRunnable).
    m's P may change while it waits, or go (it is re-read every round)."""
    with s.lock:
        while True:
            p = m.p
            if p is None:
                if m.exiting:
                    return None
                if s.runq.has_own(m):
                    acquirep(s, m)  # its goroutines are runnable again
                else:
                    stopm(s, m, None)  # a spare M: handoff_syscall may give it a P
                continue
            if m.exiting:
                releasep(s, m)  # to an M that still has goroutines to finish
                return None
            if p.timers.heap and p.timers.due(nanotime()):
                s.lock.release()  # timer functions take other locks
                try:
                    run_timers(s, p)
                finally:
                    s.lock.acquire()
                continue  # p may have changed hands meanwhile
            if s.pwait and p.owes_waiter(s):
                releasep(s, m)
                continue
            found = _pick(s, m, p)
            if found is not None:
                return found
            if releasep(s, m):
                continue  # nothing to do here: an M back from a syscall has work
            if s.stopping and (not s.allgs or s.abandon):
                stop_ms(s)
                return None
            stopm(s, m, p)


def stopm(s: Sched, m: M, p: P | None) -> None:
    """m has nothing to run: sleep until woken, p's next timer, or network
    readiness (sched.lock held; released while asleep)."""
    m.idle = True
    s.nmidle += 1
    checkdead(s)  # may ready goroutines, and wake this very M
    if m.idle:
        np = s.netpoll
        if p is None:
            m.cond.wait()
        elif np is not None and np.has_waiters() and not np.polling:
            netpoll_block(s, m, np, p.timers.sleep_for(nanotime()))
        else:
            m.cond.wait(p.timers.sleep_for(nanotime()))
    if m.idle:  # timed out: nobody woke us
        m.idle = False
        s.nmidle -= 1


# ---------------------------------------------------------------------------
# Syscalls: Ps changing hands (Go's entersyscall/exitsyscall, handoffp)


def transfer_p(s: Sched, p: P, to: M) -> None:
    """Give p to `to` (sched.lock held).  The old owner's started Gs in p's
    queue move to the global queue under it; `to` starts a fresh slice."""
    old = p.m
    if old is not None:
        for g in p.runq.take_bound():
            s.runq.put(g)
        old.p = None
    p.m = to
    to.p = p
    p.preempt = p.wakeup_pending = p.runnext_handoff = False
    p.schedwhen = nanotime()
    if to in s.pwait:
        s.pwait.remove(to)


def releasep(s: Sched, m: M) -> bool:
    """m gives its P to the M that has waited longest for one, if any and
    if the P is not draining (sched.lock held).  Did it?"""
    p = m.p
    if not s.pwait or p is None or p.draining:
        return False
    to = s.pwait.popleft()
    transfer_p(s, p, to)
    to.cond.notify()
    return True


def acquirep(s: Sched, m: M) -> None:
    """Block m until it has a P (sched.lock held; released while waiting):
    an idle M's P at once, else the next P released (sched.pwait, FIFO)."""
    while m.p is None:
        for p in s.ps:
            owner = p.m
            if owner is not None and owner.idle and not p.draining and owner is not m:
                transfer_p(s, p, m)
                notewakeup(s, owner)  # it finds itself without a P
                break
        else:
            if m not in s.pwait:
                m.waitp_since = nanotime()
                s.pwait.append(m)
                wake_sysmon(s)  # it preempts whoever holds a P past its slice
            m.cond.wait()


def exitsyscall(m: M, g: G) -> None:
    """g's thread is back from a call during which sysmon gave its P away
    (handoff_syscall).  Block the thread until it has a P again — only this
    thread can run g — then g runs on with a fresh slice (Go's
    exitsyscall).  Runs on g's stack with no runtime lock held."""
    s = sched
    with s.lock:
        exitsyscall_locked(s, m, g)


def exitsyscall_locked(s: Sched, m: M, g: G) -> None:
    while True:
        while g.scan:  # suspend_g holds it: resume_g notifies m.cond
            m.cond.wait()
        acquirep(s, m)
        if not g.scan:
            break
        handoffp(s, m)  # suspended while it waited for a P: others may need it
    p = m.p
    g.atomicstatus = Grunning
    g.preempt = p.preempt = False  # the handoff's request is served
    p.schedtick += 1
    p.schedwhen = nanotime()
    if m.backend is not None:
        m.backend.on_execute(m, g)  # (the signal backend re-arms its timer)


def getp(s: Sched, g: G) -> P:
    """g's own P, for a timer that must not fire before g parks (sched.lock
    held, and no other runtime lock: if a syscall's handoff raced with g's
    return, this waits for a P, and a P's owner may need that lock)."""
    m = g.m
    if m.p is None:
        exitsyscall_locked(s, m, g)
    return m.p  # type: ignore[return-value]


def handoff_syscall(s: Sched, m: M, sample: Any) -> bool:
    """sysmon: m's goroutine has been blocked in a GIL-releasing call since
    `sample` was taken.  Mark it _Gsyscall and give m's P to a waiting M, an
    idle spare one, or a new one (Go's retake + handoffp); m finds out when
    its thread next runs Python code (exitsyscall)."""
    with s.lock:
        g = m.curg
        p = m.p
        if s.stopping or m.sc_sample is not sample or g is None or p is None \
                or g.atomicstatus != Grunning or p.draining:
            return False
        if not handoffp(s, m):
            return False
        g.atomicstatus = Gsyscall
        g.preempt = True  # the next runtime call or landing runs exitsyscall
        s.sysmon_stats["syscall_handoffs"] += 1
    return True


def handoffp(s: Sched, m: M) -> bool:
    """Give m's P to the M waiting longest for one, else to an idle spare
    M, else to a new M (sched.lock held).  False if no M could be had."""
    to = s.pwait[0] if s.pwait else None
    if to is None:
        to = next((o for o in s.ms if o.p is None and o.idle and not o.exiting), None)
    if to is None:
        if len(s.ms) >= MAX_MS:
            return False
        to = M(len(s.ms), None, s.lock)
        if s.async_preempt:
            from ._monitoring import MonitoringBackend

            to.backend = MonitoringBackend(s)
        s.ms.append(to)
        transfer_p(s, m.p, to)  # type: ignore[arg-type]
        s.threads.append(newm(to))  # (its loop waits for sched.lock)
        return True
    transfer_p(s, m.p, to)  # type: ignore[arg-type]
    if to.idle:
        notewakeup(s, to)
    else:
        to.cond.notify()  # it waited in acquirep
    return True


def newm(m: M) -> threading.Thread:
    """Start m's thread and scheduler loop (Go's newm); returns once m.tid is set."""
    started = _thread.allocate_lock()  # the runtime's own locks are never counted
    started.acquire()

    def mstart() -> None:
        m.set_thread()
        started.release()
        schedule(m)

    t = threading.Thread(target=mstart, name=f"goroutines-M{m.id}", daemon=True)
    t.start()
    started.acquire()
    return t


def netpoll_block(s: Sched, m: M, np: Any, timeout: float | None) -> None:
    """Idle m polls the network until an event, a timer or a wake-up (Go's
    findRunnable: one M blocks in netpoll).  Called and returns with
    sched.lock held; the poll readies goroutines without it."""
    np.polling = m.polling = True
    s.lock.release()
    try:
        np.poll(timeout)  # readied goroutines wake their Ms through m.cond
    finally:
        np.polling = m.polling = False
        s.lock.acquire()


def run_timers(s: Sched, p: P) -> None:
    """Run p's expired timers (on p's M, no runtime lock held; _timers.py):
    sleepers are readied into runnext, timer functions called after."""
    s.lock.acquire()
    try:
        expired = p.timers.pop_expired(nanotime())
        for _, target in expired:
            if target.__class__ is G:
                ready_locked(s, target, next=True)
    finally:
        s.lock.release()
    for seq, target in expired:
        if target.__class__ is not G:
            target.fire(seq, p)


def _pick(s: Sched, m: M, p: P) -> tuple[G, bool] | None:
    while True:
        g: G | None = None
        inherit = False
        bound_only = p.draining
        # Go's fairness check of the global queue, every 61 schedticks — after
        # a woken goroutine in runnext, which inherits the slice (no schedtick)
        # and must not wait a whole slice behind a preempted hog.
        if p.schedtick % 61 == 0 and p.runq.runnext is None and s.runq.has_for(m):
            g = s.runq.get(m, bound_only)
        if g is None:
            g, inherit = p.runq.get()
            # A G from runnext inherits the slice (Go: a ping-pong pair must
            # not starve the others) — unless it was woken by a timer or
            # another M and less than the wakeup granularity is left: it
            # would be preempted at once, behind those it was woken to beat.
            if inherit and not p.runnext_handoff \
                    and nanotime() - p.schedwhen >= s.inherit_limit_ns:
                inherit = False
        if g is None:
            g = s.runq.get(m, bound_only)
        if g is None and not bound_only:
            g = _steal(s, p)
        if g is None:
            return None
        if g.scan:  # suspended while runnable: resume_g puts it back
            g.scan_ready = True
            continue
        if g.abandoned:
            continue
        return g, inherit


def _steal(s: Sched, p: P) -> G | None:
    others = [q for q in s.ps if q is not p]
    random.shuffle(others)
    for victim in others:
        g = victim.runq.steal_into(p.runq)
        if g is not None:
            return g
    return None


def checkdead(s: Sched) -> None:
    """All Ms idle, no timers, no suspended Gs, yet goroutines exist: deadlock."""
    if s.nmidle != len(s.ms) or not s.allgs or s.nsuspended:
        return
    if any(p.timers.has_live() for p in s.ps):
        return
    if (s.netpoll is not None and s.netpoll.has_waiters()) or \
            (s.blocking is not None and s.blocking.inflight):
        return  # an I/O event or a blocking call's result may still come
    if s.stopping:
        # Goroutines that blocked again while unwinding: stop them again.
        for g in list(s.allgs.values()):
            throw_locked(s, g, GoroutineExit())
        return
    s.deadlock = True
    begin_stop(s)


def begin_stop(s: Sched) -> None:
    """main returned, a goroutine panicked, or deadlock: stop every goroutine
    with GoroutineExit at its next exception-safe point."""
    if s.stopping:
        return
    # Deadline first: sysmon reads both without the lock, and a `stopping`
    # seen with the old deadline (0) abandoned every goroutine at once.
    s.stop_deadline = nanotime() + STOP_GRACE_NS
    s.stopping = True
    if s.on_stop is not None:
        s.on_stop(s)
    for g in list(s.allgs.values()):
        throw_locked(s, g, GoroutineExit())
    if not s.allgs:
        stop_ms(s)
    else:
        for m in s.ms:
            notewakeup(s, m)


def stop_ms(s: Sched) -> None:
    for m in s.ms:
        m.exiting = True
        notewakeup(s, m)


def throw_locked(s: Sched, g: G, exc: BaseException) -> None:
    """Arrange for exc to be raised in g at its next exception-safe point.
    A parked g is woken (its blocking call raises); a running one is sent
    a preemption request by sysmon's next tick."""
    if g.atomicstatus == Gdead:
        return
    if g.pending_exc is None or isinstance(exc, GoroutineExit):
        g.pending_exc = exc
    if g.atomicstatus == Gwaiting:
        ready_locked(s, g, next=False)
