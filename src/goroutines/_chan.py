"""Channels (Go's chan.go): typed by nothing, ordered, never lossy.

Invariants: a value is either in the buffer, in exactly one sender's
Sudog, or delivered to exactly one receiver; a send completes only when a
receiver or the buffer has taken the value.  A receiver woken by throw()
after a sender completed it still returns the value (see _parking.py),
so preemption, throw() and shutdown never drop or duplicate a value.
Channel operations are cooperative safe points: a pending preemption or
throw() is honoured on entry.  A waiter may belong to a select() waiting on
several channels; `dequeue` skips one whose select another channel (or its
timeout) has already won.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, Iterator, TypeVar

from . import _accel, _sched, _select
from ._parking import Sudog, complete, dequeue, park_on, wake

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
        self._lock = _accel.allocate_lock()
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

    def send(self, value: T, timeout: float | None = None) -> None:
        """Send value; blocks until a receiver (or the buffer) takes it.
        Raises ChanClosed if the channel is or becomes closed, TimeoutError
        if `timeout` seconds pass first (the value is then not sent)."""
        if timeout is not None:
            _select.select(_select.Send(self, value), timeout=timeout)
            return
        g = _sched.enter("Chan.send()")
        lock = self._lock_open()
        done, sg = self._send_locked(value)
        if done:
            lock.release()
            if sg is not None:
                wake((sg,))
            return
        sg = park_on(self._sendq, lock, g, "chan send", value)
        if not sg.success:
            raise ChanClosed("send on closed channel")

    def recv(self, timeout: float | None = None) -> T:
        """Receive a value; blocks until one is available.  Raises
        ChanClosed once the channel is closed and drained, TimeoutError if
        `timeout` seconds pass first."""
        value, ok = self.recv_ok(timeout)
        if not ok:
            raise ChanClosed("receive from closed channel")
        return value  # type: ignore[return-value]

    def recv_ok(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """Go's `v, ok := <-ch`: (value, True), or (None, False) once the
        channel is closed and drained.  TimeoutError after `timeout` seconds."""
        if timeout is not None:
            _, value, ok = _select.select(_select.Recv(self), timeout=timeout)
            return value, ok
        g = _sched.enter("Chan.recv()")
        lock = self._lock
        lock.acquire()
        ready, value, ok, sg = self._recv_locked()
        if ready:
            lock.release()
            if sg is not None:
                wake((sg,))
            return value, ok
        sg = park_on(self._recvq, lock, g, "chan receive")
        return sg.elem, sg.success

    def try_send(self, value: T) -> bool:
        """Send only if a receiver is waiting or the buffer has room (Go's
        select with a default case): True if sent.  Raises ChanClosed if
        the channel is closed.  Never blocks; usable outside goroutines."""
        self._try_checkpoint()
        lock = self._lock_open()
        done, sg = self._send_locked(value)
        lock.release()
        if sg is not None:
            wake((sg,))
        return done

    def try_recv(self) -> tuple[T | None, bool]:
        """Receive only if a value is ready: (value, True), or (None, False)
        if none is.  Raises ChanClosed if the channel is closed and drained.
        Never blocks; usable outside goroutines."""
        self._try_checkpoint()
        lock = self._lock
        lock.acquire()
        ready, value, ok, sg = self._recv_locked()
        lock.release()
        if sg is not None:
            wake((sg,))
        if ready and not ok:
            raise ChanClosed("receive from closed channel")
        return value, ready

    @staticmethod
    def _try_checkpoint() -> None:
        g = _sched.getg()
        if g is not None:  # timers call try_send from the scheduler
            _sched.checkpoint(g)

    def _lock_open(self) -> Any:
        """Take the lock for a send; ChanClosed (unlocked) if closed."""
        lock = self._lock
        lock.acquire()
        if self._closed:
            lock.release()
            raise ChanClosed("send on closed channel")
        return lock

    # -- under self._lock; shared with select() ---------------------------

    def _send_locked(self, value: T) -> tuple[bool, Sudog | None]:
        """Hand value to a waiting receiver or buffer it, if either is
        possible now (the channel is open): (done, receiver to wake)."""
        sg = dequeue(self._recvq)
        if sg is not None:
            complete(sg, value)
            return True, sg
        if len(self._buf) < self._cap:
            self._buf.append(value)
            return True, None
        return False, None

    def _recv_locked(self) -> tuple[bool, T | None, bool, Sudog | None]:
        """Take a value if one is ready: (ready, value, ok, sender to wake);
        a closed, drained channel is ready with ok False."""
        sg = dequeue(self._sendq)
        if sg is not None:
            if self._cap:  # buffer full: take its head, the sender refills it
                value = self._buf.popleft()
                self._buf.append(sg.elem)
            else:
                value = sg.elem
            complete(sg, None)
            return True, value, True, sg
        if self._buf:
            return True, self._buf.popleft(), True, None
        if self._closed:
            return True, None, False, None
        return False, None, False, None

    def close(self) -> None:
        """Close the channel: receivers drain the buffer, then get ChanClosed;
        blocked senders get ChanClosed."""
        with self._lock:
            if self._closed:
                raise ChanClosed("close of closed channel")
            self._closed = True
            waiters = []
            for q in (self._recvq, self._sendq):
                while (sg := dequeue(q)) is not None:
                    complete(sg, None, success=False)
                    waiters.append(sg)
        if waiters:
            wake(waiters)

    def __iter__(self) -> Iterator[T]:
        """Receive until the channel is closed and drained."""
        while True:
            value, ok = self.recv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]


_accel.install_chan(Chan)
