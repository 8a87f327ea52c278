"""Contexts, and scopes whose cancellation is raised inside CPU-bound code."""
import time

import pytest

import goroutines as gr
from _util import in_thread, spin, wait_until

pytestmark = pytest.mark.timeout(60)


def spin_forever():
    x = 0
    while True:
        x += 1


# ------------------------------------------------------------------ the tree

def test_background_is_never_cancelled():
    def main():
        bg = gr.background()
        return bg.err(), bg.deadline(), bg.value("k"), bg.done().try_recv()

    assert gr.run(main) == (None, None, None, (None, False))


def test_cancel_closes_done_and_propagates_to_children_only():
    def main():
        parent, cancel_parent = gr.with_cancel(gr.background())
        child, cancel_child = gr.with_cancel(parent)
        grandchild = gr.with_value(child, "k", "v")
        sibling, _ = gr.with_cancel(parent)
        cancel_child()
        cancel_child()  # idempotent
        state1 = (parent.err(), type(child.err()), type(grandchild.err()), sibling.err(),
                  grandchild.value("k"), gr.select(gr.Recv(grandchild.done()), default=True))
        cancel_parent()
        late, _ = gr.with_cancel(parent)  # child of a cancelled parent: cancelled at once
        return state1, type(sibling.err()), type(late.err())

    state1, sib, late = gr.run(main)
    assert state1 == (None, gr.Cancelled, gr.Cancelled, None, "v", gr.Selected(0, None, False))
    assert sib is gr.Cancelled and late is gr.Cancelled


def test_with_timeout_times_out():
    def main():
        t0 = time.monotonic()
        ctx, cancel = gr.with_timeout(gr.background(), 0.03)
        ctx.done().recv_ok()
        waited = time.monotonic() - t0
        cancel()  # after the deadline: err stays the Timeout
        return waited, ctx.err(), ctx.deadline() - t0

    waited, err, deadline = gr.run(main)
    assert 0.029 <= waited < 1.0
    assert isinstance(err, gr.Timeout) and isinstance(err, TimeoutError)
    assert str(err) == "context deadline exceeded"
    assert 0.029 <= deadline <= 0.04


def test_child_keeps_the_earlier_parent_deadline():
    def main():
        parent, _ = gr.with_timeout(gr.background(), 0.02)
        child, _ = gr.with_timeout(parent, 10)
        child.done().recv_ok()
        return child.deadline() == parent.deadline(), type(child.err())

    assert gr.run(main) == (True, gr.Timeout)


def test_context_argument_errors():
    def main():
        with pytest.raises(TypeError, match="parent Context"):
            gr.with_cancel(None)
        with pytest.raises(ValueError, match="key"):
            gr.with_value(gr.background(), None, 1)
        with pytest.raises(TypeError, match="seconds"):
            gr.with_timeout(gr.background(), "1")
        with pytest.raises(TypeError):
            gr.timeout(None)
        return "ok"

    assert gr.run(main) == "ok"
    assert not issubclass(gr.Cancelled, Exception)  # `except Exception` won't swallow it
    assert issubclass(gr.Timeout, TimeoutError)


# ---------------------------------------------------- stopping CPU-bound code

@pytest.mark.parametrize("thread", ["main", "other"])
def test_timeout_stops_a_pure_python_loop(thread):
    def main():
        lates = []
        for _ in range(5):
            t0 = time.monotonic()
            with pytest.raises(gr.Timeout) as info:
                with gr.timeout(0.05) as scope:
                    spin_forever()
            lates.append(time.monotonic() - t0 - 0.05)
            assert info.value.context is scope.ctx and scope.expired
        return lates

    if thread == "main":
        lates = gr.run(main)
    else:
        lates = in_thread(gr.run, main)  # the sys.monitoring backend
    assert all(-0.001 <= x < 0.5 for x in lates), lates


def test_timeout_interrupts_a_blocking_call():
    def main():
        t0 = time.monotonic()
        with pytest.raises(gr.Timeout):
            with gr.timeout(0.02):
                gr.Chan().recv()
        return time.monotonic() - t0

    assert 0.019 <= gr.run(main) < 1.0


