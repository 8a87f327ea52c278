"""Cooperative sockets: the standard library's blocking API, parking the
goroutine instead of its M (Go's net package over the netpoller).

`Socket` is a `socket.socket` whose descriptor is always non-blocking.
Each call tries the operation; when the kernel says it would block, the
calling goroutine waits in the netpoller (_netpoll.py) and tries again.
What a caller may rely on:

* The blocking API and its errors: `settimeout`/`gettimeout`/`setblocking`
  behave as documented for socket.socket (a timeout raises `TimeoutError`,
  which is `socket.timeout`); `makefile`, `sendall`, `accept`, `connect`,
  `sendfile` work as usual.
* The timeout applies per call, like the standard library's; `sendall`'s to
  the whole call.  A throw(), a context scope or `gr.timeout()` interrupts
  a wait and leaves the socket usable; bytes already received are kept by
  the kernel or returned — none are lost.
* close() wakes goroutines waiting on the socket with an OSError.
* Outside goroutines (a plain thread, or before run()) the same object
  works as an ordinary blocking socket.

`listen` and `dial` are Go-style helpers; `dial` resolves names through
`blocking()` so a slow DNS lookup does not stop the M.
"""

from __future__ import annotations

import errno
import selectors
import socket as _stdsocket
import time
from typing import Any, Callable

from . import _accel, _netpoll, _sched
from ._blocking import blocking

READ = _netpoll.READ
WRITE = _netpoll.WRITE


def _poller() -> _netpoll.NetPoller | None:
    """The run's netpoller if the caller is a goroutine, else None."""
    if _sched.getg() is None:
        return None
    s = _sched.sched
    np = s.netpoll
    if np is None:
        with s.lock:
            if s.netpoll is None:
                s.netpoll = _netpoll.NetPoller()
            np = s.netpoll
    return np


_raw = _stdsocket.socket  # the C-level operations, past any override
# socket.recv returning None instead of raising BlockingIOError (C fast path)
_recv_nb = _accel.speedups.recv_nb if _accel.speedups is not None else None


class Waiting:
    """The cooperative core shared by Socket and _tls.SSLSocket: the
    descriptor never blocks (the C-level timeout stays 0); the timeout the
    caller set is kept here and applied while the goroutine waits."""

    __slots__ = ()
    _gr_timeout: float | None
    _gr_pd: Any = None  # its netpoller PollDesc, once it has waited

    # -- timeouts (kept here: the descriptor itself never blocks) ---------

    def settimeout(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"timeout must be a number of seconds or None, not "
                                f"{type(value).__name__}")
            if value < 0:
                raise ValueError("Timeout value out of range")
            value = float(value)
        self._gr_timeout = value
        _raw.setblocking(self, False)  # type: ignore[arg-type]

    def gettimeout(self) -> float | None:
        return self._gr_timeout

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._gr_timeout != 0.0

    @property
    def timeout(self) -> float | None:
        return self._gr_timeout

    # -- the waiting loop -------------------------------------------------

    def _io(self, mode: int, op: Callable[..., Any], *args: Any) -> Any:
        timeout = self._gr_timeout
        if timeout == 0.0:
            return op(*args)
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._retry(mode, deadline, op, *args)

    def _retry(self, mode: int, deadline: float | None, op: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                return op(*args)
            except (BlockingIOError, InterruptedError):
                pass
            self._wait(mode, deadline)

    def _wait(self, mode: int, deadline: float | None) -> None:
        left = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
        np = _poller()
        if np is None:
            _wait_thread(self, mode, left)
            return
        pd = self._gr_pd
        if pd is None or pd.closed:  # first wait, or the descriptor or the run changed
            pd = self._gr_pd = np.desc(self.fileno(), self)
        try:
            _netpoll.wait(pd, np, mode, left)
        except _netpoll.PollClosed:
            raise OSError(errno.EBADF, "socket closed while waiting") from None
        except TimeoutError as e:
            if type(e) is not TimeoutError:
                raise  # a gr.timeout() scope's Timeout, not this socket's
            raise TimeoutError("timed out") from None

    def connect_ex(self, address: Any) -> int:
        err = _raw.connect_ex(self, address)  # type: ignore[arg-type]
        if err not in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EAGAIN):
            return err
        if self._gr_timeout == 0.0:
            return err
        deadline = None if self._gr_timeout is None else time.monotonic() + self._gr_timeout
        while True:
            self._wait(WRITE, deadline)
            err = self.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ERROR)  # type: ignore[attr-defined]
            if err != errno.EINPROGRESS:
                return err

    def _accept_fd(self) -> tuple[int, Any]:
        return self._io(READ, self._accept)  # type: ignore[attr-defined]

    def _real_close(self, *args: Any, **kwargs: Any) -> None:
        _forget(self)
        super()._real_close(*args, **kwargs)  # type: ignore[misc]

    def detach(self) -> int:
        _forget(self)
        return super().detach()  # type: ignore[misc]


