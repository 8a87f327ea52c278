"""Ports of Go runtime tests (reference/go-preemption-spec.md §5), procs=1.

Each scenario's failure mode is a hang, so each runs in its own interpreter.
TestPingPongHog (a fairness-ratio bound) is deliberately not ported.
"""
import time

import pytest

import goroutines as gr
from _util import run_isolated

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- TestYieldProgress

def _scn_yield_progress(async_preempt):
    def main():
        c = gr.Chan(1)
        cack = gr.Chan()

        def g():
            while True:
                if len(c):            # select { case <-c: ...; default: Gosched() }
                    c.recv()
                    cack.send(True)
                    return
                gr.gosched()

        gr.go(g)
        gr.sleep(0.01)
        c.send(True)
        cack.recv()
        return "OK"

    t0 = time.monotonic()
    r = gr.run(main, procs=1, async_preempt=async_preempt)
    return {"result": r, "secs": time.monotonic() - t0}


@pytest.mark.parametrize("async_preempt", [None, False])
def test_yield_progress(async_preempt):
    r = run_isolated(_scn_yield_progress, async_preempt)
    assert r["result"] == "OK"
    assert r["secs"] < 5, r


# ---------------------------------------------------------------- TestPreemption

def _preempt():
    # Go: a non-inlined function summing a [128]int (it has a frame).
    a = [0] * 128
    s = 0
    for v in a:
        s += v
    return s


def _scn_preemption(n=5):
    x = [0]

    def worker(g, c):
        for _ in range(n):
            while x[0] != g:
                _preempt()
            x[0] = 1 - g
        c.send(True)

    def main():
        c = gr.Chan()
        gr.go(worker, 0, c)
        gr.go(worker, 1, c)
        c.recv()
        c.recv()
        return "OK"

    t0 = time.monotonic()
    r = gr.run(main, procs=1)
    return {"result": r, "secs": time.monotonic() - t0, "stats": gr.stats()}


def test_preemption():
    r = run_isolated(_scn_preemption)
    assert r["result"] == "OK"
    assert r["secs"] < 10, r
    # every hand-off needs the spinning worker to be preempted asynchronously
    assert r["stats"]["preemptions"] >= 5, r["stats"]


# ---------------------------------------------------------------- TestAsyncPreempt

def _scn_async_preempt():
    import gc

    st = {"ready": 0, "ready2": 0}

    def g1():
        while True:                   # call-free loop
            st["ready"] = 1

    def g2():
        st["ready2"] += 1
        out = 0
        for i in range(1 << 62):      # Go's frameless(): no calls in the loop
            out += i * i * i * i * i * 12345
        return out

    def g3():
        st["ready2"] += 1
        while True:
            pass

    def main():
        gr.go(g1)
        gr.go(g2)
        gr.go(g3)
        while st["ready"] == 0 or st["ready2"] < 2:
            gr.gosched()
        gc.collect()
        return "OK"

    t0 = time.monotonic()
    r = gr.run(main, procs=1)
    return {"result": r, "secs": time.monotonic() - t0, "stats": gr.stats()}


def test_async_preempt():
    r = run_isolated(_scn_async_preempt)
    assert r["result"] == "OK"
    assert r["secs"] < 10, r
    assert r["stats"]["preemptions"] >= 3, r["stats"]


# ---------------------------------------------------------------- TestGCFairness

def _scn_gc_fairness():
    import os

    fd = os.open(os.devnull, os.O_WRONLY)

    def writer():
        while True:
            os.write(fd, b".")

    def main():
        gr.go(writer)
        gr.go(writer)
        gr.sleep(0.01)
        return "OK"

    t0 = time.monotonic()
    try:
        r = gr.run(main, procs=1)
    finally:
        os.close(fd)
    return {"result": r, "secs": time.monotonic() - t0}


def test_gc_fairness():
    r = run_isolated(_scn_gc_fairness)
    assert r["result"] == "OK"
    assert r["secs"] < 5, r
