"""Goroutine-aware synchronisation (Go's sync package, and the weighted
semaphore of golang.org/x/sync/semaphore).

They park the goroutine, never the M: a goroutine waiting for a Mutex
lets the other goroutines of its thread run, which a `threading.Lock`
cannot do (it blocks the whole thread, and deadlocks it if the holder is a
goroutine of the same thread).  Invariants shared by every type here:

* Each object's state and wait queues are guarded by its own thread lock,
  held only for a few statements and never across a switch except through
  park_on, which releases it once the goroutine is parked (_parking).
* A blocking call is a cooperative safe point (`_sched.checkpoint` on
  entry), and a waiter can be thrown into: it either returns owning what it
  waited for (completed first: the exception stays pending for the next
  safe point) or raises having taken nothing.  A waiter that leaves may
  unblock the ones behind it (a writer holding readers back, a semaphore
  request at the head of the queue): `_park` lets them in.
* Ownership is handed over, never competed for: the releaser picks the
  next owner(s) and completes them, so waiters are served in FIFO order
  (Go's starvation mode, always; RWMutex admits queued readers as a group)
  and no goroutine waits forever behind newcomers.
* No lock of this module is held while user code runs, except Cond's
  around its L.unlock() (runtime frames on the stack: not preemptible).
"""

from __future__ import annotations

import _thread
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, Self

from . import _hazards, _sched
from ._g import G
from ._parking import Sudog, complete, park_on, wake


class Locker(Protocol):
    """Go's sync.Locker: what Cond needs (Mutex, RWMutex, rw.rlocker())."""

    def lock(self) -> None: ...

    def unlock(self) -> None: ...


def _complete_all(q: deque[Sudog]) -> list[Sudog]:
    """Complete every waiter of q (caller holds q's lock); wake() them after."""
    sgs = list(q)
    q.clear()
    for sg in sgs:
        complete(sg)
    return sgs


def _park(owner: Any, q: deque[Sudog], g: G, reason: str, elem: Any = None) -> None:
    """park_on(q) for objects whose waiters can hold others back.  If g is
    thrown out before being completed, the state it waited in may now let
    others in: `owner._grant()` (under owner._lock) says whom, as on release."""
    lock = owner._lock
    try:
        park_on(q, lock, g, reason, elem)
    except BaseException:
        lock.acquire()
        sgs = owner._grant()
        lock.release()
        if sgs:
            wake(sgs)
        raise


def _check_int(n: Any, what: str) -> None:
    if n.__class__ is not int and (isinstance(n, bool) or not isinstance(n, int)):
        raise TypeError(f"{what} needs an int, not {type(n).__name__}")


def _check_weight(n: Any, what: str) -> None:
    _check_int(n, what)
    if n < 0:
        raise ValueError(f"{what} needs a non-negative int, got {n}")


def _relock(locker: Locker, g: G) -> None:
    """locker.lock() with a throw() held back until it returns: Cond.wait
    must not raise before the caller holds the lock again."""
    g.nopreempt += 1
    try:
        locker.lock()
    finally:
        g.nopreempt -= 1


class Mutex:
    """A mutual exclusion lock for goroutines; not re-entrant (as in Go)."""

    __slots__ = ("_lock", "_locked", "_waiters")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._locked = False
        self._waiters: deque[Sudog] = deque()

    def lock(self) -> None:
        """Acquire, parking the goroutine while another holds it."""
        g = _sched.enter("Mutex.lock()")
        self._lock.acquire()
        if not self._locked:
            self._locked = True
            self._lock.release()
            return
        park_on(self._waiters, self._lock, g, "sync.Mutex.Lock")
        # completed: unlock handed the mutex to us

    def try_lock(self) -> bool:
        """Acquire if free; never blocks."""
        lock = self._lock
        lock.acquire()
        free = not self._locked
        self._locked = True  # locked now either way
        lock.release()
        return free

    def unlock(self) -> None:
        """Release; the longest waiter, if any, owns it next.  Unlocking an
        unlocked mutex raises RuntimeError (a fatal error in Go)."""
        lock = self._lock
        lock.acquire()
        if not self._locked:
            lock.release()
            raise RuntimeError("sync: unlock of unlocked mutex")
        if not self._waiters:
            self._locked = False
            lock.release()
            return
        sg = self._waiters.popleft()
        complete(sg)
        lock.release()
        wake((sg,))

    def locked(self) -> bool:
        return self._locked

    def __enter__(self) -> Self:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()


