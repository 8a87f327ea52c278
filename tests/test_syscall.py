"""Syscall handoff (Go's retake/handoffp/exitsyscall): a goroutine blocked in
a C call that released the GIL (an unpatched time.sleep, a thread lock, a
queue) no longer stops the other goroutines of its P."""
import threading
import time

import pytest

import goroutines as gr
from _util import run_isolated, spin_for

pytestmark = pytest.mark.timeout(90)

SLEEP = 0.5


def _scn_unpatched_sleep(in_thread):
    """With one P, goroutines spawned before a goroutine blocks its M in
    time.sleep start and finish on another M during the sleep."""
    def main():
        t0 = time.monotonic()
        done = []

        def worker(i):
            spin_for(0.01)
            done.append((i, time.monotonic() - t0, threading.get_ident()))

        # nopreempt: the workers must not start on this M before it blocks
        # (preemptstress would switch to them at the first call)
        with gr.nopreempt():
            workers = [gr.go(worker, i) for i in range(5)]
            time.sleep(SLEEP)
        for w in workers:
            w.join()
        return {"done": done, "main_tid": threading.get_ident(),
                "slept_until": time.monotonic() - t0, "stats": gr.stats()}

    if not in_thread:
        return gr.run(main, procs=1)
    out = []
    t = threading.Thread(target=lambda: out.append(gr.run(main, procs=1)))
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize("in_thread", [False, True], ids=["signal-backend", "monitoring-backend"])
def test_goroutines_run_on_another_m_while_one_blocks_in_time_sleep(in_thread):
    r = run_isolated(_scn_unpatched_sleep, in_thread)
    assert len(r["done"]) == 5, r
    assert r["slept_until"] >= SLEEP, r
    for i, when, tid in r["done"]:
        assert when < SLEEP - 0.1, r  # during the sleep, not after it
        assert tid != r["main_tid"], r  # on another M: the sleeper's thread was blocked
    assert r["stats"]["syscall_handoffs"] >= 1, r


def _scn_hogs_are_not_syscalls():
    def main():
        ws = [gr.go(spin_for, 0.4) for _ in range(3)]
        for w in ws:
            w.join()
        return gr.stats()

    return gr.run(main, procs=1)


def test_cpu_bound_goroutines_are_not_taken_for_syscalls():
    # A hog waiting for the GIL at the same instruction every time sysmon looks
    # must not look blocked: the thread's CPU time moves.
    st = run_isolated(_scn_hogs_are_not_syscalls)
    assert st["syscall_handoffs"] == 0, st
    assert st["preemptions"] > 0, st


def _scn_back_from_syscall_waits_for_a_p():
    """GOMAXPROCS stays 1: a goroutine back from its syscall gets a P only
    when the hog that took over is preempted, and never runs beside it."""
    def main():
        t0 = time.monotonic()
        with gr.nopreempt():  # the hog must start on the other M
            h = gr.go(spin_for, 1.5)
            time.sleep(0.3)
        # leaving nopreempt was a runtime call: this goroutine has a P again
        back = time.monotonic() - t0
        seen = set()
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            seen.add(h.status)
        h.join()
        return {"back": back, "hog_status_while_main_runs": sorted(seen), "stats": gr.stats()}

    return gr.run(main, procs=1)


def test_a_goroutine_back_from_a_syscall_waits_for_a_p_and_gets_one():
    r = run_isolated(_scn_back_from_syscall_waits_for_a_p)
    assert r["back"] < 1.2, r  # the hog's slice ended: it did not wait for the hog to finish
    assert r["hog_status_while_main_runs"] == ["runnable"], r
    assert r["stats"]["syscall_handoffs"] >= 1, r


def _scn_status_dump_suspend():
    """A plain thread watches (a goroutine might be bound to the blocked M)."""
    def main():
        flag = []

        def sleeper():
            time.sleep(0.3)
            flag.append(time.monotonic())  # exitsyscall's landing is here

        def observe(s, out):
            deadline = time.monotonic() + 5
            while s.status != "syscall":
                assert time.monotonic() < deadline, s.status
                time.sleep(0.005)
            out["dump"] = gr.dump()
            with gr.suspend(s) as st:
                out["frames"] = [[f.name, f.line] for f in st.frames]
                time.sleep(0.6)  # the sleep is over; exitsyscall waits for the resume
                out["held"] = list(flag)

        out = {}
        s = gr.go(sleeper)
        t = threading.Thread(target=observe, args=(s, out))
        t.start()
        s.join()
        t.join()
        out["after"] = len(flag)
        return out

    return gr.run(main, procs=1)


def test_a_goroutine_in_a_syscall_shows_it_and_can_be_suspended():
    r = run_isolated(_scn_status_dump_suspend)
    assert "[syscall]" in r["dump"] and "time.sleep(0.3)" in r["dump"], r["dump"]
    assert ["sleeper", "time.sleep(0.3)"] in r["frames"], r
    assert r["held"] == [], r  # it did not run on while suspended
    assert r["after"] == 1, r


def _scn_blocked_in(what):
    import queue

    def main():
        lock, q, ev = threading.Lock(), queue.Queue(), threading.Event()
        lock.acquire()

        def release_later():
            time.sleep(0.3)
            lock.release()
            q.put("item")
            ev.set()

        call = {"lock": lambda: (lock.acquire(), lock.release()), "queue": q.get,
                "event": lambda: ev.wait(5)}[what]
        threading.Thread(target=release_later).start()
        t0 = time.monotonic()
        ran = []
        with gr.nopreempt():  # the goroutines must not start on this M first
            gs = [gr.go(lambda: ran.append(time.monotonic() - t0)) for _ in range(3)]
            got = call()
        blocked = time.monotonic() - t0
        for g in gs:
            g.join()
        return {"ran": ran, "blocked": blocked, "got": repr(got)}

    return gr.run(main, procs=1)


