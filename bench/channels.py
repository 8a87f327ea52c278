"""Channel throughput: ping-pong, fan-in, and select, against gevent, asyncio and threads.

Ping-pong  two tasks pass one value back and forth `n` times over a pair of channels
           (ping one way, pong the other); the figure is wall time / n, i.e. µs per round
           trip (two hand-offs). goroutines uses unbuffered `gr.Chan()` on one P (and
           `gr.Chan(1)` for a like-for-like row against the capacity-1 queues); gevent both
           `gevent.queue.Channel()` (unbuffered, the closest peer) and `Queue(1)`; asyncio
           `asyncio.Queue(1)`; threads `queue.Queue(1)` between two OS threads. Two raw
           greenlets switching back and forth (`other.switch(value)`) are the floor: every
           greenlet-based runtime pays at least this per round trip. The threads row is the
           noisiest: each hand-off wakes the other thread through the OS, and whether it
           wakes on the same CPU or another one moves it between ~10 and ~75 µs from one
           process to the next (--pin puts both on one CPU and steadies it).
Fan-in     `producers` tasks each put `n` integers into one queue of capacity `cap`, and one
           consumer takes all of them; messages/s from the first spawn until the consumer has
           the last message. goroutines `gr.Chan(cap)` on one P, gevent `Queue(cap)`,
           asyncio `Queue(cap)`, threads `queue.Queue(cap)` (nine OS threads on the GIL).
Select     one consumer loops on `gr.select(gr.Recv(c0), ..., gr.Recv(c3))` while 4 producers
           each send `n` values on their own unbuffered channel; µs per select (one receive
           each). The reference row is the same traffic, 4 producers on one channel, taken
           with plain `recv()`: the difference is what select costs over a receive.
           No peer is measured. gevent has no select over queues. asyncio's nearest idiom,
           `asyncio.wait({get tasks}, return_when=FIRST_COMPLETED)` over four
           `Queue.get()` tasks, does something else: several gets can complete in one wait
           (each has already taken its value off its queue, so all must be used: it is not
           "exactly one case proceeds"), and each wait either creates and cancels tasks for
           the losing queues (so the cost is mostly task creation) or keeps them pending
           across iterations (then it is four standing receives, not a select). Neither
           would make a ratio that means anything, so goroutines stands alone here.

Every function returns its figure plus the wall time measured; runtime start-up is
excluded (the clock starts inside the running scheduler / loop / hub).
"""

import threading
import time

from common import run_goroutines, stats_subset


def _pingpong(n, elapsed, **extra):
    return {"us_per_rt": elapsed / n * 1e6, "wall_s": elapsed, **extra}


def _fanin(total, elapsed, **extra):
    return {"msgs_per_s": total / elapsed, "us_per_msg": elapsed / total * 1e6,
            "wall_s": elapsed, **extra}


# --------------------------------------------------------------------------- ping-pong

def goroutines_pingpong(n, cap=0):
    """Ping-pong over two gr.Chan(cap) (unbuffered by default) on one P."""
    import goroutines as gr

    def echo(ping, pong):
        for _ in range(n):
            pong.send(ping.recv())

    def main():
        ping, pong = gr.Chan(cap), gr.Chan(cap)
        g = gr.go(echo, ping, pong)
        t0 = time.perf_counter()
        for i in range(n):
            ping.send(i)
            pong.recv()
        elapsed = time.perf_counter() - t0
        g.join()
        return elapsed

    elapsed, stats = run_goroutines(main, procs=1)
    return _pingpong(n, elapsed, **stats_subset(stats))


def gevent_pingpong(n, kind):
    """Ping-pong over two gevent.queue.Channel() ("channel") or Queue(1) ("queue1")."""
    import gevent
    import gevent.queue

    make = gevent.queue.Channel if kind == "channel" else (lambda: gevent.queue.Queue(1))
    ping, pong = make(), make()

    def echo():
        for _ in range(n):
            pong.put(ping.get())

    gevent.sleep(0)  # start the hub outside the measurement
    g = gevent.spawn(echo)
    t0 = time.perf_counter()
    for i in range(n):
        ping.put(i)
        pong.get()
    elapsed = time.perf_counter() - t0
    g.join()
    return _pingpong(n, elapsed)


def asyncio_pingpong(n):
    """Ping-pong over two asyncio.Queue(1)."""
    import asyncio

    async def echo(ping, pong):
        for _ in range(n):
            await pong.put(await ping.get())

    async def main():
        ping, pong = asyncio.Queue(1), asyncio.Queue(1)
        task = asyncio.create_task(echo(ping, pong))
        t0 = time.perf_counter()
        for i in range(n):
            await ping.put(i)
            await pong.get()
        elapsed = time.perf_counter() - t0
        await task
        return elapsed

    return _pingpong(n, asyncio.run(main()))