class Socket(Waiting, _stdsocket.socket):
    """A socket.socket that parks the calling goroutine while it would block."""

    __slots__ = ("_gr_timeout", "_gr_nodelay", "_gr_pd")

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1,
                 fileno: int | None = None) -> None:
        super().__init__(family, type, proto, fileno)
        self._gr_nodelay = False  # listen(): accepted connections get TCP_NODELAY
        self._gr_pd = None
        self.settimeout(_stdsocket.getdefaulttimeout())

    # -- the blocking API -------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if _recv_nb is not None and self._gr_timeout is None:  # the common case, in C
            while (data := _recv_nb(self, bufsize, flags)) is None:
                self._wait(READ, None)
            return data
        return self._io(READ, super().recv, bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._io(READ, super().recv_into, buffer, nbytes, flags)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self._io(READ, super().recvfrom, bufsize, flags)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        return self._io(READ, super().recvfrom_into, buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        return self._io(WRITE, super().send, data, flags)

    def sendto(self, data: Any, *args: Any) -> int:
        return self._io(WRITE, super().sendto, data, *args)

    def sendall(self, data: Any, flags: int = 0) -> None:
        timeout = self._gr_timeout
        if timeout == 0.0:
            return super().sendall(data, flags)
        deadline = None if timeout is None else time.monotonic() + timeout
        send = super().send
        sent = 0
        if type(data) is bytes:  # commonly sent whole by one call: no memoryview
            try:
                sent = send(data, flags)
            except (BlockingIOError, InterruptedError):
                pass
            if sent == len(data):
                return None
        view = memoryview(data).cast("B")
        while sent < len(view):
            sent += self._retry(WRITE, deadline, send, view[sent:], flags)
        return None

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        # The stdlib's os.sendfile path waits in its own selector (blocking the M).
        return self._sendfile_use_send(file, offset, count)

    def accept(self) -> tuple["Socket", Any]:
        fd, addr = self._accept_fd()
        sock = Socket(self.family, self.type, self.proto, fileno=fd)
        if _stdsocket.getdefaulttimeout() is None and self._gr_timeout is not None:
            sock.settimeout(None)  # as socket.accept: a blocking listener's children block
        if self._gr_nodelay:
            _nodelay(sock)
        return sock, addr

    def connect(self, address: Any) -> None:
        err = self.connect_ex(address)
        if err:
            raise OSError(err, errno.errorcode.get(err, "connect failed"))


def _forget(sock: Any) -> None:
    """Wake the goroutines waiting on sock: it is going away."""
    s = _sched.sched
    fd = sock.fileno()
    if s is not None and s.netpoll is not None and fd >= 0:
        s.netpoll.forget(fd)


def _wait_thread(sock: Any, mode: int, timeout: float | None) -> None:
    """Outside goroutines: wait in this thread, as a blocking socket does."""
    with selectors.DefaultSelector() as sel:
        sel.register(sock, mode)
        if not sel.select(timeout):
            raise TimeoutError("timed out")


# ---------------------------------------------------------------------------
# Go-style helpers: TCP connections have Nagle's algorithm off, as in Go (a
# response written in pieces would otherwise wait ~40 ms for a delayed ACK).


def _nodelay(sock: Socket) -> None:
    sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)


def listen(address: tuple[str, int], backlog: int = _stdsocket.SOMAXCONN, *,
           family: int = _stdsocket.AF_INET, reuse_port: bool = False) -> Socket:
    """A listening TCP Socket bound to `address` (port 0: any free port;
    read it back with `getsockname()`)."""
    sock = Socket(family, _stdsocket.SOCK_STREAM)
    try:
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock._gr_nodelay = True
    except BaseException:
        sock.close()
        raise
    return sock


def dial(address: tuple[str, int], timeout: float | None = None) -> Socket:
    """A TCP connection to (host, port), trying each resolved address in
    turn as socket.create_connection does; `timeout` bounds each connect
    and becomes the socket's timeout."""
    host, port = address
    infos = blocking(_stdsocket.getaddrinfo, host, port, 0, _stdsocket.SOCK_STREAM)
    error: OSError | None = None
    for family, type_, proto, _, addr in infos:
        sock = Socket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            _nodelay(sock)
            return sock
        except OSError as e:
            sock.close()
            error = e
        except BaseException:
            sock.close()
            raise
    raise error if error is not None else OSError(f"getaddrinfo returned nothing for {host!r}")
