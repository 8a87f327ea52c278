"""sysmon: the monitor thread that runs without a P (Go's proc.go §sysmon).

Each tick it looks at every P (`retake`): a goroutine that has run past
its time slice gets `preemptone`; a request that has not landed yet is
re-sent (preempt_m rate-limits and keeps one injection in flight); a
pending throw() to a running goroutine is re-sent the same way.  It polls
the network when no M has for 10 ms (_netpoll.py), enforces the grace
period of a stopping runtime and prints schedtrace.

Syscalls (Go's retake of a P in _Psyscall): CPython cannot tell us when a
thread enters a C call that releases the GIL, so sysmon samples each
running M — its goroutine, schedtick, top frame, that frame's last
instruction and the thread's CPU time.  All unchanged (the CPU time
nearly) for a while, and the kernel not calling the thread runnable,
means it is blocked outside the interpreter: a thread that computes, or
waits for the GIL between bytecodes, gets it while sysmon sleeps and
uses CPU, and one that waits for a CPU on a busy machine is runnable.  "A while" is SYSCALL_NS, or longer when
several of the runtime's threads want the GIL, since a thread back from a
call may wait that long for it (syscall_window).  Where a thread's CPU
clock cannot be read (macOS) there is no detection.  If other work waits,
or after FORCE_HANDOFF_NS anyway, the P is handed to another M
(handoff_syscall).  The goroutines bound to the blocked thread cannot
move; if some of them are runnable while it stays blocked past REPORT_NS,
the call site is reported once on stderr.

Sleep policy: Go's — 20 µs, doubling after 50 idle ticks up to 10 ms —
except that while some P is running a goroutine it wakes at that slice's
deadline instead of polling (each wake-up costs the workers a GIL
hand-off).  The M on the main thread with the signal backend has its own
kernel timer for slices; sysmon only re-sends requests to it.
"""

from __future__ import annotations

import linecache
import sys
import threading
import time
from typing import Any

from . import _hazards, _locks, _netpoll, _preempt, _sched
from ._g import STATUS_NAMES, Grunning, Gsyscall

MIN_SLEEP_NS = 20_000
MAX_SLEEP_NS = 10_000_000
SYSCALL_NS = 2_000_000  # unchanged this long (at least): blocked outside the interpreter
FORCE_HANDOFF_NS = 10_000_000  # hand off even if no other work waits (Go: 10 ms)
CPU_SHARE = 8  # a blocked thread uses less than 1/8 of a CPU (signal handlers)
REPORT_NS = 100_000_000  # report a call that keeps runnable goroutines waiting