def threads_pingpong(n):
    """Ping-pong over two queue.Queue(1) between the main thread and one other thread."""
    import queue

    ping, pong = queue.Queue(1), queue.Queue(1)

    def echo():
        for _ in range(n):
            pong.put(ping.get())

    t = threading.Thread(target=echo)
    t.start()
    t0 = time.perf_counter()
    for i in range(n):
        ping.put(i)
        pong.get()
    elapsed = time.perf_counter() - t0
    t.join()
    return _pingpong(n, elapsed)


def greenlet_pingpong(n):
    """The floor: two raw greenlets switching a value back and forth, no scheduler at all."""
    import greenlet

    def echo(value):
        while True:
            value = first.switch(value)

    def driver():
        t0 = time.perf_counter()
        for i in range(n):
            second.switch(i)
        return time.perf_counter() - t0

    first, second = greenlet.greenlet(driver), greenlet.greenlet(echo)
    elapsed = first.switch()
    return _pingpong(n, elapsed)


# --------------------------------------------------------------------------- fan-in

def goroutines_fanin(n, producers, cap):
    """`producers` goroutines send n each into one gr.Chan(cap); main receives them all."""
    import goroutines as gr

    def produce(ch):
        for i in range(n):
            ch.send(i)

    def main():
        ch, total = gr.Chan(cap), n * producers
        t0 = time.perf_counter()
        gs = [gr.go(produce, ch) for _ in range(producers)]
        recv = ch.recv
        for _ in range(total):
            recv()
        elapsed = time.perf_counter() - t0
        for g in gs:
            g.join()
        return elapsed

    elapsed, stats = run_goroutines(main, procs=1)
    return _fanin(n * producers, elapsed, **stats_subset(stats))


def gevent_fanin(n, producers, cap):
    """`producers` greenlets put n each into one gevent.queue.Queue(cap)."""
    import gevent
    import gevent.queue

    q, total = gevent.queue.Queue(cap), n * producers

    def produce():
        for i in range(n):
            q.put(i)

    gevent.sleep(0)
    t0 = time.perf_counter()
    gs = [gevent.spawn(produce) for _ in range(producers)]
    get = q.get
    for _ in range(total):
        get()
    elapsed = time.perf_counter() - t0
    gevent.joinall(gs)
    return _fanin(total, elapsed)


def asyncio_fanin(n, producers, cap):
    """`producers` tasks put n each into one asyncio.Queue(cap)."""
    import asyncio

    async def produce(q):
        for i in range(n):
            await q.put(i)

    async def main():
        q, total = asyncio.Queue(cap), n * producers
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(produce(q)) for _ in range(producers)]
        get = q.get
        for _ in range(total):
            await get()
        elapsed = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        return elapsed

    return _fanin(n * producers, asyncio.run(main()))


def threads_fanin(n, producers, cap):
    """`producers` threads put n each into one queue.Queue(cap); the main thread gets."""
    import queue

    q, total = queue.Queue(cap), n * producers

    def produce():
        for i in range(n):
            q.put(i)

    ts = [threading.Thread(target=produce) for _ in range(producers)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    get = q.get
    for _ in range(total):
        get()
    elapsed = time.perf_counter() - t0
    for t in ts:
        t.join()
    return _fanin(total, elapsed)


# --------------------------------------------------------------------------- select

def goroutines_select(n, mode):
    """4 producers send n each; the consumer takes them with select over their 4 channels
    (mode "select"), or, with mode "recv", they all send on one channel taken with recv()."""
    import goroutines as gr

    def produce(ch):
        for i in range(n):
            ch.send(i)

    if mode not in ("select", "recv"):
        raise ValueError(f"mode must be 'select' or 'recv', not {mode!r}")
    producers = 4

    def main():
        total = n * producers
        if mode == "select":
            chans = [gr.Chan() for _ in range(producers)]
        else:
            chans = [gr.Chan()] * producers
        t0 = time.perf_counter()
        gs = [gr.go(produce, ch) for ch in chans]
        counts = [0] * producers
        if mode == "select":
            select, Recv = gr.select, gr.Recv
            c0, c1, c2, c3 = chans  # written out, as a user would
            for _ in range(total):
                counts[select(Recv(c0), Recv(c1), Recv(c2), Recv(c3)).index] += 1
        else:
            recv = chans[0].recv
            for _ in range(total):
                recv()
        elapsed = time.perf_counter() - t0
        for g in gs:
            g.join()
        if mode == "select" and counts != [n] * producers:
            raise AssertionError(f"select received {counts}, expected {n} from each channel")
        return elapsed

    elapsed, stats = run_goroutines(main, procs=1)
    total = n * producers
    return {"us_per_op": elapsed / total * 1e6, "wall_s": elapsed, **stats_subset(stats)}
