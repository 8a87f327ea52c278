"""Timers: a heap per P, checked by its M at every schedule (Go's p.timers).

A sleeping goroutine parks with a timer on its M's P (a started goroutine
is bound to its M, so that is the P that must wake it).  The M runs
expired timers before picking the next goroutine and, when idle, sleeps
no longer than the earliest timer.  A readied sleeper goes to runnext, so
it runs as soon as the current goroutine's slice ends.  Callers hold
sched.lock.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._g import G

_seq = itertools.count(1)  # 0 means "no timer"


class TimerHeap:
    """Sleep timers of one P: (when_ns, seq, g).  A timer whose G has moved
    on (woken early by throw(), or sleeping again) is stale: the G's
    `timer_seq` no longer matches and the timer is dropped when it expires."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, G]] = []

    def __len__(self) -> int:
        return len(self.heap)

    def add(self, when: int, g: "G") -> None:
        seq = next(_seq)
        g.timer_seq = seq
        heapq.heappush(self.heap, (when, seq, g))

    def pop_expired(self, now: int) -> list["G"]:
        """The Gs whose timers have expired (stale timers are dropped)."""
        heap = self.heap
        out = []
        while heap and heap[0][0] <= now:
            _, seq, g = heapq.heappop(heap)
            if g.timer_seq == seq:
                g.timer_seq = 0
                out.append(g)
        return out

    def next_when(self) -> int | None:
        """When the earliest timer expires (it may be stale), or None."""
        return self.heap[0][0] if self.heap else None

    def sleep_for(self, now: int) -> float | None:
        """Seconds until the earliest timer (None: no timer)."""
        if not self.heap:
            return None
        return max(0.0, (self.heap[0][0] - now) / 1e9)
