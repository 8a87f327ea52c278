"""Spawn cost and memory per parked task.

Spawn: n tasks that do nothing are started and all joined (goroutines: go + WaitGroup;
asyncio: create_task + gather; gevent: spawn + joinall); the figure is wall time / n,
runtime start-up excluded.

Memory: n tasks each block forever (goroutines: recv on one unbuffered channel; asyncio:
await an Event; gevent: wait on an Event). Once all have started, memory is compared
with the figure taken just before spawning: with mode "tracemalloc", Python-heap bytes
(what tracemalloc sees: frames, task objects, greenlet stack copies made with PyMem);
with mode "rss", the resident set from /proc/self/statm (also counts greenlet's C-level
stack allocations). Each mode runs in its own process, as tracemalloc inflates RSS.
The tasks are then released and joined, so the runtimes shut down cleanly.
"""

import gc
import os
import time
import tracemalloc


def _memory_probe(mode):
    """A function returning current memory in bytes for the given mode."""
    if mode == "tracemalloc":
        tracemalloc.start()
        return lambda: tracemalloc.get_traced_memory()[0]
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    return rss


def _per_task(n, before, after):
    return {"bytes_each": (after - before) / n}


def _spawned(n, elapsed):
    return {"us_each": elapsed / n * 1e6}


def goroutines_spawn(n):
    import goroutines as gr

    def main():
        wg = gr.WaitGroup()
        wg.add(n)
        t0 = time.perf_counter()
        for _ in range(n):
            gr.go(wg.done)
        wg.wait()
        return time.perf_counter() - t0

    return _spawned(n, gr.run(main, procs=1))


def asyncio_spawn(n):
    import asyncio

    async def noop():
        pass

    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*[asyncio.create_task(noop()) for _ in range(n)])
        return time.perf_counter() - t0

    return _spawned(n, asyncio.run(main()))


def gevent_spawn(n):
    import gevent

    def noop():
        pass

    gevent.sleep(0)  # start the hub outside the measurement
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(noop) for _ in range(n)])
    return _spawned(n, time.perf_counter() - t0)


def goroutines_parked(n, mode):
    import goroutines as gr

    def park(ch, started):
        started.append(None)
        for _ in ch:
            pass

    def main():
        ch, started = gr.Chan(), []
        measure = _memory_probe(mode)
        gc.collect()
        before = measure()
        tasks = [gr.go(park, ch, started) for _ in range(n)]
        while len(started) < n:
            gr.sleep(0.001)
        gc.collect()
        after = measure()
        ch.close()
        for g in tasks:
            g.join()
        return _per_task(n, before, after)

    return gr.run(main, procs=1)


def asyncio_parked(n, mode):
    import asyncio

    async def park(event, started):
        started.append(None)
        await event.wait()

    async def main():
        event, started = asyncio.Event(), []
        measure = _memory_probe(mode)
        gc.collect()
        before = measure()
        tasks = [asyncio.create_task(park(event, started)) for _ in range(n)]
        while len(started) < n:
            await asyncio.sleep(0.001)
        gc.collect()
        after = measure()
        event.set()
        await asyncio.gather(*tasks)
        return _per_task(n, before, after)

    return asyncio.run(main())


def gevent_parked(n, mode):
    import gevent
    import gevent.event

    def park(event, started):
        started.append(None)
        event.wait()

    event, started = gevent.event.Event(), []
    gevent.sleep(0)
    measure = _memory_probe(mode)
    gc.collect()
    before = measure()
    tasks = [gevent.spawn(park, event, started) for _ in range(n)]
    while len(started) < n:
        gevent.sleep(0.001)
    gc.collect()
    after = measure()
    event.set()
    gevent.joinall(tasks)
    return _per_task(n, before, after)
