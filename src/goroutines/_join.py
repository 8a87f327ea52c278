"""Goroutine.join() and Goroutine.throw()."""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from . import _preempt, _sched
from ._g import G, GoroutineExit, Gdead, Grunning
from ._parking import park_on

def join(g: G) -> Any:
    cur = _sched.getg()
    if cur is g:
        raise RuntimeError("join of the calling goroutine would never return")
    if not g.finished:
        if cur is None:
            raise RuntimeError(f"join of running goroutine {g.id} from outside a goroutine")
        _sched.checkpoint(cur)
        join_lock = _sched.join_lock
        join_lock.acquire()
        if g.waiters is None:
            g.waiters = deque()  # before reading finished: see _sched.join_lock
        if g.finished:
            join_lock.release()
        else:
            park_on(g.waiters, join_lock, cur, "join")
    if g.exc is not None and not isinstance(g.exc, GoroutineExit):
        raise g.exc
    return g.result


def throw(g: G, exc: BaseException | type[BaseException]) -> None:
    if isinstance(exc, type) and issubclass(exc, BaseException):
        exc = exc()
    if not isinstance(exc, BaseException):
        raise TypeError(f"throw() needs an exception, not {type(exc).__name__}")
    if g is _sched.getg():
        raise exc
    interrupt(g, exc)


def interrupt(g: G, exc: BaseException, still: Callable[[], bool] | None = None) -> None:
    """Make exc pending in g (not the caller) and get it delivered: a parked
    g is woken, a running one is sent a preemption request.  With `still`,
    nothing happens unless still() holds under sched.lock."""
    s = _sched.sched
    if s is None or g.atomicstatus == Gdead:
        return
    with s.lock:
        if still is not None and not still():
            return
        g.thrown = exc
        _sched.throw_locked(s, g, exc)
        m = g.m if g.atomicstatus == Grunning else None
    if m is not None and m.backend is not None and m is not _sched.current_m():
        _preempt.preempt_m(m)
