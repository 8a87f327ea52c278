"""Timers: a heap per P, run by that P's M (Go's p.timers and runtime timers).

Two kinds of entry share the heap, ordered by expiry:

* a sleeping goroutine (sleep(), Go's timeSleep): expiry readies it;
* a `RuntimeTimer` (Timer, Ticker, after, after_func, context deadlines,
  select timeouts): expiry calls its `fire`.

Invariants:

* Heap entries are (when_ns, seq, target); an entry is live only while
  `target.timer_seq == seq`.  Stopping or re-arming a timer just changes
  `timer_seq`, so a stale entry is dropped when it reaches the top —
  nothing ever searches the heap (Go deletes lazily too).
* The heap is only touched under `sched.lock`, and timers only *fire* on
  their P's own M, in scheduler context (g0, or a finished goroutine's
  greenlet in goexit1), with no runtime lock held: `fire` may take a
  channel's lock, spawn a goroutine or cancel a context.  sysmon and the
  SIGALRM handler never fire a timer; when one is due on a P whose M is
  computing they preempt that goroutine (wakeup_preempt), so the M gets
  to its timers on time — Go's TestTimerFairness without running user
  callbacks on foreign threads or inside signal handlers.
* An idle M sleeps no longer than its earliest entry.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

_seq = itertools.count(1)  # 0 means "no timer"


class RuntimeTimer:
    """Base of everything that sits in a P's heap other than a sleeper.
    `fire(seq, p)` runs on p's M without runtime locks held; it must not
    block (it may take a channel's lock or sched.lock briefly).  An
    `urgent` timer (a context deadline: it exists to interrupt running
    code) preempts the running goroutine as soon as it is due, without
    waiting for the wakeup granularity."""

    __slots__ = ("timer_seq",)
    urgent = False

    def __init__(self) -> None:
        self.timer_seq = 0  # the live heap entry's seq; 0: not armed

    def fire(self, seq: int, p: Any) -> None:
        raise NotImplementedError


class TimerHeap:
    """The timers of one P; see the module docstring.  Callers hold sched.lock."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, Any]] = []

    def __len__(self) -> int:
        return len(self.heap)

    def add(self, when: int, target: Any) -> int:
        """Arm target (a G or a RuntimeTimer) for `when`; returns the entry's
        seq.  Any earlier entry of target becomes stale."""
        seq = next(_seq)
        target.timer_seq = seq
        heapq.heappush(self.heap, (when, seq, target))
        return seq

    def pop_expired(self, now: int) -> list[tuple[int, Any]]:
        """The live entries that have expired, as (seq, target), disarmed."""
        heap = self.heap
        out = []
        while heap and heap[0][0] <= now:
            _, seq, target = heapq.heappop(heap)
            if target.timer_seq == seq:
                target.timer_seq = 0
                out.append((seq, target))
        return out

    def next_when(self) -> int | None:
        """When the earliest entry expires (it may be stale), or None."""
        return self.heap[0][0] if self.heap else None

    def due(self, now: int) -> bool:
        return bool(self.heap) and self.heap[0][0] <= now

    def urgent_first(self) -> bool:
        """Whether the earliest entry is an urgent timer."""
        return bool(self.heap) and getattr(self.heap[0][2], "urgent", False)

    def has_live(self) -> bool:
        """Whether any entry is live (checkdead: stopped timers do not count)."""
        return any(target.timer_seq == seq for _, seq, target in self.heap)

    def sleep_for(self, now: int) -> float | None:
        """Seconds until the earliest entry (None: no entry)."""
        if not self.heap:
            return None
        return max(0.0, (self.heap[0][0] - now) / 1e9)
