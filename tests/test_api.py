"""Public API contract (DESIGN.md §4): run, go, Goroutine, current, num_goroutine,
gomaxprocs, sleep, GoroutineExit, stats, dump, Deadlock."""
import json
import re
import sys
import time

import pytest

import goroutines as gr
from _util import exc_info, run_isolated, spin, spin_for, wait_until

pytestmark = pytest.mark.timeout(60)

STATUSES = {"runnable", "running", "waiting", "syscall", "preempted", "dead"}


def _has_note(exc, gid):
    pat = re.compile(rf"\bgoroutine {gid}\b")
    return any(pat.search(str(n)) for n in getattr(exc, "__notes__", ()))


# --------------------------------------------------------------------------- run()

def test_run_returns_main_result_and_passes_args():
    assert gr.run(lambda a, b: a * b, 6, 7) == 42
    assert gr.run(lambda: None) is None


def test_run_reraises_exception_from_main_with_note():
    class Boom(Exception):
        pass

    def main():
        raise Boom("from main")

    with pytest.raises(Boom, match="from main") as ei:
        gr.run(main)
    assert _has_note(ei.value, 1), getattr(ei.value, "__notes__", None)


def test_run_reraises_goroutine_exception_with_note():
    ids = []

    def bad():
        ids.append(gr.current().id)
        raise KeyError("from goroutine")

    def main():
        ids.append(gr.go(bad).id)
        # Not synchronisation: main just waits to be stopped by bad's exception.
        for _ in range(2000):
            gr.sleep(0.005)
        return "runtime was not stopped"

    with pytest.raises(KeyError, match="from goroutine") as ei:
        gr.run(main)
    assert len(ids) == 2 and ids[0] == ids[1] != 1, ids
    assert _has_note(ei.value, ids[0]), getattr(ei.value, "__notes__", None)


def test_run_inside_run_raises_runtime_error():
    def main():
        try:
            gr.run(lambda: "nested ran")
        except RuntimeError:
            return "RuntimeError"
        return "no error"

    assert gr.run(main) == "RuntimeError"


def test_run_is_callable_again():
    def main(n):
        gs = [gr.go(lambda i=i: i * i) for i in range(n)]
        return sum(g.join() for g in gs)

    for n in (3, 5, 7):
        assert gr.run(main, n) == sum(i * i for i in range(n))
    with pytest.raises(ZeroDivisionError):
        gr.run(lambda: 1 / 0)
    assert gr.run(main, 4, procs=2) == 14


@pytest.mark.parametrize("kwargs, exc", [
    ({"procs": 0}, ValueError),
    ({"procs": -2}, ValueError),
    ({"procs": 1.5}, TypeError),
    ({"procs": "2"}, TypeError),
    ({"time_slice": 0}, ValueError),
    ({"time_slice": -0.01}, ValueError),
])
def test_run_rejects_bad_arguments(kwargs, exc):
    called = []
    with pytest.raises(exc):
        gr.run(lambda: called.append(1), **kwargs)
    assert called == []
    assert gr.run(lambda: "still usable") == "still usable"


def test_run_rejects_non_callable_main():
    with pytest.raises(TypeError):
        gr.run(42)
    assert gr.run(lambda: "still usable") == "still usable"


# ---------------------------------------------------------------- Deadlock