def test_nested_timeouts_inner_first_then_outer_not_swallowed():
    def main():
        events = []
        t0 = time.monotonic()
        with pytest.raises(gr.Timeout) as outer_info:
            with gr.timeout(0.15) as outer:
                try:
                    with gr.timeout(0.02) as inner:
                        spin_forever()
                except gr.Timeout as e:
                    events.append(("inner", e.context is inner.ctx))
                try:
                    spin_forever()
                except TimeoutError:
                    events.append(("swallowed", time.monotonic() - t0 >= 0.14))
                spin_forever()  # the outer timeout is raised again here
        events.append(("outer", outer_info.value.context is outer.ctx))
        return events

    assert gr.run(main) == [("inner", True), ("swallowed", True), ("outer", True)]


def test_outer_timeout_unwinds_through_an_inner_scope():
    def main():
        with pytest.raises(gr.Timeout) as info:
            with gr.timeout(0.02) as outer:
                with gr.timeout(10):
                    spin_forever()
        return info.value.context is outer.ctx

    assert gr.run(main) is True


def test_nothing_fires_after_the_block_has_exited():
    def main():
        with gr.timeout(0.01):
            pass
        with gr.timeout(0.01):
            spin(1000)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.1:  # well past both deadlines
            spin(1000)
        gr.sleep(0.02)
        return "ok"

    assert gr.run(main) == "ok"


def test_cleanup_in_a_handler_is_not_interrupted():
    """The exception is re-raised only once its handler has finished."""
    def main():
        done = []
        with pytest.raises(gr.Timeout):
            with gr.timeout(0.02):
                try:
                    spin_forever()
                finally:
                    t0 = time.monotonic()
                    while time.monotonic() - t0 < 0.05:  # long cleanup, still inside the scope
                        spin(100)
                    done.append(True)
        return done

    assert gr.run(main) == [True]


def test_timeout_inside_nopreempt_is_raised_when_the_region_ends():
    def main():
        reached = []
        with pytest.raises(gr.Timeout):
            with gr.timeout(0.01):
                with gr.nopreempt():
                    t0 = time.monotonic()
                    while time.monotonic() - t0 < 0.05:
                        spin(100)
                    reached.append("end of region")
                reached.append("after region")
        return reached

    assert gr.run(main) == ["end of region"]


def test_scope_of_an_already_cancelled_context_raises_at_once():
    def main():
        ctx, cancel = gr.with_cancel(gr.background())
        cancel()
        ran = []
        with pytest.raises(gr.Cancelled):
            with ctx.scope():
                ran.append(True)
        return ran, gr.current().scopes is None

    assert gr.run(main) == ([], True)


@pytest.mark.parametrize("procs", [1, 2])
def test_context_bound_goroutine_is_cancelled_mid_computation(procs):
    def main():
        ctx, cancel = gr.with_cancel(gr.background())
        cleaned = gr.Chan(1)
        started = []

        def worker():
            try:
                started.append(True)
                spin_forever()
            finally:
                cleaned.send("finally ran")

        g = ctx.go(worker)
        wait_until(lambda: started, what="worker started")
        cancel()
        msg = cleaned.recv()
        with pytest.raises(gr.Cancelled):
            g.join()
        return msg

    assert gr.run(main, procs=procs) == "finally ran"  # and run() did not re-raise


def test_scopes_must_exit_in_order():
    def main():
        a = gr.with_cancel(gr.background())[0].scope()
        b = gr.with_cancel(gr.background())[0].scope()
        a.__enter__()
        b.__enter__()
        with pytest.raises(RuntimeError, match="reverse order"):
            a.__exit__(None, None, None)
        b.__exit__(None, None, None)
        a.__exit__(None, None, None)
        return gr.current().scopes is None

    assert gr.run(main) is True


def test_a_timeout_shorter_than_the_slice_is_not_held_to_the_slice_end():
    """Armed mid-slice: the M's watcher (its interval timer) must be moved
    earlier, and a context deadline interrupts without waiting for the
    wakeup granularity."""
    def main():
        late = []
        for _ in range(15):
            gr.sleep(0.0001)   # a fresh slice, then part of it used
            spin(3000)
            start = time.monotonic()
            with pytest.raises(gr.Timeout):
                with gr.timeout(0.003):
                    spin_forever()
            late.append(time.monotonic() - start - 0.003)
        return sorted(late)[len(late) // 2]

    assert gr.run(main, time_slice=0.02) < 0.005  # the slice end would be ~15 ms late
