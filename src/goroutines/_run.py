"""run(): start the runtime, run main, stop everything, report.

Start-up: Ps and Ms are created, M0 is the calling thread (its g0 is the
calling greenlet), the other Ms get threads, sysmon starts, the
preemption backends are installed (signal for M0 on the main thread,
monitoring everywhere else), and the interpreter's switch interval is
brought near the time slice (sysmon and the Ms wait that long for the GIL).

Shutdown, in an order that makes the exit race impossible:
1. main returns (or a goroutine panics, or deadlock): every other
   goroutine gets GoroutineExit at its next exception-safe point, within
   a grace period after which it is abandoned and reported on stderr;
2. the Ms leave their scheduler loops when no goroutine is left;
3. `suspend_lock` is taken and `sched.exiting` set: from here no injection
   is in flight or can start; then the timer is stopped, the threads are
   joined, and every hook (signal handler, monitoring tool, gc callback,
   switch interval) is restored, so run() can be called again.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable

from . import _debug, _hazards, _locks, _monitoring, _preempt, _sched, _signal
from ._g import G, STATUS_NAMES
from ._sched import M, P, Sched
from ._sysmon import Sysmon

_run_lock = threading.Lock()
# GOMAXPROCS: one P under the GIL (more would only fight over it), one per
# CPU on free-threaded builds.
default_procs = 1 if getattr(sys, "_is_gil_enabled", lambda: True)() else (os.cpu_count() or 1)
last_stats: dict[str, int] = {}
last_dump = ""
# Goroutines abandoned by earlier runs: kept alive so that their greenlets are
# never collected (collecting one throws GreenletExit into it, which CPython
# may deliver at a point that skips its handlers).
abandoned: list[G] = []


def run(main: Callable[..., Any], *args: Any, procs: int | None = None,
        time_slice: float = 0.010, async_preempt: bool | None = None,
        wakeup_granularity: float | None = 0.001) -> Any:
    """Run main(*args) as goroutine 1 and return its result (see README).

    A goroutine woken by a timer, channel or lock preempts the running one
    once that has run `wakeup_granularity` seconds of its slice (None: only
    at the end of the slice, as in Go)."""
    if not callable(main):
        raise TypeError(f"run() needs a callable, got {type(main).__name__}")
    procs = _check_procs(default_procs if procs is None else procs)
    slice_ns = _seconds_ns("time_slice", time_slice)
    if wakeup_granularity is None:
        granularity_ns = slice_ns
    else:
        granularity_ns = _seconds_ns("wakeup_granularity", wakeup_granularity, allow_zero=True)
    if not _run_lock.acquire(blocking=False):
        raise RuntimeError("goroutines.run() is already running")
    try:
        return _run(main, args, procs, slice_ns, min(granularity_ns, slice_ns), async_preempt)
    finally:
        _run_lock.release()


def _seconds_ns(name: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not (value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{name} must be {'>=' if allow_zero else '>'} 0 seconds, got {value}")
    return int(value * 1e9)


def _check_procs(procs: Any) -> int:
    if isinstance(procs, bool) or not isinstance(procs, int):
        raise TypeError(f"procs must be an int, not {type(procs).__name__}")
    if procs < 1:
        raise ValueError(f"procs must be >= 1, got {procs}")
    return procs


def _run(main: Callable[..., Any], args: tuple, procs: int, slice_ns: int, granularity_ns: int,
         async_preempt: bool | None) -> Any:
    debug = _debug.parse()
    async_on = not debug.asyncpreemptoff if async_preempt is None else bool(async_preempt)
    s = Sched(procs, slice_ns, async_on, debug, granularity_ns)
    s.ms = [M(p.id, p, s.lock) for p in s.ps]
    for m in s.ms:
        m.p.m = m
    main_g = _sched.newg(s, main, args, {})
    s.main_g = main_g
    s.on_stop = record_dump
    s.ps[0].runq.put(main_g, True, s.runq)
    _sched.sched = s
    restore = _install(s)
    m0 = s.ms[0]
    m0.set_thread()
    s.threads = [_sched.newm(m) for m in s.ms[1:]]
    sysmon = Sysmon(s)
    sysmon.start()
    try:
        _sched.schedule(m0)
    finally:
        _shutdown(s, sysmon, restore)
    if s.panic is not None:
        raise s.panic[1]
    if s.deadlock:
        raise _sched.Deadlock("all goroutines are asleep - deadlock!\n\n" + last_dump)
    return main_g.result


def procresize(n: int) -> None:
    """GOMAXPROCS(n) while running (Go's procresize).  Growing reactivates
    drained Ps, then adds Ps with new Ms and threads.  Shrinking drains the
    Ps beyond n: their not-yet-started goroutines move to the global queue;
    their started ones finish on their own M (they cannot move), which
    takes no new work."""
    s = _sched.sched
    with s.lock:
        new_ms = []
        while len(s.ps) < n:
            p = P(len(s.ps))
            m = M(len(s.ms), p, s.lock)
            p.m = m
            if s.async_preempt:
                m.backend = _monitoring.MonitoringBackend(s)
            s.ps.append(p)
            s.ms.append(m)
            new_ms.append(m)
        for p in s.ps:
            p.draining = p.id >= n
            if p.draining:
                for g in p.runq.take_unbound():
                    s.runq.put(g)
        s.procs = n
        for m in s.ms:
            _sched.notewakeup(s, m)
    s.threads.extend(_sched.newm(m) for m in new_ms)


def _install(s: Sched) -> Callable[[], None]:
    """Install the hooks of a run; return the function that removes them."""
    old_interval = sys.getswitchinterval()
    # sysmon waits this long for the GIL before it can act: keep it within
    # half a slice and the wakeup granularity (no cost while nobody waits).
    limit = min(s.time_slice_ns / 2, s.wakeup_granularity_ns) / 1e9
    sys.setswitchinterval(min(old_interval, max(limit, 0.0002)))
    _hazards.install()
    _locks.install()
    signal_backend = None
    if s.async_preempt and not _monitoring.install():
        sys.stderr.write("goroutines: sys.monitoring tool ids 3 and 4 are taken; "
                         "asynchronous preemption is off\n")
        s.async_preempt = False
    if s.async_preempt:
        for m in s.ms:
            m.backend = _monitoring.MonitoringBackend(s)
        if threading.current_thread() is threading.main_thread() and _signal.available():
            signal_backend = _signal.SignalBackend(s.ms[0], s)
            s.ms[0].backend = signal_backend

    def restore() -> None:
        if signal_backend is not None:
            signal_backend.close()
        _monitoring.uninstall()
        _locks.uninstall()
        _hazards.uninstall()
        sys.setswitchinterval(old_interval)

    return restore


def _shutdown(s: Sched, sysmon: Sysmon, restore: Callable[[], None]) -> None:
    global last_stats
    with s.lock:
        _sched.begin_stop(s)
        _sched.stop_ms(s)
    with _preempt.suspend_lock:
        s.exiting = True
    for t in s.threads:
        t.join()
    sysmon.stop()
    if s.blocking is not None:
        s.blocking.close()  # calls still running finish on their own threads
    if s.netpoll is not None:
        s.netpoll.close()
    restore()
    last_stats = stats_of(s)
    abandoned.extend(s.abandoned)
    _sched.ms_by_tid.clear()
    _sched.sched = None


def stats_of(s: Sched) -> dict[str, int]:
    out = dict.fromkeys(_sched.M_STATS, 0)
    for m in s.ms:
        for k, v in m.stats.items():
            out[k] += v
    out["goroutines_created"] = s.goidgen
    out["goroutines_alive"] = len(s.allgs)
    out["goroutines_abandoned"] = len(s.abandoned)
    out["procs"] = s.procs
    out["time_slice_us"] = s.time_slice_ns // 1000
    out["wakeup_granularity_us"] = s.wakeup_granularity_ns // 1000
    out["async_preempt"] = int(s.async_preempt)
    out["signal_backend"] = int(any(m.backend is not None and m.backend.name == "signal" for m in s.ms))
    out.update(s.sysmon_stats)
    if s.blocking is not None:
        out.update(s.blocking.stats())
    return out


def dump_of(s: Sched, limit: int = 10_000) -> str:
    """Every goroutine: `goroutine N [status]:` and its stack, innermost last."""
    out = []
    for g in list(s.allgs.values())[:limit]:
        status = STATUS_NAMES[g.atomicstatus]
        if g.waitreason and status == "waiting":
            status = g.waitreason
        out.append(f"goroutine {g.id} [{status}]:\n")
        try:
            out.extend(_preempt.stack_of(g).format())
        except Exception as e:  # noqa: BLE001 - a dump must not fail
            out.append(f"  <stack unavailable: {e!r}>\n")
        out.append("\n")
    return "".join(out)


def record_dump(s: Sched) -> None:
    """Taken when the runtime starts stopping: what was alive, and where."""
    global last_dump
    last_dump = dump_of(s, limit=1000)

