"""Exception-safe points: where an asynchronous exception may be raised.

Parking a goroutine is safe at any instrumented point; *raising* is not
(DESIGN.md §2).  An exception injected into arbitrary bytecode can skip a
`with` block's `__exit__`, the rest of a `finally` body, or leak
`sys.exc_info()`.  This module decides, per code object and offset, whether
raising there behaves exactly as if the statement just executed had raised.

Invariants (checked by tests/test_excsafe_fuzz.py, which raises at every
reachable instruction of functions built from with/finally/except):

* Only instructions reachable from the function entry along normal control
  flow are candidates.  Handler code (reached only through the exception
  table) is never safe: raising there skips the handler's cleanup or leaks
  the exception being handled.
* A *cleanup line* is a source line that also appears in a user-visible
  handler (one that starts with PUSH_EXC_INFO: except, finally, with).  The
  normal-path copy of a `finally` body and the normal exit of a `with` block
  (`LOAD_CONST None x3; CALL __exit__`, attributed to the `with` line) are
  cleanup lines, so they are unsafe even though they lie on the normal path.
* The statement just before a protected region (the `lock.acquire()` of
  `lock.acquire(); try: ... finally: lock.release()`) is unsafe: raising
  after the acquire but before the `try` would leak the lock.
* Frames of `__enter__`, `__exit__` and `__del__` are never safe, and every
  frame between the top and the goroutine's entry must be at a safe offset,
  because the exception unwinds through each of them.

The analysis is per code object and cached; it never runs on the hot path
of a goroutine that is not being sent an exception.
"""

from __future__ import annotations

import dis
import weakref
from types import CodeType, FrameType

_PUSH_EXC_INFO = dis.opmap["PUSH_EXC_INFO"]
_JUMPS = frozenset(getattr(dis, "hasjump", ())) | frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_NO_FALLTHROUGH = frozenset(
    dis.opmap[name]
    for name in (
        "RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE",
        "JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT",
    )
    if name in dis.opmap
)
# Instructions that can raise by themselves: the compiler must cover each
# with the right exception handler, so raising just before one is exactly
# like the instruction raising.  Jumps are not always covered (CPython 3.12
# leaves some comprehension back-edges outside their `with` handler), so a
# back-edge counts only where its handler matches its loop head's.
_RAISING = frozenset({
    "CALL", "CALL_KW", "CALL_FUNCTION_EX", "BINARY_OP", "BINARY_SUBSCR", "BINARY_SLICE",
    "STORE_SUBSCR", "STORE_SLICE", "DELETE_SUBSCR", "COMPARE_OP", "CONTAINS_OP",
    "LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_GLOBAL", "LOAD_NAME", "LOAD_SUPER_ATTR",
    "FOR_ITER", "GET_ITER", "UNPACK_SEQUENCE", "UNPACK_EX", "UNARY_NEGATIVE", "UNARY_INVERT",
})
_CLEANUP_FUNCTIONS = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__", "__del__"})

_safe_cache: weakref.WeakKeyDictionary[CodeType, frozenset[int]] = weakref.WeakKeyDictionary()


def _flow(instrs: list[dis.Instruction]) -> dict[int, list[int]]:
    """Normal-control-flow successors of each instruction (no exception edges)."""
    succ: dict[int, list[int]] = {}
    for k, ins in enumerate(instrs):
        out = []
        if ins.opcode not in _NO_FALLTHROUGH and k + 1 < len(instrs):
            out.append(instrs[k + 1].offset)
        if ins.opcode in _JUMPS and isinstance(ins.argval, int):
            out.append(ins.argval)
        succ[ins.offset] = out
    return succ


def _reach(starts: list[int], succ: dict[int, list[int]], stop: set[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(starts)
    while todo:
        off = todo.pop()
        if off in seen or off in stop or off not in succ:
            continue
        seen.add(off)
        todo.extend(succ[off])
    return seen


def _lines_before_try(instrs: list[dis.Instruction], starts: set[int]) -> set[int]:
    """The `try:` lines (NOPs just before a protected region) and the statement
    before them: raising between `lock.acquire()` and `try:` would leak the lock."""
    lines: set[int] = set()
    for k in range(1, len(instrs)):
        if instrs[k].offset not in starts or instrs[k - 1].opname != "NOP":
            continue
        j = k - 1
        while j >= 0 and instrs[j].opname == "NOP":
            lines.add(instrs[j].positions.lineno)
            j -= 1
        if j >= 0:
            lines.add(instrs[j].positions.lineno)
    lines.discard(None)
    return lines


def _handler_at(entries: list, offset: int) -> int | None:
    for e in entries:
        if e.start <= offset < e.end:
            return e.target
    return None


def safe_offsets(code: CodeType) -> frozenset[int]:
    """Offsets of `code` where raising an asynchronous exception is safe."""
    cached = _safe_cache.get(code)
    if cached is not None:
        return cached
    instrs = list(dis.get_instructions(code))
    by_offset = {i.offset: i for i in instrs}
    succ = _flow(instrs)
    normal = _reach([instrs[0].offset], succ, set())
    entries = dis.Bytecode(code).exception_entries
    user = [e for e in entries if by_offset.get(e.target) and by_offset[e.target].opcode == _PUSH_EXC_INFO]
    cleanup_lines = {by_offset[o].positions.lineno for o in _reach([e.target for e in user], succ, normal)}
    first_starts = {min(e.start for e in user if e.target == t) for t in {e.target for e in user}}
    cleanup_lines |= _lines_before_try(instrs, first_starts)
    safe = set()
    ends = [i.offset for i in instrs[1:]] + [len(code.co_code)]
    for ins, end in zip(instrs, ends):
        if ins.offset not in normal or ins.positions.lineno in cleanup_lines:
            continue
        if ins.opname in _RAISING or (
            ins.opname == "JUMP_BACKWARD"
            and _handler_at(entries, ins.offset) == _handler_at(entries, ins.argval)
        ):
            # with its inline cache: a caller frame's f_lasti may point into
            # the cache of its CALL (CPython 3.12 inlined calls)
            safe.update(range(ins.offset, end, 2))
    result = frozenset(safe)
    _safe_cache[code] = result
    return result


def is_exception_safe(frame: FrameType, offset: int, entry_code: CodeType) -> bool:
    """True if raising at `offset` of `frame` cannot skip cleanup anywhere
    between `frame` and the goroutine's entry frame (whose code is `entry_code`).

    The top frame must be user code, not the entry frame itself."""
    f: FrameType | None = frame
    off = offset
    while f is not None:
        code = f.f_code
        if code is entry_code:
            return f is not frame
        if code.co_name in _CLEANUP_FUNCTIONS or off not in safe_offsets(code):
            return False
        f = f.f_back
        off = f.f_lasti if f is not None else -1
    return False


def prepare(frame: FrameType | None, entry_code: CodeType) -> None:
    """Analyse the code of `frame` and its callers down to the entry frame
    now, so that raising there later costs no analysis (a timeout scope
    calls this on entry: its deadline is then not late by the first
    analysis of a large function, a few ms)."""
    f = frame
    while f is not None and f.f_code is not entry_code:
        safe_offsets(f.f_code)
        f = f.f_back
