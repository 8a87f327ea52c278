"""The preemption machinery of the seed commit, mechanism by mechanism:
preempt_gen acknowledgement, one injection in flight per M, the rate limit,
suspend_lock serialising injections and shutdown, "self-preempt", Ms not
started or gone, and the tracing-counter trap."""

from __future__ import annotations

import random
import sys
import threading
import time

import pytest

import goroutines as gr
from goroutines import _preempt, _sched
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(60)


def _scn_landings_are_acknowledged(on_thread):
    """Every injection is acknowledged: preempt_gen advances, nothing stays
    in flight, and each landing is counted once."""
    def main():
        def hog():
            spin(3_000_000)

        gs = [gr.go(hog) for _ in range(2)]
        for g in gs:
            g.join()
        ms = _sched.sched.ms
        return {"gens": [m.preempt_gen for m in ms],
                "pending": [m.signal_pending for m in ms], "stats": gr.stats()}

    def go():
        return gr.run(main, time_slice=0.002)

    if on_thread:
        from _util import in_thread
        return in_thread(go)
    return go()


@pytest.mark.parametrize("on_thread", [False, True], ids=["signal", "monitoring"])
def test_every_landing_is_acknowledged(on_thread):
    r = run_isolated(_scn_landings_are_acknowledged, on_thread)
    st = r["stats"]
    assert st["preemptions"] >= 5, r
    assert r["pending"] == [False], r
    # each preemption is a landing, and each landing bumps preempt_gen
    assert r["gens"][0] >= st["preemptions"], r


def test_self_preempt_is_an_error():
    def main():
        m = _sched.current_m()
        with pytest.raises(RuntimeError, match="self-preempt"):
            _preempt.preempt_m(m)
        return "ok"

    assert gr.run(main) == "ok"


def test_m_not_started_or_exiting_is_acknowledged_and_skipped():
    def main():
        m = _sched.M(99, _sched.sched.ps[0], threading.Lock())
        m.backend = _FailingBackend()
        before = m.preempt_gen
        _preempt.preempt_m(m)  # tid is None: never started
        assert m.preempt_gen == before + 1 and not m.signal_pending
        m.tid = threading.get_ident() + 1
        m.exiting = True
        _preempt.preempt_m(m)  # gone
        assert m.preempt_gen == before + 2 and not m.signal_pending
        return "ok"

    assert gr.run(main) == "ok"


class _FailingBackend:
    name = "test"

    def inject(self, m):
        raise AssertionError("must not inject")


class _CountingBackend:
    name = "test"

    def __init__(self):
        self.injected = 0

    def inject(self, m):
        self.injected += 1
        return True


def test_one_injection_in_flight_and_rate_limit():
    def main():
        m = _sched.M(98, _sched.sched.ps[0], threading.Lock())
        m.tid = threading.get_ident() + 1
        m.backend = backend = _CountingBackend()
        _preempt.preempt_m(m)
        _preempt.preempt_m(m)  # previous not acknowledged yet: nothing sent
        in_flight = backend.injected
        _preempt.acknowledge(m)
        m.next_preempt_m = time.perf_counter_ns() + 10**9  # an unsafe landing's back-off
        _preempt.preempt_m(m)
        limited = backend.injected
        m.next_preempt_m = 0
        _preempt.preempt_m(m)
        return in_flight, limited, backend.injected

    assert gr.run(main) == (1, 1, 2)


def test_suspend_lock_serialises_injections_and_shutdown():
    # While suspend_lock is held, no injection starts: preempt_m waits for it.
    def main():
        m = _sched.M(97, _sched.sched.ps[0], threading.Lock())
        m.tid = threading.get_ident() + 1
        m.backend = backend = _CountingBackend()
        done = threading.Event()
        with _preempt.suspend_lock:
            t = threading.Thread(target=lambda: (_preempt.preempt_m(m), done.set()))
            t.start()
            held = done.wait(0.1)
        t.join(5)
        return held, backend.injected

    assert gr.run(main) == (False, 1)


def _scn_exit_race(procs, runs, seed):
    """Many run() calls returning while 1 ms-slice hogs are being preempted
    (and throw()s in flight): each returns promptly and cleans up."""
    rnd = random.Random(seed)
    cleanups = []
    started = []
    durations = []

    def hog(i):
        started.append(i)
        try:
            x = 0
            while True:
                x += i
        finally:
            cleanups.append(i)

    def main(k):
        gs = [gr.go(hog, i) for i in range(3)]
        end = time.perf_counter() + rnd.uniform(0.002, 0.02)
        while time.perf_counter() < end:
            pass
        if k % 3 == 0:
            gs[0].throw(KeyError(k))
        return k

    for k in range(runs):
        t = time.perf_counter()
        assert gr.run(main, k, procs=procs, time_slice=0.001) == k
        durations.append(time.perf_counter() - t)
        assert gr.stats()["goroutines_alive"] == 0
    return {"cleanups": len(cleanups), "started": len(started), "max_duration": max(durations)}


@pytest.mark.parametrize("procs", [1, 2])
def test_exit_race(procs):
    r = run_isolated(_scn_exit_race, procs, 40, procs, timeout=90)
    # a hog that never got to start is stopped before its first line
    assert r["cleanups"] == r["started"] >= 40, r
    assert r["max_duration"] < 2.0, r


def test_tracing_keeps_working_across_preemptions():
    # The tracing-counter trap: without Leave/EnterTracing around the switch,
    # a goroutine preempted from a callback would leave its thread unable to
    # fire any trace or monitoring event.  settrace must still see lines.
    def main():
        lines = []

        def tracer(frame, event, arg):
            if event == "line" and frame.f_code.co_name == "traced":
                lines.append(frame.f_lineno)
            return tracer

        def traced():
            total = 0
            for i in range(3):
                total += i
            return total

        def hog():
            spin(2_000_000)

        gs = [gr.go(hog) for _ in range(2)]
        for g in gs:
            g.join()
        assert gr.stats()["preemptions"] >= 2
        sys.settrace(tracer)
        try:
            traced()
        finally:
            sys.settrace(None)
        return len(lines)

    assert gr.run(main, time_slice=0.002) >= 4


def test_throw_reaches_a_goroutine_computing_on_another_m():
    def main():
        state = {"n": 0, "clean": False}

        def hog():
            try:
                while True:
                    state["n"] += 1
            finally:
                state["clean"] = True

        g = gr.go(hog)
        deadline = time.perf_counter() + 5
        while state["n"] == 0 and time.perf_counter() < deadline:
            pass  # keep this M: the other M steals the hog
        assert g.m is not _sched.current_m()
        t = time.perf_counter()
        g.throw(KeyError("stop"))
        with pytest.raises(KeyError):
            g.join()
        return state["clean"], time.perf_counter() - t

    clean, took = gr.run(main, procs=2)
    assert clean and took < 1.0


def test_wait_until_helper_fails_at_deadline():
    # the polling helper used by these tests reports a timeout, not a hang
    def main():
        with pytest.raises(AssertionError, match="never"):
            wait_until(lambda: False, timeout=0.05, what="never")
        return "ok"

    assert gr.run(main) == "ok"
