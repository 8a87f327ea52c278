"""Ports of Go runtime tests (reference/go-preemption-spec.md §5; proc_test.go), procs=1.

Each scenario's failure mode is a hang, so each runs in its own interpreter.
"""
import os
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
                if gr.select(gr.Recv(c), default=True).index == 0:
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


# ---------------------------------------------------------------- TestPingPongHog

def _scn_ping_pong_hog(hog_limit, light_limit, seconds):
    def main():
        done = gr.Chan()
        hog_chan, light_chan = gr.Chan(), gr.Chan()
        counts = {"hog": 0, "light": 0}

        def run(limit, key, wake):
            while True:
                r = gr.select(gr.Recv(done), gr.Recv(wake))
                if r.index == 0:
                    return
                n = counts[key]
                for _ in range(limit):
                    n += 1
                counts[key] = n
                wake.send(True)

        for _ in range(2):  # two co-scheduled hogs
            gr.go(run, hog_limit, "hog", hog_chan)
        for _ in range(2):  # two co-scheduled light goroutines
            gr.go(run, light_limit, "light", light_chan)
        hog_chan.send(True)
        light_chan.send(True)
        gr.sleep(seconds)
        done.close()
        hog_chan.recv()
        light_chan.recv()
        return counts

    return gr.run(main, procs=1)


def test_ping_pong_hog():
    """Go: hog and light pairs get CPU within a factor of 20 of each other
    (each light round trip inherits the time slice; hogs are preempted)."""
    c = run_isolated(_scn_ping_pong_hog, 1_000_000, 1_000, 0.5)  # Go's limits
    hog, light = c["hog"], c["light"]
    assert light > 0 and hog > 0, c
    assert hog / light <= 20 and light / hog <= 20, c


# ---------------------------------------------------------------- TestTimerFairness

def _scn_timer_fairness():
    def main():
        done, c = gr.Chan(), gr.Chan()

        def sender():
            while True:
                if gr.select(gr.Send(c, True), gr.Recv(done)).index == 1:
                    return

        for _ in range(2):
            gr.go(sender)
        timer = gr.after(0.02)
        n = 0
        while True:
            if gr.select(gr.Recv(c), gr.Recv(timer)).index == 1:
                done.close()
                return n
            n += 1

    t0 = time.monotonic()
    n = gr.run(main, procs=1)
    return {"received": n, "secs": time.monotonic() - t0}


def test_timer_fairness():
    """Go: the timer case is chosen although the other case is always ready."""
    r = run_isolated(_scn_timer_fairness)
    assert r["received"] > 0 and r["secs"] < 5, r


def _scn_timer_fairness2():
    def main():
        done, c = gr.Chan(), gr.Chan()

        def g():
            timer = gr.after(0.02)
            while True:
                os.stat(".")  # Go: syscall.Read(0, buf[0:0])
                r = gr.select(gr.Send(c, True), gr.Recv(c), gr.Recv(timer))
                if r.index == 2:
                    done.send(True)
                    return

        for _ in range(2):
            gr.go(g)
        done.recv()
        done.recv()
        return "OK"

    t0 = time.monotonic()
    r = gr.run(main, procs=1)
    return {"result": r, "secs": time.monotonic() - t0}


def test_timer_fairness2():
    r = run_isolated(_scn_timer_fairness2)
    assert r["result"] == "OK" and r["secs"] < 5, r
