"""Scheduler behaviour: greenlet reuse (Go's gfree list), the 1-in-61
global-queue check, runnext ordering, and a clean shutdown."""

from __future__ import annotations

import threading

import pytest

import goroutines as gr
from goroutines import _sched
from goroutines._debug import Debug
from goroutines._g import G
from _util import run_isolated

pytestmark = pytest.mark.timeout(60)


def test_finished_goroutines_greenlets_are_reused():
    def main():
        for _ in range(2000):
            gr.go(lambda: None).join()
        return gr.stats()

    st = gr.run(main)
    assert st["goroutines_created"] == 2001
    assert st["greenlets_created"] <= 3, st


def test_global_queue_is_checked_every_61_schedticks():
    # Go's findRunnable: a G on the global queue runs at schedtick % 61 == 0
    # even while the local queue always has work.
    s = _sched.Sched(1, 10_000_000, False, Debug())
    p = s.ps[0]
    m = _sched.M(0, p, s.lock)
    local = [G(i, print, (), {}) for i in range(1, 5)]
    for g in local:
        p.runq.put(g, False, s.runq)
    starved = G(100, print, (), {})
    s.runq.put(starved)
    picked = []
    for tick in range(1, 62):
        p.schedtick = tick
        g, _ = _sched._pick(s, m, p)
        picked.append(g.id)
        if g is not starved:
            p.runq.put(g, False, s.runq)  # it yields: back to the tail
    assert picked.index(100) == 60  # schedtick 61 % 61 == 0


def test_readied_goroutine_runs_ahead_of_runnable_ones():
    def main():
        order = []
        ch = gr.Chan()

        def waiter():
            ch.recv()
            order.append("readied")

        def plain(i):
            order.append(i)

        w = gr.go(waiter)
        gr.gosched()  # waiter parks on ch
        gs = [gr.go(plain, i) for i in range(3)]  # each new one is runnext
        ch.send(None)  # readies waiter into runnext: 2 goes to the tail
        for g in [w] + gs:
            g.join()
        return order

    assert gr.run(main) == ["readied", 0, 1, 2]


def _scn_clean_shutdown(procs):
    before = threading.active_count()
    for _ in range(3):
        gr.run(lambda: [gr.go(gr.sleep, 10) for _ in range(5)] and None, procs=procs)
        assert threading.active_count() == before, threading.enumerate()
        assert gr.stats()["goroutines_alive"] == 0
    return threading.active_count() - before


@pytest.mark.parametrize("procs", [1, 3])
def test_run_joins_every_thread_and_can_run_again(procs):
    assert run_isolated(_scn_clean_shutdown, procs) == 0
