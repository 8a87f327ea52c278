"""Thread locks made during run() count in their M's `locks` while held, so
a goroutine holding one is never preempted asynchronously (Go's m.locks):
otherwise a second goroutine of the same thread would deadlock the thread
(Lock) or enter the critical section too (RLock)."""

from __future__ import annotations

import threading
import time

import pytest

import goroutines as gr
from _util import in_thread, run_isolated, spin

pytestmark = pytest.mark.timeout(60)


def _scn_lock_held_across_slices(kind, on_thread):
    log = []

    def main():
        lock = threading.Lock() if kind == "Lock" else threading.RLock()

        def worker(name):
            for _ in range(5):
                with lock:
                    log.append(("in", name))
                    spin(60_000)  # several 1 ms slices inside the critical section
                    log.append(("out", name))
                spin(20_000)

        gs = [gr.go(worker, n) for n in "abcd"]
        for g in gs:
            g.join()
        st = gr.stats()
        return {"log": log, "preemptions": st["preemptions"], "unsafe": st["preempt_unsafe"]}

    def go():
        return gr.run(main, time_slice=0.001)

    return in_thread(go) if on_thread else go()


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
@pytest.mark.parametrize("on_thread", [False, True], ids=["main-thread", "other-thread"])
def test_goroutine_holding_a_thread_lock_is_not_preempted(kind, on_thread):
    r = run_isolated(_scn_lock_held_across_slices, kind, on_thread, timeout=40)
    log = [tuple(x) for x in r["log"]]
    assert len(log) == 40
    # the critical sections never interleave
    for i in range(0, len(log), 2):
        assert log[i][0] == "in" and log[i + 1] == ("out", log[i][1]), log
    assert r["unsafe"] >= 1, r      # requests landed inside and were deferred
    assert r["preemptions"] >= 1, r  # ... and honoured outside


def test_condition_over_counted_rlock_works():
    def main():
        cond = threading.Condition()
        items = []

        def producer():
            for i in range(3):
                with cond:
                    items.append(i)
                    cond.notify()

        g = gr.go(producer)
        g.join()
        with cond:
            got = cond.wait_for(lambda: len(items) == 3, timeout=1)
        return got, items

    assert gr.run(main) == (True, [0, 1, 2])


def test_lock_factories_are_restored_after_run():
    before = (threading.Lock, threading.RLock)
    inside = gr.run(lambda: (threading.Lock, threading.RLock))
    assert inside != before
    assert (threading.Lock, threading.RLock) == before


def test_counting_lock_behaves_like_a_lock():
    def main():
        lock = threading.Lock()
        assert lock.acquire() and lock.locked()
        assert not lock.acquire(blocking=False)
        t0 = time.perf_counter()
        assert not lock.acquire(timeout=0.01) and time.perf_counter() - t0 >= 0.009
        lock.release()
        with pytest.raises(RuntimeError):
            lock.release()
        return "ok"

    assert gr.run(main) == "ok"
