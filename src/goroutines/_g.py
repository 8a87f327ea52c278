"""G: a goroutine, its status word and its transitions.

Go's status values are kept (they are printed by `scheddetail`), with the
same meaning (go-preemption-spec §1.1):

    _Grunnable  on a run queue, not executing
    _Grunning   executing on its M (its thread)
    _Gsyscall   blocked in a call that released the GIL, its P handed to
                another M by sysmon; back to _Grunning in exitsyscall
    _Gwaiting   parked in the runtime (channel, sleep, mutex, join)
    _Gpreempted stopped itself for suspend_g; nothing will ready it until a
                suspend_g takes responsibility (moves it to _Gwaiting)
    _Gdead      finished (or never started)

`scan` plays the role of Go's _Gscan bit: while a suspend_g holds it the G
must not run; a ready() that arrives meanwhile is remembered in
`scan_ready` and performed by resume_g.

Every transition happens under `sched.lock`.  A G that has started is bound
to its M for life (a greenlet only runs on the thread that started it), so
`g.m` is set at first execute and never changes (its M's P may).
"""

from __future__ import annotations

from typing import Any, Callable

import greenlet

Gidle = 0
Grunnable = 1
Grunning = 2
Gsyscall = 3
Gwaiting = 4
Gdead = 6
Gpreempted = 9

STATUS_NAMES = {
    Gidle: "runnable",
    Grunnable: "runnable",
    Grunning: "running",
    Gsyscall: "syscall",
    Gwaiting: "waiting",
    Gdead: "dead",
    Gpreempted: "preempted",
}


class GoroutineExit(BaseException):
    """Raised inside a goroutine to stop it: its `finally` blocks and `with`
    exits run.  Sent to every other goroutine when `run()` ends."""


class G:
    """A goroutine.  The public face is `Goroutine` (this class)."""

    __slots__ = (
        "id", "fn", "args", "kwargs", "atomicstatus", "m", "resume_gr",
        "preempt", "preempt_stop", "pending_exc", "thrown", "nopreempt",
        "scan", "scan_ready", "waitreason", "result", "exc", "waiters",
        "timer_seq", "finished", "abandoned", "scopes", "__weakref__",
    )

    def __init__(self, gid: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.id = gid
        self.fn: Callable[..., Any] | None = fn
        self.args = args
        self.kwargs = kwargs
        self.atomicstatus = Grunnable  # Go's name; read through .status
        self.m: Any = None  # the M this G is bound to once started
        self.resume_gr: greenlet.greenlet | None = None  # greenlet to switch to on resume
        self.preempt = False  # preemption requested (Go's g.preempt / stackguard0)
        self.preempt_stop = False  # on preemption, park as _Gpreempted (suspend_g)
        self.pending_exc: BaseException | None = None  # throw(): raise at an exception-safe point
        self.thrown: BaseException | None = None  # last throw(): dying of it is no panic
        self.nopreempt = 0  # depth of nopreempt() regions
        self.scan = False  # held by suspend_g (Go's _Gscan bit)
        self.scan_ready = False  # ready() arrived while scanned
        self.waitreason = ""
        self.result: Any = None
        self.exc: BaseException | None = None
        self.waiters: list[G] | None = None  # goroutines blocked in join()
        self.timer_seq = 0  # the sleep timer that may wake this G (0: none)
        self.finished = False  # set under join_lock before joiners are released
        self.abandoned = False
        self.scopes: Any = None  # _context.ScopeStack while inside a context scope

    def wants_exc(self) -> bool:
        """An exception waits to be raised at g's next exception-safe point:
        a throw(), or a cancelled context scope (_context.py)."""
        return self.pending_exc is not None or (self.scopes is not None and self.scopes.cancelled)

    def __repr__(self) -> str:
        return f"<Goroutine {self.id} [{self.status}]>"

    @property
    def status(self) -> str:
        """"runnable", "running", "waiting", "syscall", "preempted" or "dead"."""
        return STATUS_NAMES[self.atomicstatus]

    def join(self) -> Any:
        """Wait for this goroutine to finish; return its result, or raise the
        exception it died with (None if it was stopped by GoroutineExit)."""
        from ._join import join

        return join(self)

    def throw(self, exc: BaseException | type[BaseException]) -> None:
        """Raise `exc` in this goroutine at its next exception-safe point:
        mid-computation if it is running, from the blocking call if it is
        parked.  Does nothing if it has finished."""
        from ._join import throw

        throw(self, exc)