def _scn_deadlock():
    def chan_recv():
        gr.Chan().recv()

    def waitgroup_and_senders():
        wg = gr.WaitGroup()
        wg.add(1)
        ch = gr.Chan()
        gr.go(ch.send, 1)
        gr.go(ch.send, 2)
        wg.wait()

    def mutex_twice():
        mu = gr.Mutex()
        mu.lock()
        mu.lock()

    def full_buffer():
        ch = gr.Chan(1)
        ch.send(1)
        ch.send(2)

    out = {}
    for name, fn, procs in [("recv", chan_recv, 1), ("wg", waitgroup_and_senders, 1),
                            ("wg_procs2", waitgroup_and_senders, 2),
                            ("mutex", mutex_twice, 1), ("full", full_buffer, 2)]:
        t0 = time.monotonic()
        try:
            out[name] = {"returned": gr.run(fn, procs=procs)}
        except gr.Deadlock as e:
            out[name] = exc_info(e)
        out[name]["secs"] = time.monotonic() - t0

    # A sleeping goroutine that will send is not a deadlock.
    def sleeper_sends():
        ch = gr.Chan()
        gr.go(lambda: (gr.sleep(0.05), ch.send("woke")))
        return ch.recv()

    out["sleeper"] = gr.run(sleeper_sends)
    out["again"] = gr.run(lambda: "again")
    return out


def test_deadlock_detected_and_run_usable_again():
    out = run_isolated(_scn_deadlock)
    for name in ("recv", "wg", "wg_procs2", "mutex", "full"):
        r = out[name]
        assert r.get("type") == "Deadlock", (name, r)
        assert "all goroutines are asleep" in r["msg"], (name, r)
        assert r["secs"] < 10, (name, r)
    assert out["sleeper"] == "woke"
    assert out["again"] == "again"


# ---------------------------------------------------------------- go() / Goroutine

def test_go_outside_run_raises_runtime_error():
    with pytest.raises(RuntimeError):
        gr.go(lambda: None)
    gr.run(lambda: None)
    with pytest.raises(RuntimeError):
        gr.go(lambda: None)


def test_go_rejects_non_callable():
    def main():
        try:
            gr.go(42)
        except TypeError:
            return "TypeError"
        return "no error"

    assert gr.run(main) == "TypeError"


def test_go_passes_args_and_kwargs_and_join_returns_value():
    def f(a, b, *, c):
        return (a, b, c)

    def main():
        g = gr.go(f, 1, 2, c=3)
        first = g.join()
        return first, g.join()   # joining a dead goroutine again gives the same value

    assert gr.run(main) == ((1, 2, 3), (1, 2, 3))


def test_join_raises_the_goroutine_exception():
    returned = []

    def bad():
        raise ValueError("died")

    def main():
        returned.append(gr.go(bad).join())

    with pytest.raises(ValueError, match="died"):
        gr.run(main)
    assert returned == []


def test_goroutine_ids():
    def main():
        me = gr.current().id
        gs = [gr.go(lambda: gr.current().id) for _ in range(5)]
        return me, [g.id for g in gs], [g.join() for g in gs]

    me, ids, seen = gr.run(main)
    assert me == 1
    assert all(type(i) is int for i in ids)
    assert len(set(ids)) == 5 and 1 not in ids
    assert seen == ids


def test_status_transitions():
    def main():
        seen = {"main": gr.current().status}
        ch = gr.Chan()
        g = gr.go(ch.recv)
        seen["new"] = g.status            # procs=1, main running: g has not started
        wait_until(lambda: g.status == "waiting", what="receiver to block")
        ch.send(5)
        seen["value"] = g.join()
        seen["after"] = g.status
        return seen

    assert gr.run(main, procs=1, time_slice=1.0) == {
        "main": "running", "new": "runnable", "value": 5, "after": "dead"}


def _scn_spinner_status():
    def main():
        stop = []
        started = []

        def spinner():
            started.append(1)
            while not stop:
                spin(100)

        g = gr.go(spinner)
        wait_until(lambda: started, what="spinner to start")
        statuses = set()
        for _ in range(20):
            statuses.add(g.status)
            gr.gosched()
        stop.append(1)
        g.join()
        return sorted(statuses)

    return gr.run(main, procs=1, time_slice=0.001)


def test_status_of_spinner_seen_from_other_goroutine():
    # procs=1: while main looks, the spinner is not running on any M.
    statuses = run_isolated(_scn_spinner_status)
    assert statuses and set(statuses) <= {"runnable", "preempted"}, statuses