class Sysmon:
    def __init__(self, s: Any) -> None:
        self.s = s
        self.note = s.sysmon_note
        self.note.acquire()
        self.stopped = False
        self.thread = threading.Thread(target=self.loop, name="goroutines-sysmon", daemon=True)
        self.last_trace = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True
        _sched.wake_sysmon(self.s)
        self.thread.join()

    def loop(self) -> None:
        s = self.s
        idle = 0
        delay = MIN_SLEEP_NS
        while not self.stopped:
            if idle == 0:
                delay = MIN_SLEEP_NS
            elif idle > 50:
                delay = min(delay * 2, MAX_SLEEP_NS)
            now = _sched.nanotime()
            gil_ns = int(sys.getswitchinterval() * 1e9)
            wait = min(delay, self.until_next_deadline(now))
            urgent = self.next_urgent()
            if urgent is not None:
                wait = min(wait, urgent - gil_ns - now)
            if s.debug.schedtrace_ms:
                wait = min(wait, s.debug.schedtrace_ms * 1_000_000)
            self.note.acquire(timeout=max(MIN_SLEEP_NS, wait) / 1e9)
            if self.stopped:
                return
            now = self.await_urgent(self.next_urgent(), gil_ns)
            s.sysmon_stats["sysmon_ticks"] += 1
            idle = 0 if self.retake(now) + self.syscalls(now) else idle + 1
            if self.netpoll():
                idle = 0
            if s.stopping and not s.abandon and now > s.stop_deadline:
                abandon(s, now)
            if s.debug.schedtrace_ms and now - self.last_trace >= s.debug.schedtrace_ms * 1_000_000:
                self.last_trace = now
                sys.stderr.write(schedtrace(s, s.debug.scheddetail, now))

    def next_urgent(self) -> int | None:
        """When the earliest urgent timer (a context deadline) is due on a P
        whose M computes without a kernel timer of its own, or None."""
        best = None
        for p in self.s.ps:
            m = p.m
            if m is None or m.curg is None or _uses_timer(m) or not p.timers.urgent_first():
                continue
            when = p.timers.next_when()
            if when is not None and (best is None or when < best):
                best = when
        return best

    def await_urgent(self, when: int | None, gil_ns: int) -> int:
        """A deadline is due within one switch interval: wait for it holding
        the GIL, and return the time.  sysmon asked for the GIL that much
        early, since taking it back from a computing M takes up to one
        switch interval — otherwise a context deadline would be noticed up to
        that late (half a 1 ms slice).  Only for urgent timers: the spin
        costs the M at most one switch interval per deadline."""
        now = _sched.nanotime()
        if when is not None and now < when <= now + gil_ns:
            while now < when:
                now = _sched.nanotime()
        return now

    def netpoll(self) -> bool:
        """Poll the network if nobody has for 10 ms (every M computing), so
        that goroutines waiting for I/O are readied anyway (Go's sysmon)."""
        np = self.s.netpoll
        return np is not None and np.poll_stale(_netpoll.SYSMON_POLL_NS)

    def syscalls(self, now: int) -> int:
        """Find Ms blocked in a GIL-releasing call; hand off their Ps and
        report calls that keep goroutines waiting.  Returns the handoffs."""
        s = self.s
        frames = None
        n = 0
        window = syscall_window(s)
        for m in list(s.ms):
            g = m.curg
            if g is None or m.tid is None or m.exiting:
                m.sc_sample = None
                continue
            if g.atomicstatus == Gsyscall:
                if now - m.sc_since >= REPORT_NS:
                    self.report(m, g, now)
                continue
            p = m.p
            if g.atomicstatus != Grunning or p is None or p.draining:
                continue
            if frames is None:
                frames = sys._current_frames()
            sample = blocked_sample(m, g, p, frames.get(m.tid))
            if not same_place(sample, m.sc_sample, now - m.sc_since):
                m.sc_sample = sample
                m.sc_since = now
            elif now - m.sc_since >= window and \
                    (now - m.sc_since >= FORCE_HANDOFF_NS or has_other_work(s, p)) and \
                    not runnable(m) and \
                    _sched.handoff_syscall(s, m, m.sc_sample):
                _preempt.notify_exitsyscall(m)
                n += 1
        return n

    def report(self, m: Any, g: Any, now: int) -> None:
        """The goroutines bound to m wait for its syscall: say so, once per
        call site (gevent's blocking monitor does the same for its hub)."""
        s = self.s
        sample = m.sc_sample
        if sample is None or not s.runq.has_own(m):
            return
        code, line = sample[2].f_code, sample[2].f_lineno
        if code is _sched.ENTRY_CODE:  # the goroutine's function is the call
            site: tuple = (repr(g.fn), 0)
            where = f"its function {g.fn!r}"
        else:
            site = (code.co_filename, line)
            src = linecache.getline(code.co_filename, line).strip()
            where = f"{code.co_filename}:{line} in {code.co_name}" + (f": {src}" if src else "")
        if site in s.syscall_sites:
            return
        s.syscall_sites.add(site)
        s.sysmon_stats["syscall_reports"] += 1
        sys.stderr.write(
            f"goroutines: goroutine {g.id} has blocked its thread (M{m.id}) for "
            f"{(now - m.sc_since) / 1e9:.2f} s in a call that released the GIL, at " + where +
            ".\n  Goroutines that started on that thread cannot run until it returns "
            "(other goroutines run on another thread).\n  Use goroutines.blocking(fn, ...) "
            "for this call, or goroutines.patch() for sockets, time.sleep and select.\n"
        )

    def until_next_deadline(self, now: int) -> int:
        best = MAX_SLEEP_NS
        for p in self.s.ps:
            m = p.m
            if m is None or m.curg is None:
                continue
            if m.curg.preempt or m.curg.wants_exc():
                # a request is pending: re-send it once the rate limit allows
                best = min(best, max(m.next_preempt_m - now, _preempt.UNSAFE_RETRY_NS))
            elif (not _uses_timer(m) or p.wakeup_pending or not m.timer_armed
                  or m.timer_when > deadline(self.s, p) + _sched.TOLERANCE_NS):
                best = min(best, deadline(self.s, p) - now)
        return max(MIN_SLEEP_NS, best)

    def retake(self, now: int) -> int:
        """Preempt goroutines past their slice, or past the wakeup granularity
        when a woken goroutine or a due timer waits; re-send pending
        requests.  Returns how many requests were issued or re-sent."""
        s = self.s
        n = 0
        for p in s.ps:
            m = p.m
            g = m.curg if m is not None else None
            if g is None or m.exiting:
                continue
            if g.preempt or g.wants_exc():
                if s.async_preempt and m.backend is not None:
                    _preempt.preempt_m(m)
                    n += 1
                continue
            if _uses_timer(m) and m.timer_armed and not p.wakeup_pending \
                    and m.timer_when <= deadline(s, p) + _sched.TOLERANCE_NS:
                continue  # its own kernel timer does all this
            if now >= p.schedwhen + s.time_slice_ns - _sched.TOLERANCE_NS:
                _preempt.preemptone(p)
                n += 1
            elif p.timers.due(now) and p.timers.urgent_first():
                _preempt.preemptone(p)  # a context deadline interrupts at once
                n += 1
            elif ((p.wakeup_pending or p.timers.due(now))
                  and now >= p.schedwhen + s.wakeup_granularity_ns - _sched.TOLERANCE_NS):
                # a due timer runs on its own M (_timers.py): preempt for it
                # as for a woken goroutine, once the granularity has passed
                with s.lock:
                    _sched.wakeup_preempt(s, p)
                n += 1
        return n


