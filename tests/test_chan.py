"""gr.Chan: construction, len/cap, close semantics, iteration, rendezvous, FIFO,
and no lost/duplicated values under preemption."""
import collections

import pytest

import goroutines as gr
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(60)


def _raises(exc_type, fn, *args):
    """Inside a goroutine: True if fn(*args) raises exc_type (other outcomes are returned)."""
    try:
        r = fn(*args)
    except exc_type:
        return True
    return ("returned", r)


# ---------------------------------------------------------------- construction

def test_capacity_validation():
    def main():
        return {
            "neg": _raises(ValueError, gr.Chan, -1),
            "float": _raises(TypeError, gr.Chan, 1.5),
            "str": _raises(TypeError, gr.Chan, "2"),
            "none": _raises(TypeError, gr.Chan, None),
        }

    assert gr.run(main) == {"neg": True, "float": True, "str": True, "none": True}


def test_cap_and_len():
    def main():
        unbuf = gr.Chan()
        ch = gr.Chan(3)
        out = [unbuf.cap, len(unbuf), ch.cap, len(ch)]
        ch.send("a")
        ch.send("b")
        out.append(len(ch))
        ch.recv()
        out.append(len(ch))
        out.append(ch.cap)
        return out

    assert gr.run(main) == [0, 0, 3, 0, 2, 1, 3]


def test_len_of_unbuffered_with_blocked_sender_is_zero():
    def main():
        ch = gr.Chan()
        g = gr.go(ch.send, 1)
        wait_until(lambda: g.status == "waiting", what="sender to block")
        n = len(ch)
        v = ch.recv()
        g.join()
        return n, v

    assert gr.run(main) == (0, 1)


# ---------------------------------------------------------------- close

def test_send_on_closed_channel_raises():
    def main():
        ch = gr.Chan(2)
        ch.close()
        return _raises(gr.ChanClosed, ch.send, 1), len(ch)

    assert gr.run(main) == (True, 0)


def test_double_close_raises():
    def main():
        ch = gr.Chan()
        ch.close()
        return _raises(gr.ChanClosed, ch.close)

    assert gr.run(main) is True


def test_buffered_values_received_after_close_then_closed():
    def main():
        ch = gr.Chan(3)
        for v in (1, 2, 3):
            ch.send(v)
        ch.close()
        got = [ch.recv(), ch.recv(), ch.recv()]
        return got, _raises(gr.ChanClosed, ch.recv), _raises(gr.ChanClosed, ch.recv)

    assert gr.run(main) == ([1, 2, 3], True, True)


def test_close_wakes_blocked_receivers():
    def receiver(ch):
        try:
            ch.recv()
        except gr.ChanClosed:
            return "closed"
        return "got value"

    def main():
        ch = gr.Chan()
        gs = [gr.go(receiver, ch) for _ in range(3)]
        wait_until(lambda: all(g.status == "waiting" for g in gs), what="receivers to block")
        ch.close()
        return [g.join() for g in gs]

    assert gr.run(main) == ["closed"] * 3
    assert gr.run(main, procs=2) == ["closed"] * 3


def test_close_wakes_blocked_sender_with_chan_closed():
    def sender(ch):
        try:
            ch.send(1)
        except gr.ChanClosed:
            return "closed"
        return "sent"

    def main():
        ch = gr.Chan()
        g = gr.go(sender, ch)
        wait_until(lambda: g.status == "waiting", what="sender to block")
        ch.close()
        return g.join()

    assert gr.run(main) == "closed"


# ---------------------------------------------------------------- iteration, order, rendezvous

@pytest.mark.parametrize("capacity", [0, 1, 10])
def test_iteration_until_closed_and_drained(capacity):
    def producer(ch):
        for i in range(100):
            ch.send(i)
        ch.close()

    def main():
        ch = gr.Chan(capacity)
        gr.go(producer, ch)
        return [v for v in ch]

    assert gr.run(main) == list(range(100))


def test_buffered_fifo_order():
    def main():
        ch = gr.Chan(5)
        for v in "abcde":
            ch.send(v)
        return "".join(ch.recv() for _ in range(5))

    assert gr.run(main) == "abcde"


def test_values_are_not_copied():
    def main():
        obj = {"k": [1]}
        ch = gr.Chan(1)
        ch.send(obj)
        return ch.recv() is obj

    assert gr.run(main) is True


