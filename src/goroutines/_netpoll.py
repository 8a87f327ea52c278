"""The netpoller (Go's netpoll.go): goroutines park on file-descriptor readiness.

How it maps onto Go:

* One poller per run(), created on first use (Go's netpollGenericInit).
  On Linux it is epoll itself, as in Go: a descriptor is registered once,
  edge-triggered for both directions, and never touched again until it is
  closed — no syscall per wait.  An edge that arrives while nobody waits
  for that direction is remembered in the PollDesc (`ready`, Go's pdReady)
  and consumed by the next waiter, which then retries its call instead of
  parking.  Elsewhere `selectors.DefaultSelector` (kqueue, poll, select),
  level-triggered, with register/unregister per wait (_Selectors).
* A PollDesc per descriptor (Go's pollDesc) lists the goroutines waiting
  for each direction (Go's rg/wg, but a list: select() may wait on a
  descriptor a socket call also waits on).  A waiter adds an IOWait record
  and its interest, then parks (gopark) releasing the poller's lock only
  once it is _Gwaiting; the poller readies it under that lock, so a
  readiness, a timeout (a sleep timer on the goroutine), a throw() or a
  close() each wake it once and nothing wakes it after it has left.
* An event readies that direction's waiters (with _Selectors it also
  drops the interest, so a level-triggered descriptor nobody waits for
  does not spin the poller).  A wake-up may be stale: callers retry their
  non-blocking call and wait again, so it costs one failed call, never a
  lost event (readiness that arrives before the waiter is registered is
  remembered, or reported by the next poll).
* Who polls (Go's findRunnable and sysmon): an M with nothing to run blocks
  in the poll — one M at a time — and is woken early through a pipe
  (`netpoll_break`) when work or a new timer arrives for it; sysmon polls
  without blocking when nobody has polled for 10 ms, so readiness is noticed
  even while every M computes.
* Goroutines waiting for I/O are not a deadlock: `has_waiters` keeps
  checkdead quiet while any interest is registered.

Invariants: the kernel's registrations and the waiter lists change only
under `self.lock`; goroutines are readied under it (lock order: the
poller's lock, then sched.lock).
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import sys
import time
import weakref
from typing import Any

from . import _accel, _sched

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
SYSMON_POLL_NS = 10_000_000  # Go: sysmon polls if nobody has for 10 ms
# Selectors that see a registration made while another thread polls; the
# others (poll, select) are woken to pick it up.
_LIVE_SELECTORS = tuple(getattr(selectors, name) for name in ("EpollSelector", "KqueueSelector")
                        if hasattr(selectors, name))


class _Epoll:
    """Kernel interest through epoll: each descriptor registered once,
    edge-triggered for both directions (Go's netpollopen)."""

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.live = True
        self.registered: set[int] = set()

    def add_waker(self, fd: int) -> None:
        self.ep.register(fd, select.EPOLLIN)  # level-triggered, never disarmed
        self.registered.add(fd)

    def set(self, fd: int, events: int) -> None:
        """Someone waits for `events` on fd: register it if it is not."""
        if fd in self.registered:
            return
        mask = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
        try:
            self.ep.register(fd, mask)
        except FileExistsError:
            self.ep.modify(fd, mask)
        self.registered.add(fd)

    def fired(self, fd: int, left: int) -> None:
        pass  # edge-triggered: nothing to re-arm

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
            if mask & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLERR | select.EPOLLHUP):
                events |= READ
            if mask & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                events |= WRITE
            out.append((fd, events))
        return out

    def close(self) -> None:
        self.ep.close()


class _Selectors:
    """Kernel interest through selectors: level-triggered, registered only
    while someone waits."""

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


class IOWait:
    """One goroutine's wait, on one or more (PollDesc, direction)s."""

    __slots__ = ("g", "ready", "closed")

    def __init__(self, g: Any) -> None:
        self.g = g
        self.ready = False  # an event for it arrived
        self.closed = False  # a descriptor it waits on was closed


class PollDesc:
    """One descriptor: its kernel interest and its waiters per direction."""

    __slots__ = ("fd", "owner", "want", "ready", "waiters", "closed")

    def __init__(self, fd: int, owner: Any) -> None:
        self.fd = fd
        self.owner = weakref.ref(owner)  # a stale entry is detected by a dead owner
        self.want = 0  # directions someone waits for
        self.ready = 0  # directions with an event since nobody waited (pdReady)
        self.waiters: dict[int, list[IOWait]] = {READ: [], WRITE: []}
        self.closed = False


