"""select: wait on several channel operations, run exactly one (Go's selectgo).

    r = gr.select(gr.Recv(jobs), gr.Send(results, v), gr.Recv(done))
    if r.index == 0: ...          # r.value received (r.ok False: jobs closed)

How (chan.go §selectgo, with Python locks):

1. Lock every channel involved, in one global order (by id), so two
   selects over the same channels cannot deadlock.
2. Poll the cases in a random order; the first that can proceed does, and
   select returns it — uniform choice among ready cases.
3. Otherwise (and without `default`) enqueue one Sudog per case, all
   sharing one `SelectDone`, and park; g0 unlocks the channels once the
   goroutine is waiting.  Whoever claims the SelectDone first — a sender,
   receiver or close() on one of the channels, the timeout, or the
   goroutine itself when throw() wakes it — is the only one that may
   complete it; the others skip those Sudogs.  So exactly one case fires,
   and a value is never taken by a select that then returns something else.
4. Woken, relock everything, take the stale Sudogs off the other queues.

A None channel is never ready (Go's nil channel).  A send case on a closed
channel raises ChanClosed (Go panics).  Receive cases on a closed channel
are ready, with ok False.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from . import _chan, _sched
from ._parking import SelectDone, Sudog, wake
from ._timers import RuntimeTimer


class Recv:
    """A receive case: `select(Recv(ch))` fires with the value received."""

    __slots__ = ("ch",)

    def __init__(self, ch: _chan.Chan | None) -> None:
        _check_chan(ch, "Recv")
        self.ch = ch

    def __repr__(self) -> str:
        return f"Recv({self.ch!r})"


class Send:
    """A send case: `select(Send(ch, value))` fires once value is sent."""

    __slots__ = ("ch", "value")

    def __init__(self, ch: _chan.Chan | None, value: Any) -> None:
        _check_chan(ch, "Send")
        self.ch = ch
        self.value = value

    def __repr__(self) -> str:
        return f"Send({self.ch!r}, {self.value!r})"


class Selected(NamedTuple):
    """What select() did: `index` of the case that fired (None: the default
    was taken); for a receive, `value` and `ok` (False: the channel is
    closed and drained); for a send, value None and ok True."""

    index: int | None
    value: Any
    ok: bool


DEFAULT = Selected(None, None, False)


def _check_chan(ch: Any, what: str) -> None:
    if ch is not None and not isinstance(ch, _chan.Chan):
        raise TypeError(f"{what}() needs a Chan or None, not {type(ch).__name__}")


def select(*cases: Recv | Send, default: bool = False, timeout: float | None = None) -> Selected:
    """Block until one of `cases` can proceed, perform it, and say which.

    With several ready, one is chosen uniformly at random.  With
    `default=True`, return `Selected(None, None, False)` at once if none is
    ready.  With `timeout` (seconds), raise TimeoutError if none fires in
    time.  With no cases, no default and no timeout it blocks forever."""
    for c in cases:
        if not isinstance(c, (Recv, Send)):
            raise TypeError(f"select() cases are Recv(ch) or Send(ch, value), not {type(c).__name__}")
    deadline = None
    if timeout is not None:
        if default:
            raise ValueError("select(): default and timeout exclude each other")
        from ._time import duration_ns

        deadline = _sched.nanotime() + duration_ns(timeout, "select()")
    g = _sched.enter("select()")
    active = [(i, c) for i, c in enumerate(cases) if c.ch is not None]
    locks = _lock_all(active)
    picked = _poll(active, locks)
    if picked is not None:
        return picked
    if default:
        _unlock(locks)
        return DEFAULT
    return _block(g, active, locks, deadline)


def _lock_all(active: list[tuple[int, Any]]) -> list[Any]:
    """Lock every channel of the cases once, in one global order (by id)."""
    chans = {id(c.ch): c.ch for _, c in active}
    locks = [chans[k]._lock for k in sorted(chans)]
    _relock(locks)
    return locks


def _unlock(locks: list[Any]) -> None:
    for lock in reversed(locks):
        lock.release()


def _poll(active: list[tuple[int, Any]], locks: list[Any]) -> Selected | None:
    """Perform the first ready case in random order; unlock if one fired."""
    order = active[:]
    if len(order) > 1:
        random.shuffle(order)
    for i, c in order:
        ch = c.ch
        if isinstance(c, Recv):
            ready, value, ok, partner = ch._recv_locked()
            if ready:
                _unlock(locks)
                if partner is not None:
                    wake((partner,))
                return Selected(i, value, ok)
        else:
            if ch._closed:
                _unlock(locks)
                raise _chan.ChanClosed("send on closed channel")
            done, partner = ch._send_locked(c.value)
            if done:
                _unlock(locks)
                if partner is not None:
                    wake((partner,))
                return Selected(i, None, True)
    return None


class SelectTimeout(RuntimeTimer):
    """A select's timeout.  On expiry it acts like a waker on one of the
    channels: under the channels' locks it claims the select, then readies
    the goroutine — so a goroutine re-checking under those locks before
    parking again cannot miss it."""

    __slots__ = ("sel", "g", "locks", "fired")

    def __init__(self, sel: SelectDone, g: Any, locks: list[Any]) -> None:
        super().__init__()
        self.sel = sel
        self.g = g
        self.locks = locks
        self.fired = False

    def fire(self, seq: int, p: Any) -> None:
        _relock(self.locks)
        self.fired = self.sel.claim()
        _unlock(self.locks)
        if self.fired:
            s = _sched.sched
            with s.lock:
                _sched.ready_locked(s, self.g, next=True)


def _block(g: Any, active: list[tuple[int, Any]], locks: list[Any],
           deadline: int | None) -> Selected:
    """Enqueue on every channel and park until one case completes, the
    timeout claims the select, or throw() does (locks held on entry)."""
    sel = SelectDone()
    sgs = []
    for i, c in active:
        send = isinstance(c, Send)
        sg = Sudog(g, c.value if send else None, sel, i)
        (c.ch._sendq if send else c.ch._recvq).append(sg)
        sgs.append(sg)
    s = _sched.sched
    tmo = None
    if deadline is not None:
        tmo = SelectTimeout(sel, g, locks)
        with s.lock:  # any P will do: an early firing waits for these locks
            _sched.add_timer(s, _sched.local_p(s, g.m), deadline, tmo)
    reason = "select" if active else "select (no cases)"
    cancelled = False
    while True:
        _sched.gopark(g, _unlock, locks, reason)
        _relock(locks)  # wakers (and the timeout) claim and complete under these
        k = _winner(sgs)
        if k is not None or (tmo is not None and tmo.fired):
            break
        if g.pending_exc is not None and g.nopreempt == 0 and sel.claim():
            cancelled = True  # by throw(): no case may fire any more
            break
        # woken for nothing (or inside nopreempt): park again, locks held
    _dequeue_all(active, sgs)
    _unlock(locks)
    if tmo is not None and not tmo.fired:
        with s.lock:
            tmo.timer_seq = 0  # not expired yet: its heap entry is stale now
    if k is not None:
        return _result(active[k][1], sgs[k])
    if not cancelled:
        raise TimeoutError("select timed out")
    _sched.checkpoint_exc(g)  # the throw() that woke us
    raise AssertionError("unreachable: a cancelled select has an exception to raise")


def _relock(locks: list[Any]) -> None:
    """Acquire locks in their (global) order."""
    for lock in locks:
        lock.acquire()


def _winner(sgs: list[Sudog]) -> int | None:
    for k, sg in enumerate(sgs):
        if sg.done:
            return k
    return None


def _dequeue_all(active: list[tuple[int, Any]], sgs: list[Sudog]) -> None:
    for (_, c), sg in zip(active, sgs):
        q = c.ch._sendq if isinstance(c, Send) else c.ch._recvq
        try:
            q.remove(sg)
        except ValueError:
            pass  # a waker dequeued it (completed it, or skipped it as lost)


def _result(case: Recv | Send, sg: Sudog) -> Selected:
    if isinstance(case, Send):
        if not sg.success:
            raise _chan.ChanClosed("send on closed channel")
        return Selected(sg.case, None, True)
    return Selected(sg.case, sg.elem, sg.success)