def blocked_sample(m: Any, g: Any, p: Any, frame: Any) -> tuple | None:
    """What sysmon compares between ticks to see a thread stuck in C; None
    where that is no syscall: g0, or the runtime's own code (its waits are
    short) — except a counted thread lock's acquire, which the user called."""
    if frame is None or m.cpuclock is None:
        return None
    code = frame.f_code
    if _hazards.is_runtime_code(code) and code not in SYSCALL_FRAMES:
        return None
    try:
        cpu = time.clock_gettime_ns(m.cpuclock)
    except OSError:  # the thread is gone
        return None
    return (g, p.schedtick, frame, frame.f_lasti, cpu)


# Runtime frames that call into user-chosen C code: a counted thread lock's
# acquire, and a goroutine whose function is itself a builtin (time.sleep).
SYSCALL_FRAMES = _locks.BLOCKING_CODES | {_sched.ENTRY_CODE}


def same_place(now: tuple | None, then: tuple | None, elapsed: int) -> bool:
    """Has the thread stayed at `then` (same goroutine, slice, frame and
    instruction) using almost no CPU?  A signal handler run during the call
    (the signal backend's) costs a little; running Python costs more than
    1/CPU_SHARE of the time even on a thread that mostly waits for the GIL."""
    if now is None or then is None or now[:4] != then[:4]:
        return False
    return (now[4] - then[4]) * CPU_SHARE <= elapsed


def syscall_window(s: Any) -> int:
    """How long a thread must stay put to count as blocked in a syscall.  A
    thread back from a GIL-releasing call also stays put, CPU flat, while it
    waits for the GIL — up to a switch interval per thread that wants it
    (the runtime's: its running Ms, its busy blocking() threads, sysmon)."""
    wanting = 1 + sum(1 for m in s.ms if m.curg is not None)
    if s.blocking is not None:
        wanting += s.blocking.running
    return max(SYSCALL_NS, 2 * wanting * int(sys.getswitchinterval() * 1e9))


