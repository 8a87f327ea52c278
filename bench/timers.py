"""Timers beside CPU hogs, and a timeout that interrupts pure-Python code.

Timer accuracy  One task waits `period` seconds `iters` times in a row while `hogs`
                pure-Python loops (common.spin, never yielding) burn `hog_iters` iterations
                each on the same P / event loop / GIL. Lateness = wake-up (the wait has
                returned) minus start of the wait + period. goroutines rows wait with
                `gr.Timer(period).c.recv()`, with `gr.select(gr.Recv(never), gr.Recv(
                gr.after(period)))` (`never` is a channel nobody sends on), or with
                `gr.sleep(period)` for reference; "fired late" is the timer's own send time
                (the time.monotonic() value it puts on `.c`) minus the intended time, so the
                difference to the wake-up lateness is the time the woken goroutine waited
                for the CPU. Peers: asyncio `await asyncio.sleep(period)` beside hog
                coroutines, gevent `gevent.sleep(period)` beside hog greenlets, threads
                `time.sleep(period)` in a thread beside hog threads. A cooperative runtime
                cannot wake its sleeper until every ready hog has run to completion: its
                first wait is late by all the hogs' CPU time and the others find the hogs
                gone, so its p50 and p99 over all waits look fine and only the max shows
                the stall. The table therefore also counts the waits *started* while a hog
                was still running ("under load") and gives their own p50/p99.
Timeout         `with gr.timeout(deadline): <pure-Python loop>` on one P, alone, `trials`
                times in one run; lateness = when gr.Timeout is caught minus (entry to the
                block + deadline). The loop calls common.spin in chunks and checks the clock
                only to give up `give_up` seconds past the deadline (counted as "missed",
                and reported on stderr, which gives the row a note), so a Timeout that
                never comes does not hang the child. No peer: asyncio's
                `asyncio.timeout()` and gevent's `gevent.Timeout` are delivered only when
                the code awaits / yields to the hub, which a CPU-bound loop never does, and
                the threading module has no way to interrupt a running thread. The
                `func_timeout`-style workaround (run the code in a helper thread and inject
                an exception into it with ctypes `PyThreadState_SetAsyncExc`) is a hack
                outside any runtime's API, so it is out of scope here.
"""

import sys
import threading
import time

from common import run_goroutines, spin, stats_subset, summarize_ms


def _result(lateness, loaded, wall, fired=None, **extra):
    """Summaries of all waits and of those started while a hog was running (loaded[i])."""
    under = [x for x, hot in zip(lateness, loaded) if hot]
    under_ms = summarize_ms(under)
    out = {"waits": len(lateness), "under_load": len(under), "wall_s": wall,
           **summarize_ms(lateness), "load_p50_ms": under_ms["p50_ms"],
           "load_p99_ms": under_ms["p99_ms"], **extra}
    if fired:
        fired_ms = summarize_ms(fired)
        out.update(fired_p50_ms=fired_ms["p50_ms"], fired_p99_ms=fired_ms["p99_ms"])
    return out


def goroutines_timer(hog_iters, hogs, iters, period, kind, time_slice):
    """The waiter is main; the hogs are goroutines on one P; run() on the main thread.

    kind: "timer" (gr.Timer(period).c.recv()), "after" (select on after() and a never-ready
    channel) or "sleep" (gr.sleep(period)).
    """
    import goroutines as gr

    def hog(running):
        spin(hog_iters)
        running.pop()

    def main():
        running, lateness, fired, loaded = [None] * hogs, [], [], []
        never = gr.Chan()
        gs = [gr.go(hog, running) for _ in range(hogs)]
        t_start = time.perf_counter()
        for _ in range(iters):
            loaded.append(bool(running))
            start_mono = time.monotonic()
            start = time.perf_counter()
            if kind == "timer":
                value = gr.Timer(period).c.recv()
            elif kind == "after":
                sel = gr.select(gr.Recv(never), gr.Recv(gr.after(period)))
                if sel.index != 1:
                    raise AssertionError(f"select chose case {sel.index}, not the timer")
                value = sel.value
            else:
                gr.sleep(period)
                value = None
            lateness.append(time.perf_counter() - start - period)
            if value is not None:
                fired.append(value - start_mono - period)
        wall = time.perf_counter() - t_start
        for g in gs:
            g.join()
        return lateness, fired, loaded, wall

    (lateness, fired, loaded, wall), stats = run_goroutines(
        main, procs=1, time_slice=time_slice)
    return _result(lateness, loaded, wall, fired, **stats_subset(stats))