@pytest.mark.parametrize("what", ["lock", "queue", "event"])
def test_goroutines_run_while_one_blocks_on_a_thread_lock_queue_or_event(what):
    r = run_isolated(_scn_blocked_in, what)
    assert r["blocked"] >= 0.29, r
    assert len(r["ran"]) == 3 and max(r["ran"]) < r["blocked"] - 0.1, r


def test_blocked_thread_is_reported_once_per_call_site(capsys):
    def main():
        def blocker():
            for _ in range(2):
                time.sleep(0.25)  # blocks M0 while main (started on it) is runnable

        b = gr.go(blocker)
        while b.status != "dead":
            gr.gosched()  # runnable on the global queue: it waits for M0
        return gr.stats()

    st = gr.run(main, procs=1)
    err = capsys.readouterr().err
    assert st["syscall_reports"] == 1, (st, err)
    assert err.count("has blocked its thread") == 1, err
    assert "test_syscall.py" in err and "time.sleep(0.25)" in err, err
    assert "goroutines.blocking(" in err and "goroutines.patch()" in err, err


def test_a_goroutine_whose_function_is_a_blocking_builtin_is_handed_off():
    def main():
        ran = []
        s = gr.go(time.sleep, 0.4)  # no Python frame of its own
        gr.go(ran.append, 1)
        gr.go(ran.append, 2)
        gr.gosched()
        t0 = time.monotonic()
        while len(ran) < 2:
            assert time.monotonic() - t0 < 5
            gr.sleep(0.01)
        return s, time.monotonic() - t0, gr.stats()

    # main started on M0 before the sleep: it waits for the sleep to end
    s, waited, st = gr.run(main, procs=1)
    assert st["syscall_handoffs"] >= 1, st
    assert s.status == "dead"


def test_run_returns_after_a_goroutine_blocked_in_a_syscall_at_exit():
    def main():
        gr.go(time.sleep, 0.3)
        gr.gosched()
        return "done"

    t0 = time.monotonic()
    assert gr.run(main, procs=1) == "done"
    assert time.monotonic() - t0 < 10


def _scn_syscall_storm(procs, resize):
    """Many goroutines alternating unpatched sleeps (Ps change hands all the
    time), channel traffic and computing: nothing lost, nothing stuck, and
    GOMAXPROCS changes on the way."""
    import random

    def main():
        rnd = random.Random(7)
        ch = gr.Chan(4)
        wg = gr.WaitGroup()
        n, rounds = 40, 15
        got = []

        def worker(i):
            for j in range(rounds):
                time.sleep(rnd.random() * 0.008)  # blocks its M
                ch.send((i, j))
                spin_for(0.0005)
            wg.done()

        def consumer():
            for _ in range(n * rounds):
                got.append(ch.recv())

        c = gr.go(consumer)
        wg.add(n)
        for i in range(n):
            gr.go(worker, i)
        if resize:
            for k in (procs + 1, 1, procs):
                gr.sleep(0.02)
                gr.gomaxprocs(k)
        wg.wait()
        c.join()
        return {"sorted_ok": sorted(got) == [(i, j) for i in range(n) for j in range(rounds)],
                "per_worker_in_order": all(
                    [j for (i2, j) in got if i2 == i] == list(range(rounds)) for i in range(n)),
                "stats": gr.stats()}

    return gr.run(main, procs=procs)


@pytest.mark.parametrize("procs,resize", [(1, False), (2, False), (2, True)])
def test_syscall_storm_loses_nothing_and_finishes(procs, resize):
    r = run_isolated(_scn_syscall_storm, procs, resize, timeout=80)
    assert r["sorted_ok"] and r["per_worker_in_order"], r
    assert r["stats"]["syscall_handoffs"] > 0, r["stats"]


def _scn_forced_handoffs(procs):
    """sysmon made to take every running M for blocked: Ps change hands at
    every tick while goroutines run Python, select with timeouts and sleep —
    the races between a handoff and the goroutine's own runtime calls, all
    the time.  Every value must arrive once, and nothing may hang."""
    from goroutines import _sysmon

    _sysmon.syscall_window = lambda s: 0
    _sysmon.same_place = lambda now, then, elapsed: now is not None and then is not None
    _sysmon.runnable = lambda m: False

    def main():
        ch = gr.Chan()
        n, per = 6, 150
        got = []

        def producer(i):
            for j in range(per):
                while True:
                    try:
                        gr.select(gr.Send(ch, (i, j)), timeout=0.002)
                        break
                    except TimeoutError:
                        spin_for(0.0002)
                spin_for(0.001)  # Python code for sysmon to find running

        def consumer():
            while len(got) < n * per:
                try:
                    got.append(gr.select(gr.Recv(ch), timeout=0.003).value)
                except TimeoutError:
                    gr.sleep(0.0005)

        c = gr.go(consumer)
        ps = [gr.go(producer, i) for i in range(n)]
        for p in ps:
            p.join()
        c.join()
        return {"ok": sorted(got) == sorted((i, j) for i in range(n) for j in range(per)),
                "stats": gr.stats()}

    return gr.run(main, procs=procs)


@pytest.mark.parametrize("procs", [1, 2])
def test_handoffs_racing_with_runtime_calls_lose_nothing_and_never_hang(procs):
    r = run_isolated(_scn_forced_handoffs, procs, timeout=80)
    assert r["ok"], r
    assert r["stats"]["syscall_handoffs"] > 10, r["stats"]