def runnable(m: Any) -> bool:
    """Is m's thread runnable in the kernel (waiting for a CPU on a busy
    machine: CPU time flat, yet no syscall)?  Linux tells (/proc); elsewhere
    assume not."""
    try:
        with open(f"/proc/self/task/{m.native_id}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] == b"R"


def has_other_work(s: Any, p: Any) -> bool:
    """Is anything waiting that another M could run with p (Go's retake:
    a non-empty run queue, or nobody idle to take new work)?"""
    return bool(len(p.runq) or len(s.runq) or p.timers.heap or s.pwait
                or (s.netpoll is not None and s.netpoll.has_waiters()))


def deadline(s: Any, p: Any) -> int:
    """When p's running goroutine must be looked at again: the end of its
    slice, or — no sooner than the wakeup granularity into it — the next
    timer of p (an urgent one: at once), or now if a woken goroutine is
    already waiting."""
    end = p.schedwhen + s.time_slice_ns
    woken = p.schedwhen if p.wakeup_pending else p.timers.next_when()
    if woken is None:
        return end
    if p.timers.urgent_first() and not p.wakeup_pending:
        return min(end, woken)  # a context deadline: no granularity
    return min(end, max(woken, p.schedwhen + s.wakeup_granularity_ns))


def _uses_timer(m: Any) -> bool:
    return m.backend is not None and m.backend.name == "signal"


def abandon(s: Any, now: int) -> None:
    """The grace period is over: give up on goroutines that did not stop,
    and say where each one is (and how late sysmon looked: a machine that
    stalled makes the grace period look spent)."""
    with s.lock:
        s.abandon = True
        for g in s.allgs.values():
            g.abandoned = True
            s.abandoned.append(g)
        _sched.stop_ms(s)
    if not s.abandoned:
        return
    lines = [f"goroutines: abandoned {len(s.abandoned)} goroutine(s) that reached no "
             f"exception-safe point within the grace period ({_sched.STOP_GRACE_NS / 1e9:g} s; "
             f"sysmon looked {(now - s.stop_deadline) / 1e9:.3f} s after it ended):\n"]
    for g in s.abandoned[:20]:
        lines.append(f"  goroutine {g.id} [{g.status}{f' on M{g.m.id}' if g.m else ''}]"
                     f"{_where(g)}\n")
    sys.stderr.write("".join(lines))


def _where(g: Any) -> str:
    try:
        frames = _preempt.stack_of(g)
    except Exception:  # noqa: BLE001 - a report must not fail
        return ""
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename}:{f.lineno} in {f.name}"


def schedtrace(s: Any, detailed: bool, now: int) -> str:
    """Go's `SCHED` line (and, if detailed, the P, M and G lines)."""
    ms_since = (now - s.start_ns) // 1_000_000
    idleprocs = sum(1 for p in s.ps if p.m is None or p.m.curg is None)
    line = (
        f"SCHED {ms_since}ms: gomaxprocs={s.procs} idleprocs={idleprocs} threads={len(s.ms) + 1} "
        f"spinningthreads=0 needspinning=0 idlethreads={s.nmidle} runqueue={len(s.runq)}"
    )
    if not detailed:
        lens = " ".join(str(len(p.runq)) for p in s.ps)
        ticks = " ".join(str(p.schedtick) for p in s.ps)
        return f"{line} [ {lens} ] schedticks=[ {ticks} ]\n"
    out = [f"{line} gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0\n"]
    for p in s.ps:
        out.append(
            f"  P{p.id}: status={1 if p.m and p.m.curg else 0} schedtick={p.schedtick} syscalltick=0 "
            f"m={p.m.id if p.m else 'nil'} runqsize={len(p.runq)} gfreecnt={len(p.m.gfree) if p.m else 0} "
            f"timerslen={len(p.timers)}\n"
        )
    for m in s.ms:
        curg = m.curg.id if m.curg else "nil"
        out.append(
            f"  M{m.id}: p={m.p.id if m.p else 'nil'} curg={curg} mallocing=0 throwing=0 preemptoff= locks={m.locks} "
            f"dying=0 spinning=false blocked={'true' if m.idle else 'false'} lockedg=nil\n"
        )
    for g in list(s.allgs.values()):
        reason = f"({g.waitreason})" if g.waitreason and STATUS_NAMES[g.atomicstatus] == "waiting" else "()"
        out.append(f"  G{g.id}: status={g.atomicstatus}{reason} m={g.m.id if g.m else 'nil'} lockedm=nil\n")
    return "".join(out)
