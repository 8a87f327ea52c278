"""gr.WaitGroup and gr.Mutex."""
import pytest

import goroutines as gr
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- WaitGroup

def test_waitgroup_wait_with_zero_counter_returns():
    def main():
        wg = gr.WaitGroup()
        wg.wait()
        wg.add(2)
        wg.done()
        wg.done()
        wg.wait()
        return "ok"

    assert gr.run(main) == "ok"


@pytest.mark.parametrize("procs", [1, 2])
def test_waitgroup_wait_blocks_until_all_done(procs):
    def worker(i, res, wg):
        spin(2000 * (i + 1))
        gr.gosched()
        res.append(i)
        wg.done()

    def main():
        wg = gr.WaitGroup()
        res = []
        wg.add(3)      # explicit n
        wg.add()       # default n=1
        wg.add(1)
        for i in range(5):
            gr.go(worker, i, res, wg)
        wg.wait()
        return sorted(res)

    assert gr.run(main, procs=procs) == list(range(5))


def test_waitgroup_releases_every_waiter():
    def main():
        wg = gr.WaitGroup()
        wg.add(1)
        waiters = [gr.go(lambda i=i: (wg.wait(), i)[1]) for i in range(4)]
        wait_until(lambda: all(g.status == "waiting" for g in waiters), what="waiters to block")
        wg.done()
        return [g.join() for g in waiters]

    assert gr.run(main) == [0, 1, 2, 3]


def test_waitgroup_negative_counter_raises():
    def attempt(fn):
        try:
            fn()
        except ValueError as e:
            return "negative WaitGroup counter" in str(e)
        return "no error"

    def main():
        wg1 = gr.WaitGroup()
        wg2 = gr.WaitGroup()
        wg3 = gr.WaitGroup()
        wg3.add(1)
        return [attempt(wg1.done), attempt(lambda: wg2.add(-1)), attempt(lambda: wg3.add(-2))]

    assert gr.run(main) == [True, True, True]


# ---------------------------------------------------------------- Mutex

def test_mutex_lock_unlock_and_context_manager():
    def main():
        mu = gr.Mutex()
        mu.lock()
        mu.unlock()
        with mu:
            pass
        try:
            with mu:
                raise KeyError("inside")
        except KeyError:
            pass
        mu.lock()          # would deadlock if the with-block had not released it
        mu.unlock()
        return "ok"

    assert gr.run(main) == "ok"


def test_unlock_of_unlocked_mutex_raises():
    def main():
        mu = gr.Mutex()
        out = []
        for _ in range(2):
            try:
                mu.unlock()
                out.append("no error")
            except RuntimeError as e:
                out.append("unlock of unlocked mutex" in str(e))
            mu.lock()
            mu.unlock()
        return out

    assert gr.run(main) == [True, True]


@pytest.mark.parametrize("procs", [1, 2])
def test_mutex_blocks_second_locker(procs):
    log = []

    def main():
        mu = gr.Mutex()
        mu.lock()

        def other():
            with mu:
                log.append("other locked")

        g = gr.go(other)
        wait_until(lambda: g.status == "waiting", what="second locker to block")
        before = list(log)
        mu.unlock()
        g.join()
        return before, list(log)

    assert gr.run(main, procs=procs) == ([], ["other locked"])


def _scn_mutex_counter(procs, workers=8, iters=300):
    state = {"counter": 0, "inside": 0, "max_inside": 0}

    def worker(mu, wg):
        for _ in range(iters):
            with mu:
                state["inside"] += 1
                state["max_inside"] = max(state["max_inside"], state["inside"])
                v = state["counter"]
                spin(300)             # hog inside the critical section
                state["counter"] = v + 1
                state["inside"] -= 1
            spin(50)
        wg.done()

    def main():
        mu = gr.Mutex()
        wg = gr.WaitGroup()
        wg.add(workers)
        for _ in range(workers):
            gr.go(worker, mu, wg)
        wg.wait()
        return state["counter"]

    counter = gr.run(main, procs=procs, time_slice=0.001,
                     wakeup_granularity=None)  # slice ends: preempted asynchronously
    return {"counter": counter, "expected": workers * iters,
            "max_inside": state["max_inside"], "stats": gr.stats()}


@pytest.mark.parametrize("procs", [1, 2])
def test_mutex_counter_exact_under_preemption(procs):
    r = run_isolated(_scn_mutex_counter, procs, timeout=40)
    assert r["counter"] == r["expected"], r
    assert r["max_inside"] == 1, r
    # the test is only meaningful if goroutines were really preempted
    assert r["stats"]["preemptions"] > 0, r["stats"]
