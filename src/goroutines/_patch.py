"""patch(): make the standard library's blocking calls cooperative (opt-in).

What is replaced, and with what — each only changes behaviour when called
from a goroutine; from a plain thread (or outside run()) it is the
original call:

* `socket.socket` becomes `goroutines.Socket` (a subclass: `isinstance`
  checks still hold), so `socket.create_connection`, `http.client`,
  `urllib.request` and `requests`/urllib3 park the goroutine on I/O;
  `getaddrinfo`, `gethostbyname(_ex)`, `gethostbyaddr` and `getnameinfo`
  run through `blocking()`.
* `ssl.SSLContext.sslsocket_class` becomes `goroutines.SSLSocket`, so TLS
  (https with urllib or requests) parks on the netpoller too.
* `time.sleep` becomes `goroutines.sleep`.
* `select.select` and `selectors.DefaultSelector` wait in the netpoller and
  then ask the real call with a zero timeout, so the answer is the kernel's.

What is not: objects created before patch() (sockets, selectors), names
imported before it (`from time import sleep`), and `select.poll`/`epoll` —
those still block their M, which sysmon notices and hands its P to another
M (_sysmon.py).  Patch first, then import the client libraries, as with
gevent's monkey.patch_all().  `unpatch()` (or leaving `with patch():`)
restores everything.
"""

from __future__ import annotations

import select as _select
import selectors as _selectors
import socket as _socket
import ssl as _ssl
import time as _time
from typing import Any

from . import _netpoll, _sched
from ._blocking import blocking
from ._socket import Socket, _poller
from ._time import sleep as _gr_sleep
from ._tls import SSLSocket

_originals: dict[tuple[Any, str], Any] = {}
_real_sleep = _time.sleep  # (what the replacements fall back to)
_real_select = _select.select


def _in_goroutine() -> bool:
    return _sched.getg() is not None


def _offloaded(fn: Any) -> Any:
    """fn through blocking() in a goroutine, directly elsewhere."""
    def call(*args: Any, **kwargs: Any) -> Any:
        if _in_goroutine():
            return blocking(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def _sleep(seconds: float) -> None:
    if _in_goroutine():
        _gr_sleep(seconds)
    else:
        _real_sleep(seconds)


def _deadline(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("timeout must be non-negative")
    return _time.monotonic() + timeout


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - _time.monotonic())


def _select_select(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
    real = _real_select
    np = _poller()
    if np is None or timeout == 0:
        return real(rlist, wlist, xlist, timeout)
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    deadline = _deadline(timeout)
    wants = [(o, _netpoll.READ) for o in rlist + xlist] + [(o, _netpoll.WRITE) for o in wlist]
    while True:
        got = real(rlist, wlist, xlist, 0)
        left = _left(deadline)
        if any(got) or left == 0:
            return got
        _netpoll.wait_any(np, wants, left)


def _selector_class(base: type) -> type:
    class Selector(base):  # type: ignore[misc, valid-type]
        """selectors.DefaultSelector whose select() parks a calling goroutine."""

        def select(self, timeout: float | None = None) -> list:
            np = _poller()
            if np is None or (timeout is not None and timeout <= 0):
                return super().select(timeout)
            deadline = _deadline(timeout)
            while True:
                ready = super().select(0)
                left = _left(deadline)
                if ready or left == 0:
                    return ready
                wants = [(key.fd, key.events) for key in self.get_map().values()]
                _netpoll.wait_any(np, wants, left)

    Selector.__name__ = Selector.__qualname__ = f"Goroutine{base.__name__}"
    return Selector


def _replacements() -> dict[tuple[Any, str], Any]:
    reps: dict[tuple[Any, str], Any] = {
        (_socket, "socket"): Socket,
        (_time, "sleep"): _sleep,
        (_select, "select"): _select_select,
        (_selectors, "DefaultSelector"): _selector_class(_selectors.DefaultSelector),
        (_ssl.SSLContext, "sslsocket_class"): SSLSocket,
    }
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "getnameinfo"):
        reps[(_socket, name)] = _offloaded(getattr(_socket, name))
    return reps


class patch:
    """`goroutines.patch()`: install the replacements (idempotent).  Also a
    context manager: `with goroutines.patch(): ...` unpatches on exit."""

    def __init__(self) -> None:
        if _originals:
            return
        for (mod, name), new in _replacements().items():
            _originals[(mod, name)] = getattr(mod, name)
            setattr(mod, name, new)

    def __enter__(self) -> patch:
        return self

    def __exit__(self, *exc: object) -> None:
        unpatch()


def unpatch() -> None:
    """Restore what patch() replaced (idempotent)."""
    for (mod, name), old in _originals.items():
        setattr(mod, name, old)
    _originals.clear()


def patched() -> bool:
    return bool(_originals)
