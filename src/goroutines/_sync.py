"""Goroutine-aware Mutex and WaitGroup (Go's sync package).

They park the goroutine, never the M: a goroutine waiting for a Mutex
lets the other goroutines of its thread run, which a `threading.Lock`
cannot do (it blocks the whole thread, and deadlocks it if the holder is a
goroutine of the same thread).  Unlock hands the mutex directly to the
longest waiter (Go's starvation mode, always): FIFO, so no goroutine waits
forever behind newcomers.
"""

from __future__ import annotations

import _thread
from collections import deque
from typing import Any

from . import _sched
from ._parking import Sudog, complete, park_on, wake


class Mutex:
    """A mutual exclusion lock for goroutines; not re-entrant (as in Go)."""

    __slots__ = ("_lock", "_locked", "_waiters")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._locked = False
        self._waiters: deque[Sudog] = deque()

    def lock(self) -> None:
        """Acquire, parking the goroutine while another holds it."""
        g = _sched.must_getg("Mutex.lock()")
        _sched.checkpoint(g)
        self._lock.acquire()
        if not self._locked:
            self._locked = True
            self._lock.release()
            return
        park_on(self._waiters, self._lock, g, "sync.Mutex.Lock")
        # completed: unlock handed the mutex to us

    def try_lock(self) -> bool:
        """Acquire if free; never blocks."""
        with self._lock:
            if self._locked:
                return False
            self._locked = True
            return True

    def unlock(self) -> None:
        """Release; the longest waiter, if any, owns it next.  Unlocking an
        unlocked mutex raises RuntimeError (a fatal error in Go)."""
        with self._lock:
            if not self._locked:
                raise RuntimeError("sync: unlock of unlocked mutex")
            if not self._waiters:
                self._locked = False
                return
            sg = self._waiters.popleft()
            complete(sg)
        wake((sg,))

    def locked(self) -> bool:
        return self._locked

    def __enter__(self) -> "Mutex":
        self.lock()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unlock()


class WaitGroup:
    """Wait for a collection of goroutines to finish."""

    __slots__ = ("_lock", "_count", "_waiters")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._count = 0
        self._waiters: deque[Sudog] = deque()

    def add(self, n: int = 1) -> None:
        """Add n (may be negative) to the counter; at zero, release waiters.
        A counter that would go negative raises ValueError, unchanged."""
        if n.__class__ is not int and (isinstance(n, bool) or not isinstance(n, int)):
            raise TypeError(f"WaitGroup.add needs an int, not {type(n).__name__}")
        lock = self._lock
        lock.acquire()  # not `with`: this is on every goroutine's exit path
        try:
            count = self._count + n
            if count < 0:
                raise ValueError("sync: negative WaitGroup counter")
            self._count = count
            if count or not self._waiters:
                return
            waiters = list(self._waiters)
            self._waiters.clear()
            for sg in waiters:
                complete(sg)
        finally:
            lock.release()
        wake(waiters)

    def done(self) -> None:
        self.add(-1)

    def wait(self) -> None:
        """Block until the counter is zero."""
        g = _sched.must_getg("WaitGroup.wait()")
        _sched.checkpoint(g)
        self._lock.acquire()
        if self._count == 0:
            self._lock.release()
            return
        park_on(self._waiters, self._lock, g, "sync.WaitGroup.Wait")
