"""Channels (Go's chan.go): typed by nothing, ordered, never lossy.

Invariants: a value is either in the buffer, in exactly one sender's
Sudog, or delivered to exactly one receiver; a send completes only when a
receiver or the buffer has taken the value.  A receiver woken by throw()
after a sender completed it still returns the value (see _parking.py),
so preemption, throw() and shutdown never drop or duplicate a value.
Channel operations are cooperative safe points: a pending preemption or
throw() is honoured on entry.
"""

from __future__ import annotations

import _thread
from collections import deque
from typing import Generic, Iterator, TypeVar

from . import _sched
from ._parking import Sudog, complete, park_on, wake

T = TypeVar("T")


class ChanClosed(Exception):
    """Send on a closed channel, receive from a closed and drained one, or
    closing a channel twice."""


class Chan(Generic[T]):
    """A Go channel.  `Chan()` is unbuffered (send waits for a receiver);
    `Chan(n)` buffers up to n values."""

    __slots__ = ("_lock", "_buf", "_cap", "_closed", "_recvq", "_sendq")

    def __init__(self, capacity: int = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"channel capacity must be an int, not {type(capacity).__name__}")
        if capacity < 0:
            raise ValueError(f"channel capacity must be >= 0, got {capacity}")
        self._lock = _thread.allocate_lock()
        self._buf: deque[T] = deque()
        self._cap = capacity
        self._closed = False
        self._recvq: deque[Sudog] = deque()
        self._sendq: deque[Sudog] = deque()

    @property
    def cap(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return len(self._buf)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<Chan len={len(self._buf)} cap={self._cap}{state}>"

    def send(self, value: T) -> None:
        """Send value; blocks until a receiver (or the buffer) takes it.
        Raises ChanClosed if the channel is or becomes closed."""
        g = _sched.must_getg("Chan.send()")
        _sched.checkpoint(g)
        lock = self._lock
        lock.acquire()
        if self._closed:
            lock.release()
            raise ChanClosed("send on closed channel")
        if self._recvq:
            sg = self._recvq.popleft()
            complete(sg, value)
            lock.release()
            wake((sg,))
            return
        if len(self._buf) < self._cap:
            self._buf.append(value)
            lock.release()
            return
        sg = park_on(self._sendq, lock, g, "chan send", value)
        if not sg.success:
            raise ChanClosed("send on closed channel")

    def recv(self) -> T:
        """Receive a value; blocks until one is available.  Raises
        ChanClosed once the channel is closed and drained."""
        value, ok = self.recv_ok()
        if not ok:
            raise ChanClosed("receive from closed channel")
        return value

    def recv_ok(self) -> tuple[T | None, bool]:
        """Go's `v, ok := <-ch`: (value, True), or (None, False) once the
        channel is closed and drained."""
        g = _sched.must_getg("Chan.recv()")
        _sched.checkpoint(g)
        lock = self._lock
        lock.acquire()
        if self._sendq:
            sg = self._sendq.popleft()
            if self._cap:
                value = self._buf.popleft()
                self._buf.append(sg.elem)
            else:
                value = sg.elem
            complete(sg, None)
            lock.release()
            wake((sg,))
            return value, True
        if self._buf:
            value = self._buf.popleft()
            lock.release()
            return value, True
        if self._closed:
            lock.release()
            return None, False
        sg = park_on(self._recvq, lock, g, "chan receive")
        return sg.elem, sg.success

    def close(self) -> None:
        """Close the channel: receivers drain the buffer, then get ChanClosed;
        blocked senders get ChanClosed."""
        with self._lock:
            if self._closed:
                raise ChanClosed("close of closed channel")
            self._closed = True
            waiters = list(self._recvq) + list(self._sendq)
            self._recvq.clear()
            self._sendq.clear()
            for sg in waiters:
                complete(sg, None, success=False)
        if waiters:
            wake(waiters)

    def __iter__(self) -> Iterator[T]:
        """Receive until the channel is closed and drained."""
        while True:
            value, ok = self.recv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]
