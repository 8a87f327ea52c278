"""The sys.monitoring preemption backend: call injection into any thread.

How a call is injected (measured: reference/mechanism-probe-report.md §1):
another thread can only observe a worker while the worker is at an eval
breaker or inside a GIL-releasing C call, so the worker's next bytecode is
in its *top* frame's code.  Arming INSTRUCTION on that code object makes
the worker call `async_preempt` at its very next instruction (p99 ≤ 0.2 ms
in 16 of 16 code shapes); the cheap events JUMP|BRANCH|PY_START|CALL on
the rest of the goroutine's stack catch a return into a caller.

Invariants:

* Local events only, never `set_events` (it re-instruments every code
  object, and on 3.13 has a 2^24 change budget).  Runtime code is never
  armed.  At most MAX_ARMED code objects, giant ones skipped: arming costs
  ~4 ns per code unit, and on 3.12 an armed code object loses its
  superinstructions for good.
* Local events belong to the code object, which every thread shares: the
  arming table counts, per code object, what each M asked for, and the
  events set are their union — one M's disarm never removes another M's
  arming.  The table is changed only under `suspend_lock`; callbacks and
  signal handlers only try-lock it (they must never block).
* Callbacks fire in every thread that runs an armed code object: each
  finds its own M and returns at once unless that M has armed something.
* CPython runs callbacks with the thread's tracing counter raised and
  greenlet does not save it: switching goroutines inside a callback is
  bracketed by PyThreadState_LeaveTracing / EnterTracing, strictly paired.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from types import CodeType, FrameType
from typing import Any

from . import _hazards, _preempt, _sched

mon = sys.monitoring
E = mon.events
CHEAP = E.JUMP | E.BRANCH | E.PY_START | E.CALL
TOP = E.INSTRUCTION | CHEAP
MAX_ARMED = 64
MAX_CODE_BYTES = 64_000
TOOL_IDS = (4, 3)  # 0-2 and 5 belong to debuggers, coverage, profilers, optimizer

_api = ctypes.pythonapi
_api.PyThreadState_Get.restype = ctypes.c_void_p
_api.PyThreadState_LeaveTracing.argtypes = [ctypes.c_void_p]
_api.PyThreadState_LeaveTracing.restype = None
_api.PyThreadState_EnterTracing.argtypes = [ctypes.c_void_p]
_api.PyThreadState_EnterTracing.restype = None

tool: int | None = None
# code -> {M id: events}: what each M asked for; the code gets the union.
_table: dict[CodeType, dict[int, int]] = {}

_ms_get = _sched.ms_by_tid.get
_get_ident = threading.get_ident


def leave_tracing() -> int:
    ts = _api.PyThreadState_Get()
    _api.PyThreadState_LeaveTracing(ts)
    return ts


def enter_tracing(ts: int) -> None:
    _api.PyThreadState_EnterTracing(ts)


# ---------------------------------------------------------------------------
# Tool registration


def install() -> bool:
    """Claim a free tool id and register the callbacks; False if none is free."""
    global tool
    for tid in TOOL_IDS:
        if mon.get_tool(tid) is None:
            mon.use_tool_id(tid, "goroutines")
            tool = tid
            break
    else:
        return False
    mon.register_callback(tool, E.INSTRUCTION, _on_instruction)
    mon.register_callback(tool, E.PY_START, _on_instruction)
    mon.register_callback(tool, E.CALL, _on_call)
    mon.register_callback(tool, E.JUMP, _on_jump)
    mon.register_callback(tool, E.BRANCH, _on_jump)
    return True


def uninstall() -> None:
    global tool
    if tool is None:
        return
    with _preempt.suspend_lock:
        for code in list(_table):
            mon.set_local_events(tool, code, 0)
        _table.clear()
        for ev in (E.INSTRUCTION, E.PY_START, E.CALL, E.JUMP, E.BRANCH):
            mon.register_callback(tool, ev, None)
        mon.free_tool_id(tool)
        tool = None


# ---------------------------------------------------------------------------
# Callbacks: the landing of an injected call


def _on_instruction(code: CodeType, offset: int) -> None:
    m = _ms_get(_get_ident())
    if m is None or not m.armed:
        return
    _preempt.async_preempt(m, E.INSTRUCTION if offset else E.PY_START, offset, sys._getframe(1))


def _on_call(code: CodeType, offset: int, callable: object, arg0: object) -> None:
    m = _ms_get(_get_ident())
    if m is None or not m.armed:
        return
    _preempt.async_preempt(m, E.CALL, offset, sys._getframe(1))


def _on_jump(code: CodeType, src: int, dst: int) -> None:
    m = _ms_get(_get_ident())
    if m is None or not m.armed:
        return
    _preempt.async_preempt(m, E.JUMP, src, sys._getframe(1))


# ---------------------------------------------------------------------------
# The arming table


def _apply(code: CodeType) -> None:
    wants = _table.get(code)
    events = 0
    if wants:
        for ev in wants.values():
            events |= ev
    else:
        _table.pop(code, None)
    mon.set_local_events(tool, code, events)


def _set(m: Any, code: CodeType, events: int) -> None:
    wants = _table.setdefault(code, {})
    if wants.get(m.id) == events:
        return
    wants[m.id] = events
    m.armed[code] = events
    _apply(code)


def _clear(m: Any) -> None:
    for code in m.armed:
        wants = _table.get(code)
        if wants is not None:
            wants.pop(m.id, None)
            _apply(code)
    m.armed.clear()


def stack_codes(frame: FrameType | None) -> list[CodeType] | None:
    """User code objects from `frame` down to the goroutine entry, innermost
    first; None if `frame` is not on a goroutine's stack (e.g. g0)."""
    codes: list[CodeType] = []
    seen: set[int] = set()
    entry = _sched.ENTRY_CODE
    while frame is not None:
        code = frame.f_code
        if code is entry:
            return codes
        if (
            id(code) not in seen
            and len(codes) < MAX_ARMED
            and not _hazards.is_runtime_code(code)
            and len(code.co_code) <= MAX_CODE_BYTES
        ):
            seen.add(id(code))
            codes.append(code)
        frame = frame.f_back
    return None