def test_unbuffered_send_blocks_until_received():
    log = []

    def sender(ch):
        ch.send("x")
        log.append("sent")

    def main():
        ch = gr.Chan()
        g = gr.go(sender, ch)
        wait_until(lambda: g.status == "waiting", what="sender to block")
        for _ in range(10):
            gr.gosched()
        before = list(log)
        v = ch.recv()
        g.join()
        return before, v, list(log)

    assert gr.run(main) == ([], "x", ["sent"])
    log.clear()
    assert gr.run(main, procs=2) == ([], "x", ["sent"])


def test_buffered_send_blocks_when_full():
    log = []

    def main():
        ch = gr.Chan(2)

        def sender():
            for i in range(3):
                ch.send(i)
                log.append(i)

        g = gr.go(sender)
        wait_until(lambda: g.status == "waiting", what="sender to block on full buffer")
        before = list(log)
        got = [ch.recv() for _ in range(3)]
        g.join()
        return before, got, list(log)

    assert gr.run(main) == ([0, 1], [0, 1, 2], [0, 1, 2])


# ---------------------------------------------------------------- stress (subprocess)

def _scn_many_producers(procs, capacity, producers=8, per_producer=2000, consumers=4):
    def producer(pid, ch, wg):
        for seq in range(per_producer):
            spin(60)
            ch.send((pid, seq))
        wg.done()

    def consumer(ch, out):
        for v in ch:
            out.append(tuple(v))
            spin(60)

    def main():
        ch = gr.Chan(capacity)
        pwg = gr.WaitGroup()
        pwg.add(producers)
        outs = [[] for _ in range(consumers)]
        cs = [gr.go(consumer, ch, out) for out in outs]
        for pid in range(producers):
            gr.go(producer, pid, ch, pwg)
        pwg.wait()
        ch.close()
        for c in cs:
            c.join()
        return outs

    outs = gr.run(main, procs=procs, time_slice=0.001,
                  wakeup_granularity=None)  # slice ends: preempted asynchronously
    received = collections.Counter(v for out in outs for v in out)
    expected = collections.Counter((p, s) for p in range(producers) for s in range(per_producer))
    # per consumer, each producer's values must arrive in increasing order (FIFO)
    out_of_order = 0
    for out in outs:
        last = {}
        for pid, seq in out:
            if seq <= last.get(pid, -1):
                out_of_order += 1
            last[pid] = seq
    return {
        "total": sum(received.values()),
        "missing": sum((expected - received).values()),
        "extra": sum((received - expected).values()),
        "out_of_order": out_of_order,
        "per_consumer": [len(o) for o in outs],
        "stats": gr.stats(),
    }


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("capacity", [0, 16])
def test_many_producers_consumers_no_loss_no_dup_fifo(procs, capacity):
    r = run_isolated(_scn_many_producers, procs, capacity, timeout=40)
    assert r["missing"] == 0 and r["extra"] == 0, r
    assert r["total"] == 8 * 2000
    assert r["out_of_order"] == 0, r
    assert r["stats"]["preemptions"] > 0, r["stats"]   # CPU work was really interrupted


def _scn_single_pair_order(procs):
    def producer(ch):
        for i in range(5000):
            if i % 50 == 0:
                spin(300)
            ch.send(i)
        ch.close()

    def main():
        ch = gr.Chan()
        gr.go(producer, ch)
        got = []
        for v in ch:
            got.append(v)
            if v % 70 == 0:
                spin(300)
        return got

    return gr.run(main, procs=procs, time_slice=0.001) == list(range(5000))


@pytest.mark.parametrize("procs", [1, 2])
def test_single_pair_unbuffered_order_under_preemption(procs):
    assert run_isolated(_scn_single_pair_order, procs) is True


def test_many_goroutines_parking_in_a_row():
    """Each parks and the next one starts: 5000 in a chain.  (A goroutine
    started from the stack of the one parking would inherit its recursion
    depth: RecursionError after ~1000.)"""
    def main():
        ch = gr.Chan()
        started = []

        def park():
            started.append(None)
            for _ in ch:
                pass

        gs = [gr.go(park) for _ in range(5000)]
        while len(started) < 5000:
            gr.gosched()
        ch.close()
        for g in gs:
            g.join()
        return len(started)

    assert gr.run(main, procs=1) == 5000
