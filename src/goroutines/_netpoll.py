"""The netpoller (Go's netpoll.go): goroutines park on file-descriptor readiness.

How it maps onto Go:

* One poller per run(), created on first use (Go's netpollGenericInit).
  On Linux it is epoll itself, as in Go: a descriptor is registered once
  with EPOLLONESHOT and each wait re-arms it with one epoll_ctl(MOD) — a
  syscall per wait instead of selectors' register + unregister and their
  Python bookkeeping.  Elsewhere `selectors.DefaultSelector` (kqueue, poll,
  select) with register/unregister per wait (_Selectors).
* A PollDesc per descriptor (Go's pollDesc) holds one readiness channel
  per direction, of capacity 1.  A waiter registers its interest, then
  receives from that channel — so timeouts, throw(), context cancellation
  and shutdown interrupt an I/O wait exactly as they interrupt a receive.
* An event sends a token (never blocking: a full channel already holds one)
  and drops that direction's interest (EPOLLONESHOT), so a level-triggered
  descriptor nobody waits for does not spin the poller.
  A token may be stale: callers retry their non-blocking call and wait
  again, so a spurious wake-up costs one failed call, never a lost event
  (epoll is level-triggered: readiness that arrives before the interest is
  registered is reported by the next poll).
* Who polls (Go's findRunnable and sysmon): an M with nothing to run blocks
  in the poll — one M at a time — and is woken early through a pipe
  (`netpoll_break`) when work or a new timer arrives for it; sysmon polls
  without blocking when nobody has polled for 10 ms, so readiness is noticed
  even while every M computes.
* Goroutines waiting for I/O are not a deadlock: `has_waiters` keeps
  checkdead quiet while any interest is registered.

Invariants: the kernel's registrations change only under `self.lock`;
tokens are sent and goroutines readied outside it and outside sched.lock.
"""

from __future__ import annotations

import _thread
import errno
import os
import select
import selectors
import time
import weakref
from typing import Any

from ._chan import Chan, ChanClosed

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
SYSMON_POLL_NS = 10_000_000  # Go: sysmon polls if nobody has for 10 ms
# Selectors that see a registration made while another thread polls; the
# others (poll, select) are woken to pick it up.
_LIVE_SELECTORS = tuple(getattr(selectors, name) for name in ("EpollSelector", "KqueueSelector")
                        if hasattr(selectors, name))


class _Epoll:
    """Kernel interest through epoll, each descriptor registered once."""

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.live = True
        self.registered: set[int] = set()

    def add_waker(self, fd: int) -> None:
        self.ep.register(fd, select.EPOLLIN)  # level-triggered, never disarmed
        self.registered.add(fd)

    def set(self, fd: int, events: int) -> None:
        """Interest in exactly `events` (0: none, the registration stays)."""
        mask = select.EPOLLONESHOT
        if events & READ:
            mask |= select.EPOLLIN
        if events & WRITE:
            mask |= select.EPOLLOUT
        if fd in self.registered:
            try:
                self.ep.modify(fd, mask)
                return
            except FileNotFoundError:
                pass  # closed and reused behind our back: register afresh
        try:
            self.ep.register(fd, mask)
        except FileExistsError:
            self.ep.modify(fd, mask)
        self.registered.add(fd)

    def fired(self, fd: int, left: int) -> None:
        """An event disarmed fd (one-shot): re-arm what is still wanted."""
        if left:
            self.set(fd, left)

    def drop(self, fd: int) -> None:
        if fd in self.registered:
            self.registered.discard(fd)
            try:
                self.ep.unregister(fd)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.EBADF):
                    raise

    def select(self, timeout: float | None) -> list[tuple[int, int]]:
        out = []
        for fd, mask in self.ep.poll(-1 if timeout is None else timeout):
            events = 0
            if mask & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                events |= READ
            if mask & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                events |= WRITE
            out.append((fd, events))
        return out

    def close(self) -> None:
        self.ep.close()


