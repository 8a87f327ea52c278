"""TLS over the netpoller: the standard `ssl` module on a non-blocking descriptor.

`SSLSocket` is an `ssl.SSLSocket` whose descriptor never blocks (Waiting,
_socket.py): OpenSSL answers "want read" / "want write" (SSLWantReadError,
SSLWantWriteError) and the calling goroutine waits in the netpoller for that
direction, then retries — the handshake, reads, writes and the closing
shutdown alike.  Timeouts, gr.timeout(), throw() and close() interrupt those
waits as they do a plain socket's.  Outside goroutines it behaves as a
blocking ssl socket.

How to get one: `context.sslsocket_class = gr.SSLSocket`, then
`context.wrap_socket(sock, ...)` as usual (goroutines.patch() sets it for
every context).  Everything else — certificates, verification, SNI, ALPN,
`getpeercert()` — is the ssl module's own.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import Any, Callable

from ._socket import READ, WRITE, Socket, Waiting


class SSLSocket(Waiting, ssl.SSLSocket):
    """An ssl.SSLSocket that parks the calling goroutine while it would block."""

    _gr_timeout: float | None = None

    def _tls(self, op: Callable[..., Any], *args: Any) -> Any:
        """Run an OpenSSL operation, waiting for whichever direction it wants."""
        timeout = self._gr_timeout
        if timeout == 0.0:
            return op(*args)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return op(*args)
            except ssl.SSLWantReadError:
                self._wait(READ, deadline)
            except ssl.SSLWantWriteError:
                self._wait(WRITE, deadline)

    def do_handshake(self, block: bool = False) -> None:
        self._check_connected()  # type: ignore[attr-defined]
        self._tls(self._sslobj.do_handshake)  # type: ignore[union-attr]

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        return self._tls(super().read, len, buffer)

    def write(self, data: Any) -> int:
        return self._tls(super().write, data)

    def send(self, data: Any, flags: int = 0) -> int:
        if self._sslobj is None:
            return self._io(WRITE, super(ssl.SSLSocket, self).send, data, flags)
        if flags:
            raise ValueError(f"non-zero flags not allowed in calls to send() on {self.__class__}")
        return self._tls(self._sslobj.write, data)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._sslobj is None:
            return self._io(READ, super(ssl.SSLSocket, self).recv, buflen, flags)
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._sslobj is None:
            return self._io(READ, super(ssl.SSLSocket, self).recv_into, buffer, nbytes or 0, flags)
        return super().recv_into(buffer, nbytes, flags)

    def unwrap(self) -> Any:
        if not self._sslobj:
            raise ValueError("No SSL wrapper around " + str(self))
        sock = self._tls(self._sslobj.shutdown)
        self._sslobj = None
        return sock

    def connect(self, addr: Any) -> None:
        rc = self.connect_ex(addr)
        if rc:
            raise OSError(rc, os.strerror(rc))

    def connect_ex(self, addr: Any) -> int:
        """ssl.SSLSocket._real_connect, with the TCP connect parking instead."""
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        self._sslobj = self.context._wrap_socket(
            self, False, self.server_hostname, owner=self, session=self._session)
        try:
            rc = Waiting.connect_ex(self, addr)
            if not rc:
                self._connected = True
                if self.do_handshake_on_connect:
                    self.do_handshake()
            return rc
        except (OSError, ValueError):
            self._sslobj = None
            raise

    def accept(self) -> tuple[SSLSocket, Any]:
        fd, addr = self._accept_fd()
        sock = Socket(self.family, self.type, self.proto, fileno=fd)  # default timeout
        try:
            conn = SSLSocket._create(  # type: ignore[attr-defined]
                sock=sock, server_side=True, context=self.context,
                do_handshake_on_connect=self.do_handshake_on_connect,
                suppress_ragged_eofs=self.suppress_ragged_eofs)
        except BaseException:
            sock.close()
            raise
        return conn, addr
