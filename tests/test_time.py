"""Timers: gr.Timer, gr.Ticker, gr.after, gr.after_func (Go 1.23 semantics)."""
import math
import time

import pytest

import goroutines as gr
from _util import run_isolated, spin_for

pytestmark = pytest.mark.timeout(60)


def test_timer_fires_after_its_duration():
    def main():
        t0 = time.monotonic()
        t = gr.Timer(0.03)
        fired = t.c.recv()
        return fired - t0, time.monotonic() - t0, t.stop()

    fired_after, woke_after, stopped = gr.run(main)
    assert 0.029 <= fired_after < 1.0
    assert woke_after >= fired_after
    assert stopped is False  # already fired


def test_after_sends_the_time_once():
    def main():
        t0 = time.monotonic()
        c = gr.after(0.01)
        v = c.recv()
        return v - t0, c.try_recv()

    delay, again = gr.run(main)
    assert 0.009 <= delay < 1.0
    assert again == (None, False)


def test_stop_before_firing_prevents_the_value():
    def main():
        t = gr.Timer(0.02)
        first = t.stop()
        gr.sleep(0.05)
        return first, t.stop(), t.c.try_recv()

    assert gr.run(main) == (True, False, (None, False))


def test_stop_discards_a_value_already_buffered():
    """Go 1.23: after Stop returns, no stale value is received."""
    def main():
        t = gr.Timer(0.0)
        gr.sleep(0.02)  # it fired into the buffer meanwhile
        return len(t.c), t.stop(), t.c.try_recv()

    assert gr.run(main) == (1, False, (None, False))


def test_reset_rearms_and_reports_whether_it_was_active():
    def main():
        t0 = time.monotonic()
        t = gr.Timer(10)
        was_active = t.reset(0.02)
        fired = t.c.recv() - t0
        again = t.reset(0.01)
        fired2 = t.c.recv() - t0
        return was_active, fired, again, fired2

    was_active, fired, again, fired2 = gr.run(main)
    assert was_active is True and again is False
    assert 0.019 <= fired < 1.0
    assert fired2 >= fired + 0.009


def test_ticker_ticks_until_stopped_and_drops_ticks_for_slow_receivers():
    def main():
        tk = gr.Ticker(0.01)
        times = [tk.c.recv() for _ in range(4)]
        spin_for(0.06)  # ~5 ticks come due while computing (preempted for timers, not blocked)
        t_drain = time.monotonic()
        stale = tk.c.recv()  # the one tick the buffer kept
        fresh = tk.c.recv()  # fired only once the buffer had room again
        tk.stop()
        gr.sleep(0.03)
        return [b - a for a, b in zip(times, times[1:])], stale, t_drain, fresh, tk.c.try_recv()

    gaps, stale, t_drain, fresh, after_stop = gr.run(main)
    assert all(g >= 0.009 for g in gaps), gaps
    assert stale < t_drain <= fresh  # no queue of old ticks: a burst would give old values
    assert after_stop == (None, False)


def test_ticker_reset_changes_the_period():
    def main():
        tk = gr.Ticker(10)
        tk.reset(0.01)
        t0 = time.monotonic()
        tk.c.recv()
        tk.c.recv()
        tk.stop()
        return time.monotonic() - t0

    assert 0.019 <= gr.run(main) < 1.0


def test_after_func_runs_in_its_own_goroutine_unless_stopped():
    def main():
        done = gr.Chan(2)
        me = gr.current()
        gr.after_func(0.01, lambda tag: done.send((tag, gr.current() is not me)), "ran")
        stopped = gr.after_func(0.01, done.send, ("stopped", True))
        was_pending = stopped.stop()
        got = done.recv()
        gr.sleep(0.03)
        return got, was_pending, done.try_recv()

    got, was_pending, extra = gr.run(main)
    assert got == ("ran", True)
    assert was_pending is True
    assert extra == (None, False)


def test_timer_argument_errors():
    def main():
        for bad, exc in (("1", TypeError), (True, TypeError), (math.nan, ValueError),
                         (math.inf, ValueError)):
            with pytest.raises(exc):
                gr.Timer(bad)
        with pytest.raises(ValueError, match="non-positive"):
            gr.Ticker(0)
        with pytest.raises(ValueError, match="non-positive"):
            gr.Ticker(1).reset(-1)
        with pytest.raises(TypeError, match="callable"):
            gr.after_func(1, 42)
        with pytest.raises(TypeError):
            gr.sleep("1")
        return "ok"

    assert gr.run(main) == "ok"
    with pytest.raises(RuntimeError, match="run"):
        gr.Timer(1)


def test_timer_fires_on_time_while_goroutines_compute():
    """Four hogs and a 100 ms slice: the timer's goroutine still wakes within
    a few ms (a due timer preempts like a woken goroutine), not after slices."""
    def main():
        stop = []

        def hog():
            while not stop:
                spin_for(0.001)

        for _ in range(4):
            gr.go(hog)
        late = []
        for _ in range(10):
            due = time.monotonic() + 0.005
            gr.Timer(0.005).c.recv()
            late.append(time.monotonic() - due)
        stop.append(True)
        return late

    late = sorted(gr.run(main, procs=1, time_slice=0.1))
    assert late[len(late) // 2] < 0.05, late  # round robin would take >= 0.1 s


def _scn_stopped_timer_does_not_hide_a_deadlock():
    def main():
        gr.Timer(3600).stop()
        gr.Chan().recv()

    t0 = time.monotonic()
    try:
        gr.run(main)
    except gr.Deadlock:
        return time.monotonic() - t0
    return -1


def test_stopped_timer_does_not_hide_a_deadlock():
    assert 0 <= run_isolated(_scn_stopped_timer_does_not_hide_a_deadlock) < 10
