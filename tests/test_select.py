"""gr.select and the channel operations built on it: try_send/try_recv, timeouts."""
import time

import pytest

import goroutines as gr
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(60)


def test_select_takes_the_ready_case():
    def main():
        a, b = gr.Chan(1), gr.Chan(1)
        b.send("x")
        r1 = gr.select(gr.Recv(a), gr.Recv(b))
        r2 = gr.select(gr.Recv(a), gr.Send(b, "y"))
        return r1, r2, b.recv()

    r1, r2, left = gr.run(main)
    assert r1 == gr.Selected(1, "x", True)
    assert r2 == gr.Selected(1, None, True)
    assert left == "y"


@pytest.mark.parametrize("procs", [1, 2])
def test_select_blocks_until_a_case_can_proceed(procs):
    def main():
        a, b, out = gr.Chan(), gr.Chan(), gr.Chan()

        def sender():
            spin(20_000)
            b.send(42)

        gr.go(sender)
        r = gr.select(gr.Recv(a), gr.Recv(b))
        gr.go(lambda: out.send(gr.select(gr.Send(a, 1), gr.Recv(b)).index))
        return r, a.recv(), out.recv()

    r, got, idx = gr.run(main, procs=procs)
    assert r == gr.Selected(1, 42, True)
    assert (got, idx) == (1, 0)


def test_select_default_when_nothing_is_ready():
    def main():
        a = gr.Chan()
        return gr.select(gr.Recv(a), gr.Send(a, 1), default=True), a.try_send(2)

    r, sent = gr.run(main)
    assert r == gr.Selected(None, None, False)
    assert sent is False  # the select left no Sudog behind


def test_select_none_channels_are_never_ready():
    def main():
        r = gr.select(gr.Recv(None), gr.Send(None, 1), default=True)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            gr.select(gr.Recv(None), timeout=0.02)
        return r, time.monotonic() - t0

    r, waited = gr.run(main)
    assert r.index is None
    assert waited >= 0.019


def test_select_receive_from_closed_channel_is_ready():
    def main():
        a, b = gr.Chan(1), gr.Chan()
        a.send(1)
        a.close()
        return [gr.select(gr.Recv(a), gr.Recv(b)) for _ in range(2)]

    assert gr.run(main) == [gr.Selected(0, 1, True), gr.Selected(0, None, False)]


def test_select_send_on_closed_channel_raises():
    def main():
        a = gr.Chan(1)
        a.close()
        with pytest.raises(gr.ChanClosed):
            gr.select(gr.Send(a, 1), default=True)
        blocked = gr.Chan()

        def closer():
            blocked.close()

        gr.go(closer)
        with pytest.raises(gr.ChanClosed):
            gr.select(gr.Send(blocked, 1))   # parked, then the channel is closed
        return "ok"

    assert gr.run(main) == "ok"


def test_select_chooses_uniformly_among_ready_cases():
    def main():
        chans = [gr.Chan(1) for _ in range(4)]
        counts = [0] * 4
        for _ in range(800):
            for c in chans:
                c.try_send(None)
            counts[gr.select(*(gr.Recv(c) for c in chans)).index] += 1
        return counts

    counts = gr.run(main)
    assert sum(counts) == 800
    assert min(counts) >= 120, counts  # expected 200 each


def test_select_fires_exactly_one_case():
    """Two senders blocked on two channels: select takes one value; the other
    sender is still blocked with its value, which a later recv gets."""
    def main():
        a, b = gr.Chan(), gr.Chan()
        gr.go(a.send, "A")
        gr.go(b.send, "B")
        wait_until(lambda: len(a._sendq) == 1 and len(b._sendq) == 1, what="senders blocked")
        r = gr.select(gr.Recv(a), gr.Recv(b))
        other = b if r.index == 0 else a
        return r.value, other.recv(), a.try_recv(), b.try_recv()

    first, second, ta, tb = gr.run(main)
    assert {first, second} == {"A", "B"}
    assert ta == (None, False) and tb == (None, False)


def test_select_woken_by_throw_leaves_no_waiter_behind():
    def main():
        a = gr.Chan()
        errs = gr.Chan(1)

        def waiter():
            try:
                gr.select(gr.Recv(a), gr.Send(a, 1))
            except ValueError as e:
                errs.send(str(e))

        g = gr.go(waiter)
        wait_until(lambda: g.status == "waiting", what="select parked")
        g.throw(ValueError("stop"))
        msg = errs.recv()
        return msg, a.try_send(2), a.try_recv()

    assert gr.run(main) == ("stop", False, (None, False))


def test_select_timeout_raises_and_takes_nothing():
    def main():
        a = gr.Chan()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            gr.select(gr.Recv(a), timeout=0.03)
        waited = time.monotonic() - t0
        gr.go(a.send, "late")
        return waited, a.recv()

    waited, late = gr.run(main)
    assert 0.029 <= waited < 1.0
    assert late == "late"


def test_select_argument_errors():
    def main():
        a = gr.Chan()
        with pytest.raises(TypeError, match="Recv"):
            gr.select(a)
        with pytest.raises(TypeError, match="Chan or None"):
            gr.Recv("not a chan")
        with pytest.raises(ValueError, match="default and timeout"):
            gr.select(gr.Recv(a), default=True, timeout=1)
        with pytest.raises(TypeError, match="seconds"):
            gr.select(gr.Recv(a), timeout="1")
        return "ok"

    assert gr.run(main) == "ok"
    with pytest.raises(RuntimeError, match="goroutine"):
        gr.select(gr.Recv(gr.Chan()), default=True)


def _scn_select_forever():
    def main():
        gr.select()

    try:
        gr.run(main)
    except gr.Deadlock as e:
        return "select (no cases)" in str(e)
    return "no deadlock"


def test_select_with_no_cases_blocks_forever():
    assert run_isolated(_scn_select_forever) is True


# ------------------------------------------------------- try_send / try_recv / timeouts

def test_try_send_and_try_recv():
    def main():
        c = gr.Chan(1)
        out = [c.try_recv(), c.try_send(1), c.try_send(2), c.try_recv(), c.try_recv()]
        c.send(3)
        c.close()
        out.append(c.try_recv())
        with pytest.raises(gr.ChanClosed):
            c.try_recv()
        with pytest.raises(gr.ChanClosed):
            c.try_send(4)
        return out

    assert gr.run(main) == [(None, False), True, False, (1, True), (None, False), (3, True)]


def test_try_send_hands_to_a_blocked_receiver():
    def main():
        c = gr.Chan()
        got = gr.Chan(1)
        g = gr.go(lambda: got.send(c.recv()))
        wait_until(lambda: g.status == "waiting", what="receiver parked")
        return c.try_send("v"), got.recv()

    assert gr.run(main) == (True, "v")


def test_recv_and_send_timeouts():
    def main():
        c = gr.Chan()
        with pytest.raises(TimeoutError):
            c.recv(timeout=0.01)
        with pytest.raises(TimeoutError):
            c.recv_ok(timeout=0.01)
        with pytest.raises(TimeoutError):
            c.send("never", timeout=0.01)
        gr.go(c.send, "v")
        got = c.recv(timeout=5)
        gr.go(c.recv)
        c.send("w", timeout=5)
        c.close()
        return got, c.recv_ok(timeout=1)

    assert gr.run(main) == ("v", (None, False))


def test_timed_out_send_is_not_delivered():
    def main():
        c = gr.Chan()
        with pytest.raises(TimeoutError):
            c.send("lost?", timeout=0.01)
        gr.go(c.send, "real")
        return c.recv()

    assert gr.run(main) == "real"