class RWMutex:
    """A reader/writer lock: any number of readers or one writer.

    Writer preference, as in Go: once a writer waits, new readers queue
    behind it, so a stream of readers cannot starve writers; when a writer
    unlocks, every reader that queued meanwhile is admitted at once, before
    the next writer, so writers cannot starve readers either.  Not
    re-entrant: a reader that rlock()s again while a writer waits deadlocks,
    as in Go.  `with rw:` takes the write lock; `with rw.rlocker():` the
    read lock.  Misuse raises RuntimeError with Go's fatal-error message."""

    # State: _writer (a writer holds it), _readers (how many readers hold
    # it), _wwait/_rwait (queued writers/readers).  Invariants under _lock:
    # readers queue only behind a holding or queued writer, and a queued
    # writer has a holder (writer or readers) ahead of it.
    __slots__ = ("_lock", "_writer", "_readers", "_rwait", "_wwait")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._writer = False
        self._readers = 0
        self._rwait: deque[Sudog] = deque()
        self._wwait: deque[Sudog] = deque()

    def rlock(self) -> None:
        """Acquire for reading, parking while a writer holds it or waits."""
        g = _sched.enter("RWMutex.rlock()")
        lock = self._lock
        lock.acquire()
        if self._writer or self._wwait:
            # a leaving reader holds nobody back: plain park_on
            park_on(self._rwait, lock, g, "sync.RWMutex.RLock")
            return  # completed: admitted, and counted, by the unlocker
        self._readers += 1
        lock.release()

    def try_rlock(self) -> bool:
        """Acquire for reading if no writer holds it or waits; never blocks."""
        lock = self._lock
        lock.acquire()
        ok = not self._writer and not self._wwait
        if ok:
            self._readers += 1
        lock.release()
        return ok

    def runlock(self) -> None:
        """Release a read lock; the last reader out hands it to a waiting
        writer.  RuntimeError if no reader holds it."""
        lock = self._lock
        lock.acquire()
        readers = self._readers
        if not readers:
            lock.release()
            raise RuntimeError("sync: RUnlock of unlocked RWMutex")
        self._readers = readers - 1
        if readers > 1 or not self._wwait:
            lock.release()
            return
        sgs = self._grant()
        lock.release()
        wake(sgs)

    def lock(self) -> None:
        """Acquire for writing, parking while anyone holds it.  From the
        moment it waits, new readers wait behind it."""
        g = _sched.enter("RWMutex.lock()")
        lock = self._lock
        lock.acquire()
        if self._writer or self._readers:
            _park(self, self._wwait, g, "sync.RWMutex.Lock")
            return  # completed: handed over by the last holder
        self._writer = True
        lock.release()

    def try_lock(self) -> bool:
        """Acquire for writing if nobody holds it; never blocks."""
        lock = self._lock
        lock.acquire()
        ok = not self._writer and not self._readers
        if ok:
            self._writer = True
        lock.release()
        return ok

    def unlock(self) -> None:
        """Release the write lock: the readers that queued meanwhile go
        first, all together; else the next writer.  RuntimeError if no
        writer holds it."""
        lock = self._lock
        lock.acquire()
        if not self._writer:
            lock.release()
            raise RuntimeError("sync: Unlock of unlocked RWMutex")
        self._writer = False
        if not self._rwait and not self._wwait:
            lock.release()
            return
        # readers before the queued writers even though those came first:
        # the writers' turn comes when these readers leave (no starvation)
        sgs = self._admit_readers() if self._rwait else self._grant()
        lock.release()
        wake(sgs)

    def rlocker(self) -> RLocker:
        """A Locker whose lock()/unlock() are rlock()/runlock() (Go's RLocker)."""
        return RLocker(self)

    def _grant(self) -> list[Sudog]:
        """Under _lock: admit whoever may hold it now — the head writer once
        nobody holds it, the queued readers once no writer holds or awaits
        it (after a waiting writer was thrown out)."""
        if self._writer:
            return []
        if self._wwait:
            if self._readers:
                return []
            self._writer = True
            sg = self._wwait.popleft()
            complete(sg)
            return [sg]
        return self._admit_readers()

    def _admit_readers(self) -> list[Sudog]:
        sgs = _complete_all(self._rwait)
        self._readers += len(sgs)
        return sgs

    def __enter__(self) -> Self:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()


class RLocker:
    """rw.rlocker(): the read side of an RWMutex as a Locker."""

    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    def lock(self) -> None:
        self._rw.rlock()

    def unlock(self) -> None:
        self._rw.runlock()

    def __enter__(self) -> Self:
        self._rw.rlock()
        return self

    def __exit__(self, *exc: object) -> None:
        self._rw.runlock()


