"""The public functions of the runtime (DESIGN.md §4), thin over the scheduler."""

from __future__ import annotations

from typing import Any

from . import _preempt, _run, _sched
from ._g import G
from ._sched import must_getg


def gosched() -> None:
    """Yield the processor: other runnable goroutines run first."""
    g = must_getg("gosched()")
    _sched.checkpoint_exc(g)
    _sched.gosched(g)
    _sched.checkpoint_exc(g)


def current() -> G:
    """The calling goroutine."""
    return must_getg("current()")


def num_goroutine() -> int:
    """How many goroutines exist (0 outside run())."""
    s = _sched.sched
    return len(s.allgs) if s is not None else 0


def gomaxprocs(n: int | None = None) -> int:
    """Return GOMAXPROCS; with n, change it and return the previous value.
    Outside run() it sets the default for the next run()."""
    s = _sched.sched
    prev = s.procs if s is not None else _run.default_procs
    if n is None:
        return prev
    n = _run._check_procs(n)
    if s is None:
        _run.default_procs = n
    elif n != s.procs:
        _run.procresize(n)
    return prev


class nopreempt:
    """`with nopreempt():` — no asynchronous preemption or throw() inside;
    a request that arrives meanwhile is honoured when the region ends.
    Re-entrant; does nothing outside a goroutine."""

    __slots__ = ("g",)

    def __enter__(self) -> "nopreempt":
        self.g = _sched.getg()
        if self.g is not None:
            self.g.nopreempt += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        g = self.g
        if g is not None:
            g.nopreempt -= 1
            if g.nopreempt == 0 and (g.preempt or g.pending_exc is not None):
                _sched.checkpoint(g)


class Suspended:
    """A goroutine held by suspend(): it will not run until resume().

    `.frames` is its stack (innermost last, runtime frames left out);
    `.dead` is True if it had already finished.  Use as a context manager
    to resume on exit."""

    __slots__ = ("_state", "frames", "dead", "goroutine")

    def __init__(self, state: _preempt.SuspendState) -> None:
        self._state = state
        self.goroutine = state.g
        self.dead = state.dead
        self.frames = _preempt.stack_of(state.g)

    def resume(self) -> None:
        """Let the goroutine run again (idempotent)."""
        state, self._state = self._state, None
        if state is not None:
            _preempt.resume_g(state)

    def __enter__(self) -> "Suspended":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.resume()


def suspend(g: G, timeout: float | None = None) -> Suspended:
    """Stop g at a safe point (Go's suspendG) so it can be inspected.

    A running goroutine is preempted at its next async safe point and kept
    off the run queues; a parked one stays parked; a finished one gives
    dead=True.  Suspending the calling goroutine raises RuntimeError;
    TimeoutError if g reaches no safe point within `timeout` seconds."""
    if not isinstance(g, G):
        raise TypeError(f"suspend() needs a Goroutine, not {type(g).__name__}")
    return Suspended(_preempt.suspend_g(g, timeout))


def stats() -> dict[str, int]:
    """Scheduler counters of the current run, or of the last one."""
    s = _sched.sched
    return _run.stats_of(s) if s is not None else dict(_run.last_stats)


def dump() -> str:
    """Every goroutine with its status and stack (Go's SIGQUIT dump).
    After run() returns: the goroutines alive when it began stopping."""
    s = _sched.sched
    return _run.dump_of(s) if s is not None else _run.last_dump
