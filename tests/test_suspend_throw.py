"""suspend(g)/resume (Go's suspendG/resumeG) and Goroutine.throw() on
running, runnable, parked and dead goroutines, with both backends."""

from __future__ import annotations

import time

import pytest

import goroutines as gr
from _util import in_thread, run_isolated, wait_until

pytestmark = pytest.mark.timeout(60)


class Boom(Exception):
    pass


def counting_hog(state):
    """Counts forever in a call-free loop; records its cleanup."""
    try:
        with open("/dev/null"):
            while True:
                state["n"] += 1
    finally:
        state["cleanup"] = state.get("cleanup", 0) + 1


def _scn_suspend_running(procs, on_thread):
    """Suspend a hog that is running on another M (procs=2) or runnable
    behind the caller (procs=1): it makes no progress until resumed."""
    def main():
        state = {"n": 0}
        g = gr.go(counting_hog, state)
        wait_until(lambda: state["n"] > 1000, what="hog to start")
        s = gr.suspend(g, timeout=10)
        frozen_status = g.status
        n1 = state["n"]
        gr.sleep(0.05)
        n2 = state["n"]
        names = [f.name for f in s.frames]
        s.resume()
        wait_until(lambda: state["n"] > n2 + 1000, what="hog to resume")
        g.throw(Boom("stop"))
        try:
            g.join()
            raised = None
        except Boom as e:
            raised = str(e)
        return {"frozen": n2 - n1, "names": names, "dead": s.dead, "status": frozen_status,
                "raised": raised, "cleanup": state.get("cleanup"), "stats": gr.stats()}

    def go():
        return gr.run(main, procs=procs, time_slice=0.005)

    return in_thread(go) if on_thread else go()


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("on_thread", [False, True], ids=["main-thread", "other-thread"])
def test_suspend_stops_a_computing_goroutine(procs, on_thread):
    r = run_isolated(_scn_suspend_running, procs, on_thread)
    assert r["frozen"] == 0, r
    assert r["dead"] is False
    assert "counting_hog" in r["names"], r
    assert r["status"] in ("waiting", "runnable"), r
    assert r["raised"] == "stop" and r["cleanup"] == 1, r


def test_suspend_parked_goroutine_stays_parked():
    def main():
        ch = gr.Chan()
        got = []
        g = gr.go(lambda: got.append(ch.recv()))
        wait_until(lambda: g.status == "waiting", what="receiver to park")
        with gr.suspend(g) as s:
            names = [f.name for f in s.frames]
            ch_sent = gr.go(ch.send, 42)  # completes the receive, but g stays held
            wait_until(lambda: ch_sent.status == "dead", what="sender to finish")
            gr.sleep(0.02)
            held = (list(got), g.status)
        g.join()
        return names, held, got

    names, held, got = gr.run(main)
    assert "<lambda>" in names
    assert held == ([], "waiting")
    assert got == [42]


def test_suspend_dead_and_self():
    def main():
        g = gr.go(lambda: 1)
        g.join()
        s = gr.suspend(g)
        with pytest.raises(RuntimeError, match="calling goroutine"):
            gr.suspend(gr.current())
        with pytest.raises(TypeError):
            gr.suspend("not a goroutine")
        s.resume()  # harmless
        return s.dead

    assert gr.run(main) is True


def test_suspend_timeout_when_no_safe_point():
    def main():
        state = {"n": 0}

        def stubborn():
            with gr.nopreempt():
                end = time.perf_counter() + 0.5
                while time.perf_counter() < end:
                    state["n"] += 1

        deadline = time.perf_counter() + 5
        with gr.nopreempt():  # keep this M so that the other M steals `stubborn`
            g = gr.go(stubborn)
            while state["n"] == 0 and time.perf_counter() < deadline:
                pass
        with pytest.raises(TimeoutError, match=f"goroutine {g.id}"):
            gr.suspend(g, timeout=0.05)
        g.join()
        return "ok"

    assert gr.run(main, procs=2) == "ok"


def test_throw_into_parked_goroutine_raises_from_the_blocking_call():
    def main():
        ch = gr.Chan()
        log = []

        def receiver():
            try:
                ch.recv()
            except KeyError as e:
                log.append(("caught", e.args[0]))
                raise

        g = gr.go(receiver)
        wait_until(lambda: g.status == "waiting", what="receiver to park")
        g.throw(KeyError("k"))
        with pytest.raises(KeyError):
            g.join()
        # the channel is intact: a new receiver gets the next value
        g2 = gr.go(ch.recv)
        ch.send("v")
        return log, g2.join()

    log, v = gr.run(main)
    assert log == [("caught", "k")] and v == "v"


def test_throw_accepts_a_class_rejects_junk_and_ignores_the_dead():
    def main():
        ch = gr.Chan()
        g = gr.go(ch.recv)
        wait_until(lambda: g.status == "waiting", what="receiver to park")
        with pytest.raises(TypeError):
            g.throw(42)
        g.throw(Boom)
        with pytest.raises(Boom):
            g.join()
        g.throw(Boom("again"))  # dead: nothing happens
        with pytest.raises(Boom):
            gr.current().throw(Boom("self"))
        return "ok"

    assert gr.run(main) == "ok"


def test_throw_into_runnable_goroutine_before_it_starts():
    def main():
        ran = []
        with gr.nopreempt():  # no chance for g to start in between
            g = gr.go(ran.append, 1)
            g.throw(Boom("early"))
        with pytest.raises(Boom, match="early"):
            g.join()
        return ran

    assert gr.run(main) == []


def test_throw_delivered_inside_nopreempt_only_after_it():
    def main():
        log = []

        def worker(ch):
            with gr.nopreempt():
                ch.recv()          # woken by throw: keeps waiting
                log.append("got value")
            log.append("not reached")

        ch = gr.Chan()
        g = gr.go(worker, ch)
        wait_until(lambda: g.status == "waiting", what="worker to park")
        g.throw(Boom)
        gr.sleep(0.01)
        ch.send(1)
        with pytest.raises(Boom):
            g.join()
        return log

    assert gr.run(main) == ["got value"]


def test_value_received_in_nopreempt_survives_a_simultaneous_throw():
    # A receiver that was both sent a value and thrown into gets the value
    # (the channel drops nothing); inside nopreempt() it also gets to store
    # it before the exception is raised, at the end of the region.
    def main():
        ch = gr.Chan()
        out = []

        def receiver():
            with gr.nopreempt():
                out.append(ch.recv())
            out.append("not reached")

        g = gr.go(receiver)
        wait_until(lambda: g.status == "waiting", what="receiver to park")
        with gr.nopreempt():
            ch.send("value")  # completes the receive and readies g ...
            g.throw(Boom)     # ... which is then also thrown into
        with pytest.raises(Boom):
            g.join()
        return out

    assert gr.run(main) == ["value"]