def test_current_outside_run_raises_runtime_error():
    with pytest.raises(RuntimeError):
        gr.current()


def test_num_goroutine():
    def main():
        counts = [gr.num_goroutine()]
        ch = gr.Chan()
        gs = [gr.go(ch.recv) for _ in range(3)]
        counts.append(gr.num_goroutine())
        for i in range(3):
            ch.send(i)
        for g in gs:
            g.join()
        counts.append(gr.num_goroutine())
        return counts

    assert gr.run(main) == [1, 4, 1]
    assert gr.run(main, procs=2) == [1, 4, 1]


def test_gomaxprocs_returns_previous_value():
    def main():
        vals = [gr.gomaxprocs(), gr.gomaxprocs(1), gr.gomaxprocs(), gr.gomaxprocs(2)]
        for bad in (0, -1):
            try:
                gr.gomaxprocs(bad)
                vals.append("no error")
            except ValueError:
                vals.append("ValueError")
        vals.append(gr.gomaxprocs())
        return vals

    assert gr.run(main, procs=2) == [2, 2, 1, 1, "ValueError", "ValueError", 2]


def test_gomaxprocs_shrink_keeps_goroutines_running():
    def main():
        wg = gr.WaitGroup()
        res = []

        def work(i):
            spin(2000)
            gr.gosched()
            res.append(i)
            wg.done()

        wg.add(8)
        for i in range(8):
            gr.go(work, i)
        gr.gomaxprocs(1)
        wg.wait()
        return sorted(res)

    assert gr.run(main, procs=2) == list(range(8))


@pytest.mark.skipif(not getattr(sys, "_is_gil_enabled", lambda: True)(),
                    reason="default is cpu_count on free-threaded builds")
def test_default_gomaxprocs_is_one_on_gil_builds():
    assert gr.run(gr.gomaxprocs) == 1


# ---------------------------------------------------------------- sleep()

def test_sleep_non_positive_returns_at_once():
    def main():
        t0 = time.monotonic()
        for d in (0, 0.0, -1, -0.5, -10**9):
            gr.sleep(d)
        return time.monotonic() - t0

    assert gr.run(main) < 0.5


def test_sleep_rejects_non_numbers():
    def main():
        out = []
        for bad in ("1", None, [0.1]):
            try:
                gr.sleep(bad)
                out.append("no error")
            except TypeError:
                out.append("TypeError")
        return out

    assert gr.run(main) == ["TypeError"] * 3


def test_sleep_duration_and_concurrency():
    def main():
        t0 = time.monotonic()
        gr.sleep(0.05)
        single = time.monotonic() - t0
        t0 = time.monotonic()
        gs = [gr.go(gr.sleep, 0.1) for _ in range(10)]
        for g in gs:
            g.join()
        return single, time.monotonic() - t0

    single, ten = gr.run(main, procs=1)
    assert 0.045 <= single < 2.0
    assert 0.095 <= ten < 0.8, "sleeping goroutines must not block their M"


# ---------------------------------------------------------------- GoroutineExit

def test_goroutine_exit_is_base_exception():
    assert issubclass(gr.GoroutineExit, BaseException)
    assert not issubclass(gr.GoroutineExit, Exception)


class _LogExit:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.log.append("with-exit:" + (et.__name__ if et else "None"))


def _start_both_then_return(body, logs):
    """main: start body(log, wg) for each log, wait until all started, return."""
    wg = gr.WaitGroup()
    wg.add(len(logs))
    for log in logs:
        gr.go(body, log, wg)
    wg.wait()
    return "main done"


def test_main_return_unwinds_blocked_goroutines():
    logs = [[], []]

    def worker(log, wg):
        try:
            with _LogExit(log):
                wg.done()
                gr.Chan().recv()
        except gr.GoroutineExit:
            log.append("GoroutineExit")
            raise
        finally:
            log.append("finally")

    assert gr.run(_start_both_then_return, worker, logs) == "main done"
    assert logs == [["with-exit:GoroutineExit", "GoroutineExit", "finally"]] * 2, logs


