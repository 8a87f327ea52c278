"""A 1 ms ticker beside 4 CPU hogs: asyncio starves it, goroutines keeps it ticking.

The ticker sleeps 1 ms in a loop and records how late each wake-up is; the hogs are
plain Python loops that never yield. asyncio (and gevent, shown if installed) can only
switch when a task awaits, so the ticker waits for the hogs to finish. goroutines
preempts the running hog at the end of its time slice, or as soon as the sleeping ticker
is due, so the ticker keeps ticking while the hogs run.

    PYTHONPATH=src python examples/demo.py        # about 6 s
"""

import asyncio
import time

import goroutines as gr

TICK = 0.001
HOGS = 4
HOG_CPU_S = 0.4


def spin(n):
    """A CPU hog: pure-Python arithmetic, no yields."""
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


def calibrate():
    """Iterations of spin() that take about HOG_CPU_S seconds here."""
    t0 = time.perf_counter()
    spin(200_000)
    return int(200_000 * HOG_CPU_S / (time.perf_counter() - t0))


def under_asyncio(n):
    async def ticker(lateness, stop):
        while not stop:
            intended = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            lateness.append(time.perf_counter() - intended)

    async def hog():
        spin(n)

    async def main():
        lateness, stop = [], []
        tick_task = asyncio.create_task(ticker(lateness, stop))
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        await asyncio.gather(*(hog() for _ in range(HOGS)))
        wall = time.perf_counter() - t0
        stop.append(True)
        await tick_task
        return lateness, wall

    return asyncio.run(main())


def under_gevent(n):
    import gevent

    lateness, stop = [], []

    def ticker():
        while not stop:
            intended = time.perf_counter() + TICK
            gevent.sleep(TICK)
            lateness.append(time.perf_counter() - intended)

    tick_g = gevent.spawn(ticker)
    gevent.sleep(0)
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(spin, n) for _ in range(HOGS)])
    wall = time.perf_counter() - t0
    stop.append(True)
    tick_g.join()
    return lateness, wall


def under_goroutines(n):
    def ticker(lateness, stop):
        while not stop:
            intended = time.perf_counter() + TICK
            gr.sleep(TICK)
            lateness.append(time.perf_counter() - intended)

    def hog(wg):
        spin(n)
        wg.done()

    def main():
        lateness, stop = [], []
        tick_g = gr.go(ticker, lateness, stop)
        wg = gr.WaitGroup()
        wg.add(HOGS)
        t0 = time.perf_counter()
        for _ in range(HOGS):
            gr.go(hog, wg)
        wg.wait()
        wall = time.perf_counter() - t0
        stop.append(True)
        tick_g.join()
        return lateness, wall

    return gr.run(main)


def percentile_ms(values, q):
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[round(q / 100 * (len(ordered) - 1))] * 1e3:.2f}"


def runtimes():
    yield "asyncio", under_asyncio
    try:
        import gevent  # noqa: F401  (optional peer)
    except ImportError:
        pass
    else:
        yield "gevent", under_gevent
    yield "goroutines", under_goroutines


def main():
    n = calibrate()
    print(f"A {TICK * 1e3:g} ms ticker beside {HOGS} CPU hogs of ~{HOG_CPU_S} s each.\n")
    header = f"{'runtime':26s} {'ticks':>6s} {'late p50 ms':>12s} {'p99 ms':>8s} {'max ms':>8s} {'wall s':>7s}"
    print(header)
    print("-" * len(header))
    for name, measure in runtimes():
        lateness, wall = measure(n)
        print(f"{name:26s} {len(lateness):6d} {percentile_ms(lateness, 50):>12s} "
              f"{percentile_ms(lateness, 99):>8s} {percentile_ms(lateness, 100):>8s} {wall:7.2f}")
    print(f"\nAn ideal ticker ticks once per {TICK * 1e3:g} ms of wall time. A cooperative runtime "
          "wakes it only once the hogs\nare done; goroutines preempts the hogs, so it keeps "
          "waking up while they run.")


if __name__ == "__main__":
    main()