class NetPoller:
    def __init__(self) -> None:
        self.lock = _accel.allocate_lock()  # runtime locks are not counted in m.locks
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

    def _add(self, pd: PollDesc, mode: int, w: IOWait) -> bool:
        """w waits for `mode` on pd: register the interest (lock held).
        False instead if an event for it came while nobody waited: it is
        consumed, and w should retry rather than park."""
        if pd.closed:
            raise PollClosed(9, "file descriptor closed while waiting")
        if pd.ready & mode:
            pd.ready &= ~mode
            return False
        pd.waiters[mode].append(w)
        if not pd.want & mode:
            self.kernel.set(pd.fd, pd.want | mode)
            pd.want |= mode
            self.nwaiting += 1
            if self.polling and not self.live:
                self.netpoll_break()  # poll/select do not see it until woken
        return True

    def _remove(self, pd: PollDesc, mode: int, w: IOWait) -> None:
        """w gave up (timeout, throw, another descriptor was ready); drop the
        interest if nobody else waits for it (lock held)."""
        ws = pd.waiters[mode]
        if w in ws:
            ws.remove(w)
        if not ws and pd.want & mode and not pd.closed:
            pd.want &= ~mode
            self.nwaiting -= 1
            self.kernel.set(pd.fd, pd.want)

    def forget(self, fd: int) -> None:
        """fd is being closed: wake its waiters with PollClosed."""
        with self.lock:
            pd = self.pds.get(fd)
            if pd is not None:
                self._forget_locked(pd)

    def _forget_locked(self, pd: PollDesc) -> None:
        del self.pds[pd.fd]
        pd.closed = True
        self.nwaiting -= pd.want.bit_count()
        pd.want = 0
        self.kernel.drop(pd.fd)
        woken = pd.waiters[READ] + pd.waiters[WRITE]
        pd.waiters = {READ: [], WRITE: []}
        for w in woken:
            w.closed = True
        _ready(woken)

    def has_waiters(self) -> bool:
        return self.nwaiting > 0

    # -- polling ---------------------------------------------------------

    def poll(self, timeout: float | None) -> int:
        """Wait up to `timeout` seconds (None: until an event or a break),
        ready the goroutines waiting for what became ready (netpollready)
        and drop that interest.  Call with no runtime lock held; returns
        how many goroutines it readied."""
        events = self.kernel.select(timeout)
        self.lastpoll = time.perf_counter_ns()
        woken: list[IOWait] = []
        with self.lock:
            for fd, mask in events:
                if fd == self.rfd:
                    self._drain_break()
                    continue
                pd = self.pds.get(fd)
                if pd is None:
                    continue
                pd.ready |= mask & ~pd.want  # an edge nobody waits for yet
                mask &= pd.want
                pd.want &= ~mask
                self.nwaiting -= mask.bit_count()
                self.kernel.fired(fd, pd.want)
                for mode in (READ, WRITE):
                    if mask & mode:
                        woken += pd.waiters[mode]
                        pd.waiters[mode] = []
            for w in woken:
                w.ready = True
            _ready(woken)
        return len(woken)

    def poll_stale(self, age_ns: int) -> bool:
        """Poll without blocking if nobody has for `age_ns` and someone waits
        (sysmon; an M at a preemption).  Did it ready anyone?"""
        if self.polling or not self.nwaiting or time.perf_counter_ns() - self.lastpoll < age_ns:
            return False
        return self.poll(0) > 0

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


def _ready(woken: list[IOWait]) -> None:
    """Ready the waiters' goroutines (the poller's lock held: none of them
    can have moved on, see wait_many)."""
    if woken:
        _sched.ready_all([w.g for w in woken])


