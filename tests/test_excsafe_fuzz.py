"""Exception-safety fuzz: raise at *every* instrumented point the runtime
judges exception-safe, in functions built from with / try-finally /
try-except / loops / nesting, and check that no `__exit__` or `finally` is
skipped and `sys.exc_info()` never leaks (reference/probes/exp4_raise_fuzz.py
found 40 violations in 268 points when raising anywhere).

The raise goes through the same path the runtime uses to deliver
`Goroutine.throw()`: an INSTRUCTION callback that asks
`_excsafe.is_exception_safe(frame, offset, entry_code)`.
"""

from __future__ import annotations

import sys
import threading

import pytest

from goroutines import _excsafe

mon = sys.monitoring
E = mon.events


class Injected(Exception):
    pass


class CM:
    def __init__(self, rec: list, name: str) -> None:
        self.rec, self.name = rec, name

    def __enter__(self):
        self.rec.append(("enter", self.name))
        return 1

    def __exit__(self, *exc):
        self.rec.append(("exit", self.name))
        return False


def helper(x):
    return x + 1


def f_with(rec):
    with CM(rec, "a") as x:
        y = x + 1
        with CM(rec, "b"):
            z = helper(y) * 2
        w = z
    return w


def f_finally(rec):
    rec.append(("enter", "try"))
    try:
        a = 1
        for _ in range(3):
            a = helper(a)
    finally:
        rec.append(("exit", "try"))
    return a


def f_finally_pure(rec):
    v = None
    rec.append(("enter", "pure"))
    try:
        v = helper(1)
    finally:
        v = None
        rec.append(("exit", "pure"))
    return v


def f_except(rec):
    with CM(rec, "c"):
        try:
            raise ValueError("inner")
        except ValueError:
            v = helper(1)
        for i in range(2):
            if i:
                v += 1
            else:
                v -= 1
    return v


def f_loop_with(rec):
    t = 0
    for i in range(3):
        with CM(rec, f"L{i}"):
            t = helper(t)
    return t


def f_while_break(rec):
    i = 0
    with CM(rec, "w"):
        while True:
            i += 1
            if i > 3:
                break
    return i


def f_nested(rec):
    total = 0
    rec.append(("enter", "outer"))
    try:
        for i in range(2):
            with CM(rec, f"n{i}"):
                rec.append(("enter", f"inner{i}"))
                try:
                    try:
                        total += helper(i)
                        if i:
                            raise KeyError(i)
                    except KeyError:
                        total -= 1
                finally:
                    rec.append(("exit", f"inner{i}"))
    finally:
        rec.append(("exit", "outer"))
    return total


def f_lock(rec):
    lock = threading.Lock()
    lock.acquire()
    rec.append(("enter", "lock"))
    try:
        n = sum(helper(i) for i in range(3))
    finally:
        rec.append(("exit", "lock"))
        lock.release()
    return n


def f_comprehension(rec):
    with CM(rec, "comp"):
        return [helper(i) for i in range(4) if i % 2 == 0]


FUNCS = [f_with, f_finally, f_finally_pure, f_except, f_loop_with, f_while_break,
         f_nested, f_lock, f_comprehension]
CALLEES = [helper, CM.__enter__, CM.__exit__]


def entry(fn, rec):
    return fn(rec)


class Fuzz:
    """Raise `Injected` at the k-th safe INSTRUCTION event."""

    def __init__(self) -> None:
        self.k = -1
        self.n_safe = 0
        self.n_points = 0
        self.fired = False
        self.where = ""

    def __call__(self, code, offset):
        frame = sys._getframe(1)
        self.n_points += 1
        if not _excsafe.is_exception_safe(frame, offset, entry.__code__):
            return None
        n = self.n_safe
        self.n_safe += 1
        if n == self.k:
            self.fired = True
            self.where = f"{code.co_name}@{offset} (caller {frame.f_back.f_code.co_name}@{frame.f_back.f_lasti})"
            raise Injected(f"{code.co_name}@{offset}")
        return None


def _balanced(rec) -> list[str]:
    depth: dict[str, int] = {}
    for kind, name in rec:
        depth[name] = depth.get(name, 0) + (1 if kind == "enter" else -1)
    return [f"{name}:{d}" for name, d in depth.items() if d != 0]


@pytest.fixture
def tool():
    tid = next(t for t in (3, 4, 2) if mon.get_tool(t) is None)
    mon.use_tool_id(tid, "excsafe-fuzz")
    yield tid
    mon.register_callback(tid, E.INSTRUCTION, None)
    mon.free_tool_id(tid)