class _Selectors:
    """Kernel interest through selectors: register and unregister per wait."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.live = isinstance(self.sel, _LIVE_SELECTORS)

    def add_waker(self, fd: int) -> None:
        self.sel.register(fd, READ)

    def set(self, fd: int, events: int) -> None:
        registered = fd in self.sel.get_map()
        if events and registered:
            self.sel.modify(fd, events)
        elif events:
            self.sel.register(fd, events)
        elif registered:
            self.sel.unregister(fd)

    def fired(self, fd: int, left: int) -> None:
        self.set(fd, left)

    def drop(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass  # not registered, or the descriptor is already gone

    def select(self, timeout: float | None) -> list[tuple[int, int]]:
        return [(key.fd, mask) for key, mask in self.sel.select(timeout)]

    def close(self) -> None:
        self.sel.close()


class PollClosed(OSError):
    """The descriptor was closed while a goroutine waited on it."""


class PollDesc:
    """One descriptor's waiters: a readiness channel per direction."""

    __slots__ = ("fd", "owner", "want", "chans", "closed")

    def __init__(self, fd: int, owner: Any) -> None:
        self.fd = fd
        self.owner = weakref.ref(owner)  # a stale entry is detected by a dead owner
        self.want = 0  # directions with a registered interest
        self.chans = {READ: Chan(1), WRITE: Chan(1)}
        self.closed = False