def wait_many(poller: NetPoller, items: list[tuple[PollDesc, int]], timeout: float | None) -> bool:
    """Park the calling goroutine until one of `items` (PollDesc, READ or
    WRITE) may be ready: True; or `timeout` seconds pass: False.  PollClosed
    if a descriptor is closed meanwhile; a throw() or a cancelled context
    is raised from here."""
    if timeout is not None and timeout <= 0:
        return False
    g = _sched.getg()
    s = _sched.sched
    w = IOWait(g)
    if timeout is not None:  # on g's own P: it cannot fire before g parks
        s.lock.acquire()
        try:
            _sched.add_timer(s, _sched.getp(s, g), _sched.nanotime() + int(timeout * 1e9), g)
        finally:
            s.lock.release()
    lock = poller.lock
    lock.acquire()
    try:
        parked = _enter(poller, items, w)
    except BaseException:
        g.timer_seq = 0
        raise
    if not parked:
        g.timer_seq = 0
        return True
    _sched.park_unlock(g, lock, "IO wait")
    return after_wait(poller, items, w, timeout)


def after_wait(poller: NetPoller, items: list[tuple[PollDesc, int]], w: IOWait,
               timeout: float | None) -> bool:
    """Back from parking in wait_many (the lock not held): wait_many's
    result.  Woken without an event (a throw(), a cancelled context, the
    timeout, a stale readying), act on it or park again.  Also where the C
    fast path of wait() continues."""
    g = w.g
    lock = poller.lock
    while not (w.ready or w.closed):  # both set, and g readied, under the lock
        lock.acquire()
        if w.ready or w.closed:
            lock.release()
            break
        if g.wants_exc() and g.nopreempt == 0:
            _leave(poller, items, w)
            lock.release()
            try:
                _sched.checkpoint_exc(g)  # raises: a throw() or a cancelled context
            except BaseException:
                g.timer_seq = 0
                raise
            lock.acquire()
            if not _enter(poller, items, w):
                break
        elif timeout is not None and g.timer_seq == 0:  # the timer fired
            _leave(poller, items, w)
            lock.release()
            return False
        _sched.park_unlock(g, lock, "IO wait")  # (or a stale readying: wait on)
    g.timer_seq = 0  # a pending timeout timer is stale now
    if len(items) > 1 or w.closed:
        with lock:
            _leave(poller, items, w)
    if w.closed and not w.ready:
        raise PollClosed(9, "file descriptor closed while waiting")
    return True


def _enter(poller: NetPoller, items: list[tuple[PollDesc, int]], w: IOWait) -> bool:
    """Add w to every item (the poller's lock held): True.  False, with w
    removed again and the lock released, if an item had an event nobody
    waited for (the caller retries instead of parking).  If adding fails,
    undo it and release the lock before raising."""
    try:
        for pd, mode in items:
            if not poller._add(pd, mode, w):
                _leave(poller, items, w)
                poller.lock.release()
                return False
    except BaseException:
        _leave(poller, items, w)
        poller.lock.release()
        raise
    return True


def _leave(poller: NetPoller, items: list[tuple[PollDesc, int]], w: IOWait) -> None:
    for pd, mode in items:
        poller._remove(pd, mode, w)


def wait(pd: PollDesc, poller: NetPoller, mode: int, timeout: float | None) -> None:
    """Park the calling goroutine until pd may be ready for `mode` (or a
    stale wake-up says so: retry the call).  TimeoutError after `timeout`
    seconds; PollClosed if the descriptor is closed meanwhile."""
    if not wait_many(poller, [(pd, mode)], timeout):
        raise TimeoutError("timed out")


class _Waiter:
    """Owns the PollDescs a wait_any() creates for bare descriptors."""

    __slots__ = ("__weakref__",)


def wait_any(poller: NetPoller, wants: list[tuple[Any, int]], timeout: float | None) -> None:
    """Park the calling goroutine until one of `wants` — (descriptor or
    object with fileno(), READ|WRITE) — may be ready, or `timeout` seconds
    pass (then return: the caller looks with a zero-timeout poll)."""
    waiter = _Waiter()
    items = []
    for obj, events in wants:
        fd = obj if isinstance(obj, int) else obj.fileno()
        owner = obj if not isinstance(obj, int) and hasattr(obj, "__weakref__") else waiter
        pd = poller.shared_desc(fd, owner)
        items += [(pd, mode) for mode in (READ, WRITE) if events & mode]
    try:
        wait_many(poller, items, timeout)
    except PollClosed:
        pass  # a descriptor was closed: the caller's poll reports it


_accel.install_netpoll(sys.modules[__name__])
