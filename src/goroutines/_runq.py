"""Run queues: a P's local queue with `runnext`, and the global queue.

As in Go (proc.go §runqput/runqget/runqsteal, §globrunqget):

* The local queue is a ring of 256 slots owned by its P.  `runnext`, when
  set, is the G to run next: a goroutine readied by the running one goes
  there and *inherits* the rest of the time slice, so ping-pong pairs run
  back to back while a preempted G waits at the tail.
* When the ring is full, half of it moves to the global queue
  (`runqputslow`), so one P cannot hoard work.
* Stealing takes half of a victim's queue.

What differs, and why: a greenlet only runs on the thread that started it,
so a started G is bound to its M.  A P's local queue holds only Gs its
current M can run: unstarted ones and ones bound to that M (when the P
changes hands, the old M's move to the global queue).  Only not-yet-started Gs may be stolen,
and the global queue keeps bound Gs apart by M so that `globrunqget` never
hands one M a G that only another M can run.  Callers hold `sched.lock`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ._g import G

LOCAL_RUNQ_SIZE = 256


class LocalRunQueue:
    """A P's run queue: `runnext` plus a bounded FIFO."""

    __slots__ = ("runnext", "q")

    def __init__(self) -> None:
        self.runnext: G | None = None
        self.q: deque[G] = deque()

    def __len__(self) -> int:
        return len(self.q) + (self.runnext is not None)

    def empty(self) -> bool:
        return self.runnext is None and not self.q

    def put(self, g: G, next: bool, overflow: "GlobalRunQueue") -> None:
        """runqput: with `next`, g becomes runnext and the old runnext is
        queued at the tail.  A full ring spills half to `overflow`."""
        if next:
            g, self.runnext = self.runnext, g
            if g is None:
                return
        if len(self.q) >= LOCAL_RUNQ_SIZE:
            self._put_slow(overflow)
        self.q.append(g)

    def _put_slow(self, overflow: "GlobalRunQueue") -> None:
        for _ in range(len(self.q) // 2):
            overflow.put(self.q.popleft())

    def get(self) -> tuple[G | None, bool]:
        """runqget: (g, inherit_time).  runnext first; it inherits the slice."""
        g = self.runnext
        if g is not None:
            self.runnext = None
            return g, True
        if self.q:
            return self.q.popleft(), False
        return None, False

    def take_unbound(self) -> list[G]:
        """Remove and return the not-yet-started Gs (their P is going away)."""
        out = [g for g in self.q if g.m is None]
        self.q = deque(g for g in self.q if g.m is not None)
        if self.runnext is not None and self.runnext.m is None:
            out.append(self.runnext)
            self.runnext = None
        return out

    def take_bound(self) -> list[G]:
        """Remove and return the started Gs, runnext first (their M is losing
        this P and keeps them: they wait on the global queue, under their M)."""
        out = [g for g in self.q if g.m is not None]
        if out:
            self.q = deque(g for g in self.q if g.m is None)
        if self.runnext is not None and self.runnext.m is not None:
            out.insert(0, self.runnext)
            self.runnext = None
        return out

    def steal_into(self, thief: "LocalRunQueue") -> G | None:
        """runqsteal: move half of this queue's *unstarted* Gs to `thief`;
        return one of them to run now (or None)."""
        movable = [g for g in self.q if g.m is None]
        if self.runnext is not None and self.runnext.m is None:
            movable.append(self.runnext)
        n = len(movable) - len(movable) // 2
        if n == 0:
            return None
        taken = movable[:n]
        ids = {id(g) for g in taken}
        self.q = deque(g for g in self.q if id(g) not in ids)
        if self.runnext is not None and id(self.runnext) in ids:
            self.runnext = None
        first = taken.pop()
        thief.q.extend(taken)
        return first


class GlobalRunQueue:
    """sched.runq: FIFO across all Ms, but a bound G only leaves it for its M.

    One FIFO per M (None: unstarted Gs), each a deque of Gs with a parallel
    deque of arrival numbers, so the oldest head across two FIFOs can be
    found.  (Not (seq, g) tuples: 100k queued tuples are 100k more objects
    for the cyclic GC to traverse.)"""

    __slots__ = ("_queues", "_seq", "_n")

    def __init__(self) -> None:
        self._queues: dict[Any, tuple[deque[G], deque[int]]] = {None: (deque(), deque())}
        self._seq = 0
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def put(self, g: G) -> None:
        self._seq += 1
        q = self._queues.get(g.m)
        if q is None:
            q = self._queues[g.m] = (deque(), deque())
        q[0].append(g)
        q[1].append(self._seq)
        self._n += 1

    def get(self, m: Any, bound_only: bool = False) -> G | None:
        """The oldest G that `m` may run: unbound (unless bound_only), or bound to `m`."""
        free, own = self._queues[None], self._queues.get(m)
        if bound_only or not free[0]:
            free = None
        if own is not None and own[0] and (free is None or own[1][0] < free[1][0]):
            src = own
        elif free is not None:
            src = free
        else:
            return None
        self._n -= 1
        src[1].popleft()
        return src[0].popleft()

    def has_own(self, m: Any) -> bool:
        """Are Gs bound to `m` queued here?"""
        own = self._queues.get(m)
        return own is not None and bool(own[0])

    def has_for(self, m: Any) -> bool:
        own = self._queues.get(m)
        return bool(self._queues[None][0]) or (own is not None and bool(own[0]))