def arm(m: Any, frame: FrameType | None, top: int = TOP) -> bool:
    """Arm `top` events on the innermost user code of the stack at `frame`,
    CHEAP on the rest.  Caller holds suspend_lock.  False: nothing to arm."""
    codes = stack_codes(frame)
    if not codes:
        return False
    _set(m, codes[0], top)
    for code in codes[1:]:
        _set(m, code, CHEAP)
    return True


def disarm(m: Any) -> None:
    """Remove m's arming (blocking; g0 and sysmon only)."""
    if m.armed:
        with _preempt.suspend_lock:
            _clear(m)


def disarm_nowait(m: Any) -> None:
    """A landing was consumed: remove m's arming from inside the callback.
    An injection that sysmon sent after this landing began is acknowledged
    with the clearing, atomically (its arming is what gets cleared; leaving
    it pending would stop every later injection).  If the table is busy, g0
    removes the arming when the goroutine switches out, or a later landing
    does."""
    if _preempt.suspend_lock.acquire(blocking=False):
        try:
            if m.armed:
                _clear(m)
            if m.signal_pending:
                _preempt.acknowledge(m)
        finally:
            _preempt.suspend_lock.release()


def downgrade_nowait(m: Any, code: CodeType) -> None:
    """Unsafe landing: keep only the cheap events on `code`."""
    if m.armed.get(code, 0) & E.INSTRUCTION and _preempt.suspend_lock.acquire(blocking=False):
        try:
            _set(m, code, CHEAP)
        finally:
            _preempt.suspend_lock.release()


def arm_own(m: Any, frame: FrameType) -> None:
    """Arm the current goroutine's own stack (on its thread, from a callback
    or the signal handler): the next instruction lands in async_preempt."""
    if _preempt.suspend_lock.acquire(blocking=False):
        try:
            arm(m, frame)
        finally:
            _preempt.suspend_lock.release()


class MonitoringBackend:
    """preempt_m for any thread: sysmon arms the target thread's stack."""

    name = "monitoring"

    def __init__(self, s: Any) -> None:
        self.s = s
        self.stress = s.debug.preemptstress

    def inject(self, m: Any) -> bool:
        return arm(m, sys._current_frames().get(m.tid))

    def on_execute(self, m: Any, g: Any) -> None:
        """g is about to run (execute cleared any earlier preemption request).
        Called at every switch: the common case (nothing pending) is one test."""
        if g.pending_exc is not None or g.scopes is not None or self.stress:
            self.arm_pending(m, g)

    def arm_pending(self, m: Any, g: Any) -> None:
        if g.pending_exc is not None or (g.scopes is not None and g.scopes.cancelled):
            arm_start(m, g, TOP)  # an exception needs an INSTRUCTION landing
        elif self.stress:
            g.preempt = True
            arm_start(m, g, CHEAP)  # preemptstress: at its next jump or call

    def on_switch_out(self, m: Any) -> None:
        if m.armed:
            disarm(m)
        if m.signal_pending:
            _preempt.acknowledge(m)


def arm_start(m: Any, g: Any, top: int) -> None:
    """A G that starts (or resumes) with a request pending: arm its stack so
    that the request lands soon (throw: first instruction; preemptstress)."""
    gr = g.resume_gr
    frame = gr.gr_frame if gr is not None else None
    m.exc_budget = _preempt.EXC_BUDGET
    with _preempt.suspend_lock:
        if frame is not None:
            arm(m, frame, top)
        elif g.fn is not None and hasattr(g.fn, "__code__") and not _hazards.is_runtime_code(g.fn.__code__):
            _set(m, g.fn.__code__, top)
