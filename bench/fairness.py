"""Fairness: can a 1 ms ticker keep ticking beside CPU hogs on one core?

One ticker sleeps `tick` seconds in a loop and records its lateness (actual wake minus
intended wake) while `hogs` pure-Python loops burn `hog_iters` iterations each. The
ticker stops when the last hog finishes. A cooperative runtime (asyncio, gevent,
goroutines with asyncpreemptoff=1) runs each hog to completion, so the ticker starves;
a preemptive one (threads, goroutines) lets it wake every time slice or better.

Every function returns ticks, wall_s, lateness p50/p99/max in ms, runtime counters, and
the raw lateness samples (seconds) for the plot.
"""

import sys
import threading
import time

from common import run_goroutines, spin, stats_subset, summarize_ms


def _result(lateness, wall, **extra):
    return {
        "ticks": len(lateness),
        "wall_s": wall,
        **summarize_ms(lateness),
        **extra,
        "lateness_s": lateness,
    }


def goroutines(hog_iters, hogs, tick, time_slice, thread, **run_options):
    """Ticker and hogs as goroutines on one P; run() on the main thread or on another.

    run_options go to goroutines.run() as they are (e.g. wakeup_granularity=None).
    """
    import goroutines as gr

    def ticker(lateness, stop):
        while not stop:
            intended = time.perf_counter() + tick
            gr.sleep(tick)
            lateness.append(time.perf_counter() - intended)

    def hog(wg):
        spin(hog_iters)
        wg.done()

    def main():
        lateness, stop = [], []
        tick_g = gr.go(ticker, lateness, stop)
        wg = gr.WaitGroup()
        wg.add(hogs)
        t0 = time.perf_counter()
        for _ in range(hogs):
            gr.go(hog, wg)
        wg.wait()
        wall = time.perf_counter() - t0
        stop.append(True)
        tick_g.join()
        return lateness, wall

    (lateness, wall), stats = run_goroutines(
        main, thread=thread, procs=1, time_slice=time_slice, **run_options
    )
    return _result(lateness, wall, **stats_subset(stats))


def asyncio_(hog_iters, hogs, tick):
    """Ticker and hogs as asyncio tasks; the hogs never await."""
    import asyncio

    async def ticker(lateness, stop):
        while not stop:
            intended = time.perf_counter() + tick
            await asyncio.sleep(tick)
            lateness.append(time.perf_counter() - intended)

    async def hog():
        spin(hog_iters)

    async def main():
        lateness, stop = [], []
        tick_task = asyncio.create_task(ticker(lateness, stop))
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        await asyncio.gather(*(hog() for _ in range(hogs)))
        wall = time.perf_counter() - t0
        stop.append(True)
        await tick_task
        return lateness, wall

    lateness, wall = asyncio.run(main())
    return _result(lateness, wall)


def gevent_(hog_iters, hogs, tick):
    """Ticker and hogs as gevent greenlets; the hogs never yield."""
    import gevent

    lateness, stop = [], []

    def ticker():
        while not stop:
            intended = time.perf_counter() + tick
            gevent.sleep(tick)
            lateness.append(time.perf_counter() - intended)

    tick_g = gevent.spawn(ticker)
    gevent.sleep(0)
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(spin, hog_iters) for _ in range(hogs)])
    wall = time.perf_counter() - t0
    stop.append(True)
    tick_g.join()
    return _result(lateness, wall)


def threads(hog_iters, hogs, tick, switch_interval=None):
    """Ticker and hogs as OS threads sharing the GIL (optionally with a new switch interval)."""
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    lateness, stop = [], []

    def ticker():
        while not stop:
            intended = time.perf_counter() + tick
            time.sleep(tick)
            lateness.append(time.perf_counter() - intended)

    tick_t = threading.Thread(target=ticker)
    tick_t.start()
    hog_ts = [threading.Thread(target=spin, args=(hog_iters,)) for _ in range(hogs)]
    t0 = time.perf_counter()
    for t in hog_ts:
        t.start()
    for t in hog_ts:
        t.join()
    wall = time.perf_counter() - t0
    stop.append(True)
    tick_t.join()
    return _result(lateness, wall, switch_interval_ms=sys.getswitchinterval() * 1e3)