def _run_once(tid: int, fn, fuzz: Fuzz):
    mon.register_callback(tid, E.INSTRUCTION, fuzz)
    codes = [fn.__code__] + [c.__code__ for c in CALLEES]
    for c in codes:
        mon.set_local_events(tid, c, E.INSTRUCTION)
    rec: list = []
    before = sys.exc_info()
    err = None
    try:
        entry(fn, rec)
    except Injected:
        pass
    except BaseException as e:  # any other exception is itself a violation
        err = repr(e)
    finally:
        for c in codes:
            mon.set_local_events(tid, c, 0)
    leak = sys.exc_info() != before
    return rec, err, leak


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_raise_at_every_safe_point(tool, fn):
    probe = Fuzz()
    _run_once(tool, fn, probe)
    safe_points = probe.n_safe
    assert safe_points >= 2, f"{fn.__name__}: only {safe_points} safe points of {probe.n_points}"
    violations = []
    for k in range(safe_points):
        fuzz = Fuzz()
        fuzz.k = k
        rec, err, leak = _run_once(tool, fn, fuzz)
        assert fuzz.fired, f"safe point {k} was not reached again"
        bad = _balanced(rec)
        if bad or err or leak:
            violations.append((fuzz.where, bad, err, leak))
    assert not violations, f"{fn.__name__}: {violations}"


def _safe_lines(fn) -> set[int]:
    import dis
    safe = _excsafe.safe_offsets(fn.__code__)
    return {i.positions.lineno for i in dis.get_instructions(fn) if i.offset in safe}


def test_cleanup_regions_are_unsafe():
    lines = _safe_lines(f_finally_pure)
    first = f_finally_pure.__code__.co_firstlineno
    assert first + 4 in lines  # the try body
    # the statement before `try:`, and the finally body on its normal path
    assert not lines & {first + 2, first + 3, first + 6, first + 7}


def hog_while(n):
    x = 0
    while x < n:
        x += 1
    return x


def hog_for(n):
    t = 0
    for i in range(n):
        t ^= i
    return t


def hog_recursive(n):
    return n if n < 2 else hog_recursive(n - 1) + hog_recursive(n - 2)


def hog_comprehension(n):
    return sum([i * i for i in range(n)])


@pytest.mark.parametrize("fn", [hog_while, hog_for, hog_recursive, hog_comprehension],
                         ids=lambda f: f.__name__)
def test_every_loop_body_has_a_safe_point(fn):
    # A throw must reach a computing goroutine: each hog's loop line holds a safe point.
    first = fn.__code__.co_firstlineno
    loop_lines = {hog_while: first + 3, hog_for: first + 3, hog_recursive: first + 1,
                  hog_comprehension: first + 1}
    assert loop_lines[fn] in _safe_lines(fn)


def _scn_throw_into_running(procs: int, trials: int, seed: int):
    """End to end: throw() into goroutines looping over FUNCS at random
    moments; every delivery must leave cleanup balanced and exc_info clean."""
    import random
    import time

    import goroutines as gr

    rnd = random.Random(seed)
    bad = []
    delivered = 0

    def victim(rec, out):
        try:
            while True:
                for fn in FUNCS:
                    fn(rec)
        except Injected:
            pass
        out.append(sys.exc_info()[0])  # outside the handler: must be None again

    def main():
        for _ in range(trials):
            rec, out = [], []
            g = gr.go(victim, rec, out)
            while not rec:
                gr.gosched()  # let it start: a throw before that skips its body
            end = time.perf_counter() + rnd.uniform(0, 0.003)
            while time.perf_counter() < end:
                pass
            g.throw(Injected("now"))
            g.join()
            trials_done.append((rec, out))

    trials_done = []
    gr.run(main, procs=procs, time_slice=0.001)
    # checked after run(): under preemptstress the check itself would crawl
    for rec, out in trials_done:
        delivered += len(out)
        problems = _balanced(rec) + [f"exc_info leaked: {e}" for e in out if e is not None]
        if problems:
            bad.append(problems)
    return {"bad": bad, "delivered": delivered}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("procs", [1, 2])
def test_throw_into_running_goroutines_never_skips_cleanup(procs):
    from _util import run_isolated

    r = run_isolated(_scn_throw_into_running, procs, 300, procs, timeout=100)
    assert r["bad"] == [], r["bad"][:5]
    assert r["delivered"] == 300