def asyncio_timer(hog_iters, hogs, iters, period):
    """await asyncio.sleep(period) beside hog coroutines that never await."""
    import asyncio

    async def hog(running):
        spin(hog_iters)
        running.pop()

    async def main():
        running, lateness, loaded = [None] * hogs, [], []
        tasks = [asyncio.create_task(hog(running)) for _ in range(hogs)]
        t_start = time.perf_counter()
        for _ in range(iters):
            loaded.append(bool(running))
            start = time.perf_counter()
            await asyncio.sleep(period)
            lateness.append(time.perf_counter() - start - period)
        wall = time.perf_counter() - t_start
        await asyncio.gather(*tasks)
        return lateness, loaded, wall

    return _result(*asyncio.run(main()))


def gevent_timer(hog_iters, hogs, iters, period):
    """gevent.sleep(period) beside hog greenlets that never yield."""
    import gevent

    running, lateness, loaded = [None] * hogs, [], []

    def hog():
        spin(hog_iters)
        running.pop()

    gevent.sleep(0)
    gs = [gevent.spawn(hog) for _ in range(hogs)]
    t_start = time.perf_counter()
    for _ in range(iters):
        loaded.append(bool(running))
        start = time.perf_counter()
        gevent.sleep(period)
        lateness.append(time.perf_counter() - start - period)
    wall = time.perf_counter() - t_start
    gevent.joinall(gs)
    return _result(lateness, loaded, wall)


def threads_timer(hog_iters, hogs, iters, period):
    """time.sleep(period) in a thread beside hog threads, all on the GIL."""
    running, lateness, loaded, walls = [None] * hogs, [], [], []

    def hog():
        spin(hog_iters)
        running.pop()

    def waiter():
        t_start = time.perf_counter()
        for _ in range(iters):
            loaded.append(bool(running))
            start = time.perf_counter()
            time.sleep(period)
            lateness.append(time.perf_counter() - start - period)
        walls.append(time.perf_counter() - t_start)

    hog_ts = [threading.Thread(target=hog) for _ in range(hogs)]
    for t in hog_ts:
        t.start()
    w = threading.Thread(target=waiter)
    w.start()
    w.join()
    for t in hog_ts:
        t.join()
    return _result(lateness, loaded, walls[0])


def goroutines_timeout(trials, deadline, time_slice, thread, give_up=0.25, chunk=1000):
    """`with gr.timeout(deadline)` around a pure-Python loop, `trials` times, on one P."""
    import goroutines as gr

    def spin_forever(until):
        while time.perf_counter() < until:
            spin(chunk)

    def main():
        lateness, missed, wrong = [], 0, []
        for _ in range(trials):
            start = time.perf_counter()
            try:
                with gr.timeout(deadline):
                    spin_forever(start + deadline + give_up)
                missed += 1
            except gr.Timeout as exc:
                lateness.append(time.perf_counter() - start - deadline)
                if not isinstance(exc, TimeoutError):
                    wrong.append(type(exc).__mro__)
        if wrong:
            raise AssertionError(f"gr.Timeout is not a TimeoutError: {wrong[0]}")
        return lateness, missed

    (lateness, missed), stats = run_goroutines(main, thread=thread, procs=1,
                                               time_slice=time_slice)
    if missed:  # stderr output makes the parent put a note under the row
        print(f"{missed} of {trials} timeouts never arrived (gave up {give_up:g} s past "
              f"the deadline)", file=sys.stderr)
    return {"trials": trials, "caught": len(lateness), "missed": missed,
            **summarize_ms(lateness), **stats_subset(stats)}
