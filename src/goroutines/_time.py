"""Go's time package for goroutines: sleep, Timer, Ticker, after, after_func.

Timers live in the heap of a P (_timers.py) and fire on that P's M, on
time even while its goroutines compute: a due timer preempts the running
goroutine once the wakeup granularity has passed, exactly like a woken
goroutine does.

Semantics are Go 1.23's:

* A Timer's channel `c` has capacity 1 and receives `time.monotonic()`
  when the timer fires.
* After `stop()` or `reset()` returns, no value from before the call is
  received from `c` — a value already buffered is discarded, one being
  sent is suppressed.  `stop()` returns True if it stopped a timer that
  had not fired yet.
* A Ticker sends every period; a slow receiver misses ticks (the buffer
  holds one) rather than receiving a burst.

Lock order: a timer's `_mu`, then its channel's lock, then sched.lock.
"""

from __future__ import annotations

import _thread
import math
import time
from typing import Any, Callable

from . import _sched
from ._chan import Chan
from ._timers import RuntimeTimer


def duration_ns(seconds: float, what: str) -> int:
    """Seconds as integer nanoseconds, with a TypeError/ValueError naming `what`."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} needs a number of seconds, not {type(seconds).__name__}")
    if math.isnan(seconds):
        raise ValueError(f"{what}: seconds is NaN")
    if seconds == math.inf:
        raise ValueError(f"{what}: an infinite duration never fires; block instead")
    return int(seconds * 1e9)


def running_sched(what: str) -> _sched.Sched:
    s = _sched.sched
    if s is None:
        raise RuntimeError(f"{what} needs a running runtime (inside goroutines.run())")
    return s


def local_p(s: _sched.Sched) -> _sched.P:
    """The P whose M should run a timer armed by the caller: the caller's own
    (a running M is never idle), or P0 from outside the runtime's threads."""
    return _sched.local_p(s, _sched.current_m())


def sleep(seconds: float) -> None:
    """Park the calling goroutine for at least `seconds`; <= 0 returns at once."""
    d = duration_ns(seconds, "sleep()")
    g = _sched.enter("sleep()")
    if d <= 0:
        return
    s = _sched.sched
    with s.lock:  # only this P's M runs its timers, after g has parked
        _sched.add_timer(s, _sched.getp(s, g), _sched.nanotime() + d, g)
    while True:
        _sched.gopark(g, None, None, "sleep")
        if g.timer_seq == 0:
            return
        if g.pending_exc is not None and g.nopreempt == 0:
            g.timer_seq = 0
            _sched.checkpoint_exc(g)


class Timer(RuntimeTimer):
    """A single event: `c` receives the time once, `seconds` from now.
    (With after_func, the function is started in a goroutine instead, and
    `c` is None.)"""

    __slots__ = ("c", "_mu", "_seq", "_period", "_fn")

    def __init__(self, seconds: float) -> None:
        self._init(duration_ns(seconds, "Timer()"), 0, Chan(1), None)

    def _init(self, d: int, period: int, c: Chan | None,
              fn: tuple[Callable[..., Any], tuple, dict] | None) -> None:
        super().__init__()
        s = running_sched(type(self).__name__ + "()")
        self.c = c
        self._mu = _thread.allocate_lock()
        self._period = period
        self._fn = fn
        self._seq = 0  # the arming a fire must match; 0: stopped or fired
        self._arm(s, d)

    def _arm(self, s: _sched.Sched, d: int) -> None:
        with s.lock:
            self._seq = _sched.add_timer(s, local_p(s), _sched.nanotime() + d, self)

    def _disarm(self) -> bool:
        """Stop any pending or in-flight fire and drop a buffered value (_mu held)."""
        active = self._seq != 0
        self._seq = 0
        s = _sched.sched
        if s is not None:
            with s.lock:
                self.timer_seq = 0  # its heap entry is stale now
        if self.c is not None:
            self.c.try_recv()
        return active

    def stop(self) -> bool:
        """Stop the timer.  True if it had not fired yet (the call stopped it)."""
        with self._mu:
            return self._disarm()

    def reset(self, seconds: float) -> bool:
        """Re-arm for `seconds` from now; True if it had not fired yet."""
        d = duration_ns(seconds, "reset()")
        with self._mu:
            active = self._disarm()
            self._arm(running_sched("reset()"), d)
        return active

    def fire(self, seq: int, p: Any) -> None:
        with self._mu:
            if self._seq != seq:
                return  # stopped or reset since it expired
            self._seq = 0
            s = _sched.sched
            if self._fn is not None:
                fn, args, kwargs = self._fn
                _sched.spawn(s, p, fn, args, kwargs)
            else:
                self.c.try_send(time.monotonic())  # a full buffer drops it (Ticker)
            if self._period:
                with s.lock:
                    self._seq = _sched.add_timer(s, p, _sched.nanotime() + self._period, self)


class Ticker(Timer):
    """`c` receives the time every `seconds` until stop()."""

    __slots__ = ()

    def __init__(self, seconds: float) -> None:
        d = duration_ns(seconds, "Ticker()")
        if d <= 0:
            raise ValueError("non-positive interval for Ticker")
        self._init(d, d, Chan(1), None)

    def reset(self, seconds: float) -> bool:
        """Stop, then tick every `seconds` from now."""
        d = duration_ns(seconds, "Ticker.reset()")
        if d <= 0:
            raise ValueError("non-positive interval for Ticker.reset")
        with self._mu:
            active = self._disarm()
            self._period = d
            self._arm(running_sched("Ticker.reset()"), d)
        return active


def after(seconds: float) -> Chan:
    """A channel that receives the time once, `seconds` from now (Go's time.After)."""
    return Timer(seconds).c  # type: ignore[return-value]


def after_func(seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Timer:
    """Start fn(*args, **kwargs) in its own goroutine `seconds` from now,
    unless the returned Timer is stopped first."""
    if not callable(fn):
        raise TypeError(f"after_func() needs a callable, got {type(fn).__name__}")
    t = Timer.__new__(Timer)
    t._init(duration_ns(seconds, "after_func()"), 0, None, (fn, args, kwargs))
    return t