def _scn_unwind_spinner(procs):
    logs = [[], []]

    def spinner(log, wg):
        x = 0
        try:
            with _LogExit(log):
                wg.done()
                while True:
                    x += 1
        finally:
            log.append("finally")

    t0 = time.monotonic()
    r = gr.run(_start_both_then_return, spinner, logs, procs=procs, time_slice=0.001)
    return {"result": r, "logs": logs, "secs": time.monotonic() - t0}


@pytest.mark.parametrize("procs", [1, 2])
def test_main_return_unwinds_spinning_goroutines(procs):
    out = run_isolated(_scn_unwind_spinner, procs)
    assert out["result"] == "main done"
    assert out["logs"] == [["with-exit:GoroutineExit", "finally"]] * 2, out
    assert out["secs"] < 10


# ---------------------------------------------------------------- stats() / dump()

STATS_KEYS = {"preempt_requests", "preemptions", "preempt_unsafe", "switches",
              "goroutines_created"}


def test_stats_after_run_reports_last_run():
    def main(n):
        for g in [gr.go(spin, 100) for _ in range(n)]:
            g.join()

    gr.run(main, 5)
    s = gr.stats()
    assert isinstance(s, dict)
    assert STATS_KEYS <= set(s), set(s)
    assert all(type(v) is int for v in s.values()), s
    assert json.loads(json.dumps(s)) == s
    assert s["goroutines_created"] == 6
    assert s["switches"] > 0

    gr.run(main, 2)
    assert gr.stats()["goroutines_created"] == 3


def test_stats_inside_run():
    def main():
        s = gr.stats()
        gr.go(lambda: None).join()
        return s, gr.stats()

    before, after = gr.run(main)
    assert STATS_KEYS <= set(before) and STATS_KEYS <= set(after)
    assert after["goroutines_created"] == before["goroutines_created"] + 1


def _dump_blocked_target(ch):
    return ch.recv()


def test_dump_lists_goroutines_with_stacks():
    def main():
        ch = gr.Chan()
        g = gr.go(_dump_blocked_target, ch)
        wait_until(lambda: g.status == "waiting", what="goroutine to block")
        text = gr.dump()
        ch.send(None)
        g.join()
        return g.id, text

    gid, text = gr.run(main)
    assert isinstance(text, str)
    assert "goroutine 1 [" in text, text
    assert f"goroutine {gid} [" in text, text
    assert "_dump_blocked_target" in text, text
    after = gr.dump()
    assert isinstance(after, str) and "goroutine 1 [" in after, after


def _scn_abandon_report():
    import io
    import sys

    def stubborn():
        with gr.nopreempt():  # no exception-safe point for 3 s
            spin_for(3)

    def main():
        g = gr.go(stubborn)
        deadline = time.monotonic() + 10
        while g.status != "running":  # main keeps its M busy: the other M starts it
            assert time.monotonic() < deadline, g.status
        return "main done"  # and stubborn keeps its M past the grace period

    err = io.StringIO()
    sys.stderr, saved = err, sys.stderr
    try:
        r = gr.run(main, procs=2)
    finally:
        sys.stderr = saved
    return {"result": r, "stderr": err.getvalue(), "abandoned": gr.stats()["goroutines_abandoned"]}


def test_abandoned_goroutines_are_reported_with_where_they_are():
    r = run_isolated(_scn_abandon_report, timeout=30)
    assert r["result"] == "main done" and r["abandoned"] == 1, r
    err = r["stderr"]
    assert "abandoned 1 goroutine(s)" in err and "grace period (2 s; sysmon looked" in err, err
    assert re.search(r"goroutine 2 \[running on M\d\] at .*_util\.py:\d+ in spin_for", err), err
