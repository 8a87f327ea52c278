"""Thread locks count as held by their M while run() runs (Go's m.locks).

Every goroutine of an M shares the M's OS thread, and a `threading.Lock`
belongs to a thread: if a goroutine holding one were switched out and
another goroutine of the same M asked for it, the thread would deadlock
(an RLock would even let both in).  So, while the runtime runs,
`threading.Lock` and `threading.RLock` make locks that count themselves in
`m.locks` while held, and `is_async_safe_point` refuses to preempt an M
whose count is not zero — the goroutine keeps the CPU until it releases
the lock, as Go keeps a G on its M while `m.locks > 0`.

What this cannot cover: locks created before run() started (module-level
ones, such as logging's; their modules' own frames are unsafe points
instead, _hazards.py), and a goroutine that *blocks* in the runtime while
holding a thread lock (use goroutines.Mutex for that).  The runtime's own
objects use `_thread.allocate_lock` and are not counted.
"""

from __future__ import annotations

import _thread
import threading
from typing import Any

from . import _sched

_allocate = _thread.allocate_lock
_get_ident = _thread.get_ident
_saved: tuple[Any, Any] | None = None


def _held(delta: int) -> None:
    m = _sched.ms_by_tid.get(_get_ident())
    if m is not None:
        m.locks = max(0, m.locks + delta)


class Lock:
    """threading.Lock, counted in its M's `locks` while held."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = _allocate()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking, timeout):
            _held(1)
            return True
        return False

    __enter__ = acquire

    def release(self) -> None:
        self._lock.release()
        _held(-1)

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()


class RLock(threading._PyRLock):  # type: ignore[name-defined,misc]
    """threading.RLock, counted once (outermost acquire) while held."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ok = super().acquire(blocking, timeout)
        if ok and self._count == 1:
            _held(1)
        return ok

    __enter__ = acquire

    def release(self) -> None:
        super().release()
        if self._count == 0:
            _held(-1)

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _release_save(self) -> Any:  # Condition.wait
        state = super()._release_save()
        _held(-1)
        return state

    def _acquire_restore(self, state: Any) -> None:
        super()._acquire_restore(state)
        _held(1)


# User-called waits that sysmon may see blocked in C (a syscall, _sysmon.py),
# although they are the runtime's code.
BLOCKING_CODES = frozenset({Lock.acquire.__code__, RLock.acquire.__code__})


def install() -> None:
    global _saved
    _saved = (threading.Lock, threading.RLock)
    threading.Lock = Lock  # type: ignore[misc]
    threading.RLock = RLock  # type: ignore[misc]


def uninstall() -> None:
    global _saved
    if _saved is not None:
        threading.Lock, threading.RLock = _saved  # type: ignore[misc]
        _saved = None