class NetPoller:
    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()  # runtime locks are not counted in m.locks
        self.kernel = _Epoll() if hasattr(select, "epoll") else _Selectors()
        self.live = self.kernel.live
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.kernel.add_waker(self.rfd)
        self.pds: dict[int, PollDesc] = {}
        self.nwaiting = 0  # registered interests (directions), for checkdead
        self.polling = False  # an M is blocked in poll()
        self.lastpoll = time.perf_counter_ns()

    def close(self) -> None:
        with self.lock:
            for pd in list(self.pds.values()):
                self._forget_locked(pd)
            self.kernel.close()
        os.close(self.rfd)
        os.close(self.wfd)

    # -- waiting ---------------------------------------------------------

    def desc(self, fd: int, owner: Any) -> PollDesc:
        """The PollDesc of fd for `owner`; a leftover from a descriptor that
        was closed without close() (its owner collected) is replaced."""
        with self.lock:
            pd = self.pds.get(fd)
            if pd is not None and pd.owner() is owner:
                return pd
            if pd is not None:
                self._forget_locked(pd)
            pd = self.pds[fd] = PollDesc(fd, owner)
            return pd

    def shared_desc(self, fd: int, owner: Any) -> PollDesc:
        """fd's PollDesc whoever owns it (select() on a Socket must wake with
        the Socket's own waiters' channel); `owner`'s if there is none."""
        with self.lock:
            pd = self.pds.get(fd)
            if pd is not None and pd.owner() is not None:
                return pd
        return self.desc(fd, owner)

    def arm(self, pd: PollDesc, mode: int) -> None:
        """Register interest in `mode` readiness of pd (before waiting)."""
        with self.lock:
            if pd.closed:
                raise PollClosed(9, "file descriptor closed while waiting")
            if pd.want & mode:
                return
            self.kernel.set(pd.fd, pd.want | mode)
            pd.want |= mode
            self.nwaiting += 1
            wake = self.polling and not self.live
        if wake:
            self.netpoll_break()

    def disarm(self, pd: PollDesc, mode: int) -> None:
        """The waiter for `mode` gave up (timeout, throw): drop its interest."""
        with self.lock:
            if pd.closed or not pd.want & mode:
                return
            pd.want &= ~mode
            self.nwaiting -= 1
            self.kernel.set(pd.fd, pd.want)

    def forget(self, fd: int) -> None:
        """fd is being closed: wake its waiters with PollClosed."""
        with self.lock:
            pd = self.pds.get(fd)
            if pd is None:
                return
            self._forget_locked(pd)
        for ch in pd.chans.values():
            ch.close()

    def _forget_locked(self, pd: PollDesc) -> None:
        del self.pds[pd.fd]
        pd.closed = True
        self.nwaiting -= pd.want.bit_count()
        pd.want = 0
        self.kernel.drop(pd.fd)

    def has_waiters(self) -> bool:
        return self.nwaiting > 0

    # -- polling ---------------------------------------------------------

    def poll(self, timeout: float | None) -> list[tuple[PollDesc, int]]:
        """Wait up to `timeout` seconds (None: until an event or a break) and
        return the ready (PollDesc, directions), their interest dropped.
        The caller delivers them with `deliver`, holding no runtime lock."""
        events = self.kernel.select(timeout)
        self.lastpoll = time.perf_counter_ns()
        ready = []
        with self.lock:
            for fd, mask in events:
                if fd == self.rfd:
                    self._drain_break()
                    continue
                pd = self.pds.get(fd)
                if pd is None:
                    continue
                mask &= pd.want
                pd.want &= ~mask
                self.nwaiting -= mask.bit_count()
                self.kernel.fired(fd, pd.want)
                if mask:
                    ready.append((pd, mask))
        return ready

    def poll_stale(self, age_ns: int) -> bool:
        """Poll without blocking if nobody has for `age_ns` and someone waits
        (sysmon; an M at a preemption); deliver.  Did anything get ready?"""
        if self.polling or not self.nwaiting or time.perf_counter_ns() - self.lastpoll < age_ns:
            return False
        ready = self.poll(0)
        self.deliver(ready)
        return bool(ready)

    @staticmethod
    def deliver(ready: list[tuple[PollDesc, int]]) -> None:
        """Wake the goroutines waiting for these events (netpollready)."""
        for pd, mask in ready:
            for mode in (READ, WRITE):
                if mask & mode:
                    try:
                        pd.chans[mode].try_send(None)
                    except ChanClosed:
                        pass  # closed since the poll: forget() woke its waiters

    def netpoll_break(self) -> None:
        """Wake the M blocked in poll()."""
        try:
            os.write(self.wfd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is already pending

    def _drain_break(self) -> None:
        try:
            while os.read(self.rfd, 512):
                pass
        except BlockingIOError:
            pass


def wait(pd: PollDesc, poller: NetPoller, mode: int, timeout: float | None) -> None:
    """Park the calling goroutine until pd may be ready for `mode` (or a
    stale token says so: retry the call).  TimeoutError after `timeout`
    seconds; PollClosed if the descriptor is closed meanwhile."""
    poller.arm(pd, mode)
    try:
        _, ok = pd.chans[mode].recv_ok(timeout)
    except BaseException:
        poller.disarm(pd, mode)
        raise
    if not ok:
        raise PollClosed(9, "file descriptor closed while waiting")


class _Waiter:
    """Owns the PollDescs a wait_any() creates for bare descriptors."""

    __slots__ = ("__weakref__",)


def wait_any(poller: NetPoller, wants: list[tuple[Any, int]], timeout: float | None) -> None:
    """Park the calling goroutine until one of `wants` — (descriptor or
    object with fileno(), READ|WRITE) — may be ready, or `timeout` seconds
    pass (then return: the caller looks with a zero-timeout poll)."""
    from ._select import Recv, select

    waiter = _Waiter()
    armed: list[tuple[PollDesc, int]] = []
    try:
        cases = []
        for obj, events in wants:
            fd = obj if isinstance(obj, int) else obj.fileno()
            pd = poller.shared_desc(fd, obj if hasattr(obj, "__weakref__") and
                                    not isinstance(obj, int) else waiter)
            for mode in (READ, WRITE):
                if events & mode:
                    poller.arm(pd, mode)
                    armed.append((pd, mode))
                    cases.append(Recv(pd.chans[mode]))
        try:
            select(*cases, timeout=timeout)
        except TimeoutError as e:
            if type(e) is not TimeoutError:
                raise  # a gr.timeout() scope's, not this wait's
    except PollClosed:
        pass  # a descriptor was closed: the caller's poll reports it
    finally:
        for pd, mode in armed:
            poller.disarm(pd, mode)