class Once:
    """Run a function once (Go's sync.Once).

    The first do() runs fn; concurrent callers park until it has finished;
    every later call returns at once (from anywhere, even outside run()).
    If fn raises, the once is spent all the same, as in Go: the exception
    propagates to the first caller only, the others return normally and fn
    is never called again.  A caller thrown into before fn starts, or while
    waiting for it, raises and leaves the Once as it was.  fn runs
    preemptibly, like any user code.  A do() on the same Once from inside
    fn raises RuntimeError (Go deadlocks)."""

    __slots__ = ("_lock", "_done", "_running", "_waiters")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._done = False
        self._running: G | None = None  # the goroutine running fn
        self._waiters: deque[Sudog] = deque()

    @property
    def done(self) -> bool:
        """True once fn has returned or raised: do() calls nothing again."""
        return self._done

    @_hazards.transparent  # fn runs above this frame: it must stay preemptible
    def do(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call fn(*args, **kwargs) if no do() of this Once has; its result
        is discarded, as in Go."""
        if self._done:
            return
        if self._claim():
            try:
                fn(*args, **kwargs)
            finally:
                self._finish()

    def _claim(self) -> bool:
        """True: the caller runs fn.  False: fn has finished (the caller
        parked while another goroutine ran it)."""
        g = _sched.enter("Once.do()")
        lock = self._lock
        lock.acquire()
        if self._done:
            lock.release()
            return False
        running = self._running
        if running is None:
            self._running = g
            lock.release()
            return True
        if running is g:
            lock.release()
            raise RuntimeError("sync: Once.do called from its own function")
        park_on(self._waiters, lock, g, "sync.Once.Do")
        return False

    def _finish(self) -> None:
        lock = self._lock
        lock.acquire()
        self._done = True
        self._running = None
        sgs = _complete_all(self._waiters)
        lock.release()
        if sgs:
            wake(sgs)


class Cond:
    """A condition variable (Go's sync.Cond): goroutines wait() for a
    change of state guarded by `L`, a Mutex, RWMutex, rw.rlocker() or any
    object with lock()/unlock().

    wait() atomically unlocks L and parks; it re-locks L before returning
    (or raising).  signal() wakes the longest waiter, broadcast() all of
    them; neither requires holding L.  As in Go, a woken waiter must
    re-check its condition in a loop: another goroutine may have taken L
    first.

    If wait() raises (throw() while parked), it took no signal: a signal
    already given to that waiter passes to the next one (at worst a
    spurious wakeup there).  Returning normally means it was woken, though
    a throw() may still be pending for the next safe point (always, inside
    nopreempt()).  Like threading.Condition, wait() relocks L even when
    thrown into, so a waiter whose L is never released again (its holder
    finished holding it) cannot leave, even for run()'s GoroutineExit."""

    __slots__ = ("L", "_lock", "_waiters")

    def __init__(self, L: Locker) -> None:
        if not (callable(getattr(L, "lock", None)) and callable(getattr(L, "unlock", None))):
            raise TypeError(f"Cond needs a lock with lock() and unlock(), not {type(L).__name__}")
        self.L = L
        self._lock = _thread.allocate_lock()
        # Sudog.elem is True for a waiter woken by signal() alone: the
        # wakeup it must pass on if it raises instead of returning
        self._waiters: deque[Sudog] = deque()

    def wait(self) -> None:
        """Unlock L, park until signalled, lock L again.  The caller must
        hold L (RuntimeError from L.unlock() otherwise, with L untouched)."""
        g = _sched.enter("Cond.wait()")
        lock = self._lock
        lock.acquire()
        # enqueueing and unlocking under our lock: a signal() by whoever
        # takes L next cannot miss this waiter
        try:
            self.L.unlock()
        except BaseException:
            lock.release()
            raise
        try:
            sg = park_on(self._waiters, lock, g, "sync.Cond.Wait")
        except BaseException:
            _relock(self.L, g)  # thrown out before any wakeup: none to pass on
            raise
        _relock(self.L, g)
        if sg.elem and g.pending_exc is not None and g.nopreempt == 0:
            self.signal()  # about to raise: this waiter's signal goes to the next
        _sched.checkpoint(g)

    def signal(self) -> None:
        """Wake the longest waiter, if any."""
        lock = self._lock
        lock.acquire()
        if not self._waiters:
            lock.release()
            return
        sg = self._waiters.popleft()
        complete(sg, True)
        lock.release()
        wake((sg,))

    def broadcast(self) -> None:
        """Wake every waiter."""
        lock = self._lock
        lock.acquire()
        sgs = _complete_all(self._waiters)
        lock.release()
        if sgs:
            wake(sgs)


class Semaphore:
    """A weighted semaphore of `n` units (golang.org/x/sync/semaphore).

    acquire(k) parks until k units are free; requests are served in FIFO
    order, so a large one at the head holds back smaller ones behind it
    (which could fit) rather than starve.  `with sem:` acquires 1 unit.
    Weights are non-negative ints (TypeError, ValueError otherwise);
    acquire(k) with k > n raises ValueError at once (it could never
    succeed), release() of more than is held raises ValueError."""

    __slots__ = ("_lock", "_size", "_cur", "_waiters")

    def __init__(self, n: int) -> None:
        _check_weight(n, "Semaphore size")
        self._lock = _thread.allocate_lock()
        self._size = n
        self._cur = 0  # units held
        self._waiters: deque[Sudog] = deque()  # Sudog.elem: the weight asked for

    def acquire(self, n: int = 1) -> None:
        """Take n units, parking until they are free and every earlier
        request has been served."""
        if n.__class__ is not int or n < 0:
            _check_weight(n, "Semaphore.acquire")
        if n > self._size:
            raise ValueError(f"semaphore: acquire of {n} exceeds the size {self._size}")
        g = _sched.enter("Semaphore.acquire()")
        lock = self._lock
        lock.acquire()
        if self._size - self._cur >= n and not self._waiters:
            self._cur += n
            lock.release()
            return
        _park(self, self._waiters, g, "semaphore.Acquire", n)
        # completed: release() counted our units as held

    def try_acquire(self, n: int = 1) -> bool:
        """Take n units if they are free and nobody waits; never blocks."""
        if n.__class__ is not int or n < 0:
            _check_weight(n, "Semaphore.try_acquire")
        lock = self._lock
        lock.acquire()
        ok = self._size - self._cur >= n and not self._waiters
        if ok:
            self._cur += n
        lock.release()
        return ok

    def release(self, n: int = 1) -> None:
        """Return n units; waiters at the head of the queue that now fit
        get theirs.  ValueError, with nothing released, if fewer are held."""
        if n.__class__ is not int or n < 0:
            _check_weight(n, "Semaphore.release")
        lock = self._lock
        lock.acquire()
        if n > self._cur:
            lock.release()
            raise ValueError("semaphore: released more than held")
        self._cur -= n
        sgs = self._grant() if self._waiters else None
        lock.release()
        if sgs:
            wake(sgs)

    def _grant(self) -> list[Sudog]:
        """Under _lock: serve the head of the queue while it fits (Go's
        notifyWaiters); stop at the first that does not."""
        q = self._waiters
        sgs = []
        while q and self._size - self._cur >= q[0].elem:
            sg = q.popleft()
            self._cur += sg.elem
            complete(sg)
            sgs.append(sg)
        return sgs

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class WaitGroup:
    """Wait for a collection of goroutines to finish.

    Reusable at once: reaching zero releases the waiters atomically, so an
    add() right after starts a new round that those waiters do not see
    (the misuse Go detects, "WaitGroup is reused before previous Wait has
    returned", cannot happen here)."""

    __slots__ = ("_lock", "_count", "_waiters")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._count = 0
        self._waiters: deque[Sudog] = deque()

    def add(self, n: int = 1) -> None:
        """Add n (may be negative) to the counter; at zero, release waiters.
        A counter that would go negative raises ValueError, unchanged."""
        if n.__class__ is not int:
            _check_int(n, "WaitGroup.add")
        lock = self._lock
        lock.acquire()  # not `with`: this is on every goroutine's exit path
        count = self._count + n
        if count < 0:
            lock.release()
            raise ValueError("sync: negative WaitGroup counter")
        self._count = count
        if count or not self._waiters:
            lock.release()
            return
        sgs = _complete_all(self._waiters)
        lock.release()
        wake(sgs)

    def done(self) -> None:
        self.add(-1)

    def wait(self) -> None:
        """Block until the counter is zero."""
        g = _sched.enter("WaitGroup.wait()")
        self._lock.acquire()
        if self._count == 0:
            self._lock.release()
            return
        park_on(self._waiters, self._lock, g, "sync.WaitGroup.Wait")
