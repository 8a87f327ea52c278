"""blocking(): run a call that would block its thread on a pool of threads.

A goroutine that calls a blocking C function (a DNS lookup, a file read,
a library without a cooperative API) would stop its M and every goroutine
bound to it.  `blocking(fn, *args)` runs fn on a pool thread instead and
parks the goroutine on a channel of capacity 1 until the result arrives —
so the goroutine holds no P while it waits (Go's entersyscallblock, done
by hand), and a throw(), a context scope or a timeout interrupts the wait
like any channel receive.

What a caller may rely on:

* fn's return value is returned and its exception re-raised (with its
  traceback) in the goroutine.
* An interrupted wait leaves fn running to completion on its thread (a
  thread cannot be stopped from outside); its result is dropped.  A call
  still queued when its caller gives up never starts.
* The pool is bounded (`max_workers`, default min(32, cpus + 4), as in
  concurrent.futures); calls beyond it queue.  `stats()` reports it.
* Outside goroutines (plain threads, or before run()) fn is simply called.
* While a call is in flight the runtime does not report a deadlock: its
  result may still wake someone.
"""

from __future__ import annotations

import _thread
import functools
import os
import threading
from collections import deque
from typing import Any, Callable, TypeVar

from . import _sched
from ._chan import Chan

T = TypeVar("T")
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)


class _Call:
    __slots__ = ("fn", "args", "kwargs", "result", "cancelled")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.result: Chan = Chan(1)
        self.cancelled = False


class Pool:
    """A bounded pool of daemon threads fed from a FIFO."""

    def __init__(self, s: Any, max_workers: int = DEFAULT_WORKERS) -> None:
        self.s = s
        self.max_workers = max_workers
        self.cond = threading.Condition(_thread.allocate_lock())  # not counted in m.locks
        self.queue: deque[_Call] = deque()
        self.threads = 0
        self.idle = 0
        self.running = 0  # calls being executed
        self.inflight = 0  # queued or running calls (checkdead reads it)
        self.calls = 0
        self.closed = False

    def submit(self, call: _Call) -> None:
        with self.cond:
            if self.closed:
                raise RuntimeError("blocking() after the runtime stopped")
            self.queue.append(call)
            self.inflight += 1
            self.calls += 1
            if self.idle:
                self.cond.notify()
            elif self.threads < self.max_workers:
                self.threads += 1
                threading.Thread(target=self._worker, name="goroutines-blocking", daemon=True).start()

    def cancel(self, call: _Call) -> None:
        """The caller gave up: a queued call never starts."""
        with self.cond:
            call.cancelled = True
            try:
                self.queue.remove(call)
            except ValueError:
                return  # already running: it finishes, unread
            self.inflight -= 1
        self._maybe_dead()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.queue.clear()
            self.cond.notify_all()

    def stats(self) -> dict[str, int]:
        return {"blocking_threads": self.threads, "blocking_busy": self.running,
                "blocking_queued": len(self.queue), "blocking_calls": self.calls}

    def _worker(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closed:
                    self.idle += 1
                    self.cond.wait()
                    self.idle -= 1
                if self.closed:
                    self.threads -= 1
                    return
                call = self.queue.popleft()
                self.running += 1
            try:
                outcome = (True, call.fn(*call.args, **call.kwargs))
            except BaseException as e:  # noqa: BLE001 - re-raised in the goroutine
                outcome = (False, e)
            call.fn = call.args = call.kwargs = None  # type: ignore[assignment]
            if not call.cancelled:
                call.result.try_send(outcome)
            with self.cond:
                self.inflight -= 1
                self.running -= 1
            self._maybe_dead()

    def _maybe_dead(self) -> None:
        # A finished call may have been all that kept checkdead quiet.
        if not self.inflight:
            s = self.s
            with s.lock:
                _sched.checkdead(s)


def blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call fn(*args, **kwargs) on a pool thread; the calling goroutine parks
    (holding no P) until it returns, and gets its result or exception."""
    g = _sched.getg()
    if g is None:
        return fn(*args, **kwargs)
    _sched.checkpoint(g)
    pool = _pool(_sched.sched)
    call = _Call(fn, args, kwargs)
    pool.submit(call)
    try:
        ok, value = call.result.recv()
    except BaseException:
        pool.cancel(call)
        raise
    if ok:
        return value
    raise value


def blocking_fn(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: every call of fn goes through blocking()."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return blocking(fn, *args, **kwargs)

    return wrapper


def _pool(s: Any) -> Pool:
    with s.lock:
        if s.blocking is None:
            s.blocking = Pool(s)
        return s.blocking
