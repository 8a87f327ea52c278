"""Wait queues: parking a goroutine on a channel, mutex or wait group.

A waiting goroutine is represented by a Sudog (Go's name) in the object's
queue, guarded by the object's lock.  The protocol, shared by every
blocking operation so the subtle part exists once:

* The waiter enqueues its Sudog and parks *holding* the lock; g0 releases
  it only after the goroutine is _Gwaiting (gopark's unlock function), so
  no waker can miss it.
* A waker dequeues the Sudog and completes it (`done`, `success`, `elem`)
  under the lock, then readies the goroutine.  Completion is the single
  source of truth: a value handed to a completed Sudog has been delivered.
* A goroutine can also be woken by throw() (or GoroutineExit at shutdown).
  It then retakes the lock: if it was completed meanwhile it returns
  normally — the exception stays pending for the next safe point, so no
  value is lost; otherwise it removes its Sudog and raises.  Inside
  nopreempt() the exception waits and the goroutine parks again.
"""

from __future__ import annotations

import _thread
from collections import deque
from typing import Any

from . import _sched
from ._g import G


class Sudog:
    __slots__ = ("g", "elem", "done", "success", "sel", "case")

    def __init__(self, g: G, elem: Any = None, sel: "SelectDone | None" = None,
                 case: int = 0) -> None:
        self.g = g
        self.elem = elem
        self.done = False
        self.success = False
        self.sel = sel  # shared by the Sudogs of one select (Go's isSelect)
        self.case = case  # which case of that select this Sudog stands for


class SelectDone:
    """Go's g.selectDone: a select waits on several queues at once, and the
    first party to claim it — a waker on one of its channels, its timeout,
    or the goroutine itself giving up — is the only one that may complete
    it.  The claim is a non-blocking lock acquire: atomic across threads
    without a lock order between the channels' locks."""

    __slots__ = ("_won",)

    def __init__(self) -> None:
        self._won = _thread.allocate_lock()

    def claim(self) -> bool:
        return self._won.acquire(False)


def dequeue(q: deque) -> Sudog | None:
    """Pop the first waiter of q that may be completed (Go's waitq.dequeue):
    a select's Sudog whose select another party has claimed is dropped."""
    while q:
        sg = q.popleft()
        if sg.sel is None or sg.sel.claim():
            return sg
    return None


def _release(lock: Any) -> None:
    lock.release()


def park_on(q: deque, lock: Any, g: G, reason: str, elem: Any = None) -> Sudog:
    """Enqueue g on q and park until completed.  The caller holds `lock`;
    it is released when this returns or raises."""
    sg = Sudog(g, elem)
    q.append(sg)
    _sched.gopark(g, _release, lock, reason)
    return wait_done(q, lock, g, sg, reason)


def wait_done(q: deque, lock: Any, g: G, sg: Sudog, reason: str) -> Sudog:
    """Back from parking on q (lock not held): return sg once completed.
    Woken without it (by throw()), raise the pending exception — or park
    again inside nopreempt().  Also where the C fast path continues."""
    while not sg.done:
        lock.acquire()
        if sg.done:
            lock.release()
            break
        if g.pending_exc is not None and g.nopreempt == 0:
            q.remove(sg)
            lock.release()
            _sched.checkpoint_exc(g)
        _sched.gopark(g, _release, lock, reason)
    return sg


def complete(sg: Sudog, elem: Any = None, success: bool = True) -> None:
    """Mark sg completed (caller holds the queue's lock); ready it after."""
    sg.elem = elem
    sg.success = success
    sg.done = True


def wake(sgs: Any) -> None:
    """Ready the goroutines of completed Sudogs (after releasing the lock)."""
    _sched.ready_all([sg.g for sg in sgs])
