"""The C accelerator (_speedups.c): built and in use where CI requires it,
its Lock behaves as _thread.lock, and the channel fast paths keep the
Python semantics at their edges (a parked goroutine woken by a timeout or a
close, a select waiter, several wakes in a row).  The channel tests run in
both modes: scripts/test.sh also runs this file with GOROUTINES_PURE_PYTHON=1."""
import _thread
import os
import threading
import time

import pytest

import goroutines as gr
from goroutines import _accel

pytestmark = pytest.mark.timeout(60)

PURE = os.environ.get("GOROUTINES_PURE_PYTHON", "") not in ("", "0")
LOCKS = [pytest.param(_thread.allocate_lock, id="_thread")]
if _accel.speedups is not None:
    LOCKS.append(pytest.param(_accel.speedups.Lock, id="speedups"))


def test_accelerator_in_use_unless_pure():
    if PURE:
        assert _accel.speedups is None
        assert type(gr.Chan.send).__name__ == "function"
        return
    if _accel.speedups is None:
        # scripts/test.sh sets this: CI has a compiler, so a build that
        # skipped the C module must fail here rather than run slower.
        assert os.environ.get("GOROUTINES_REQUIRE_SPEEDUPS") != "1", "C accelerator not built"
        pytest.skip("C accelerator not built (no compiler?)")
    assert type(gr.Chan.send).__name__ == "method_descriptor"
    assert isinstance(gr.Chan()._lock, _accel.speedups.Lock)


@pytest.mark.parametrize("make", LOCKS)
def test_lock_acquire_release(make):
    lock = make()
    assert not lock.locked()
    assert lock.acquire() is True
    assert lock.locked()
    assert lock.acquire(False) is False
    assert lock.acquire(blocking=False) is False
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.05) is False
    assert time.monotonic() - t0 >= 0.04
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        lock.release()
    with lock:
        assert lock.locked()
    assert not lock.locked()


@pytest.mark.parametrize("make", LOCKS)
def test_lock_bad_arguments(make):
    lock = make()
    with pytest.raises(ValueError, match="non-blocking"):
        lock.acquire(False, 1)
    with pytest.raises(ValueError, match="timeout value must be"):
        lock.acquire(timeout=-2)
    with pytest.raises(TypeError):
        lock.acquire(bogus=1)
    with pytest.raises(TypeError):
        lock.acquire(True, 1, 2)
    with pytest.raises(TypeError):
        make(1)
    assert not lock.locked()


@pytest.mark.parametrize("make", LOCKS)
def test_lock_between_threads_and_condition(make):
    lock = make()
    cond = threading.Condition(lock)
    state = []

    def waiter():
        with cond:
            assert cond.wait_for(lambda: state, timeout=10)
            state.append("woken")

    t = threading.Thread(target=waiter)
    t.start()
    with cond:
        state.append("go")
        cond.notify()
    t.join(10)
    assert state == ["go", "woken"]
    # a blocking acquire waits for the holder in another thread
    lock.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=10)))
    t.start()
    lock.release()
    t.join(10)
    assert got == [True] and lock.locked()


def test_parked_receiver_interrupted_then_channel_still_delivers():
    def main():
        ch = gr.Chan()
        with pytest.raises(gr.Timeout), gr.timeout(0.05):
            ch.recv()
        assert len(ch._recvq) == 0  # the interrupted waiter left the queue
        gr.go(ch.send, "after")
        return ch.recv()

    assert gr.run(main, procs=1) == "after"


def test_parked_sender_interrupted_value_not_delivered():
    def main():
        ch = gr.Chan()
        with pytest.raises(gr.Timeout), gr.timeout(0.05):
            ch.send("lost?")
        assert ch.try_recv() == (None, False)
        gr.go(ch.send, "next")
        return ch.recv()

    assert gr.run(main, procs=1) == "next"


def test_close_wakes_parked_sender_and_receivers():
    def main():
        ch = gr.Chan()
        out = gr.Chan(3)

        def recv():
            out.send(("recv", ch.recv_ok()))

        def send():
            try:
                ch.send(1)
            except gr.ChanClosed:
                out.send(("send", "closed"))

        gr.go(recv)
        gr.go(recv)
        gr.gosched()  # both receivers park first
        while len(ch._recvq) < 2:
            gr.gosched()
        ch.close()
        got = sorted([out.recv(), out.recv()])
        ch2 = gr.Chan()
        ch = ch2
        gr.go(send)
        while len(ch2._sendq) < 1:
            gr.gosched()
        ch2.close()
        got.append(out.recv())
        return got

    assert gr.run(main, procs=1) == [
        ("recv", (None, False)), ("recv", (None, False)), ("send", "closed")]


def test_send_to_select_waiter_and_several_wakes_in_a_row():
    def main():
        a, b = gr.Chan(), gr.Chan()
        results = gr.Chan(10)

        def selector():
            case, value, _ = gr.select(gr.Recv(a), gr.Recv(b))
            results.send(("select", case, value))

        def receiver(i):
            results.send(("recv", i, a.recv()))

        gr.go(selector)
        while len(a._recvq) < 1:
            gr.gosched()
        b.send("to-select")  # a select waiter: the claim is the slow path's
        for i in range(3):
            gr.go(receiver, i)
        while len(a._recvq) < 3:
            gr.gosched()
        for v in ("x", "y", "z"):  # three wakes in a row: runnext, then the queue
            a.send(v)
        got = [results.recv() for _ in range(4)]
        return got

    got = gr.run(main, procs=1)
    assert got[0] == ("select", 1, "to-select")
    # each receiver got exactly one value, each value went to one receiver
    # (which one depends on the order they parked in: runnext runs first)
    assert sorted(r[1] for r in got[1:]) == [0, 1, 2]
    assert sorted(r[2] for r in got[1:]) == ["x", "y", "z"]


def test_pingpong_with_a_hog_loses_nothing():
    n = 20000

    def main():
        ping, pong = gr.Chan(), gr.Chan(1)
        stop = []

        def hog():
            x = 0
            while not stop:
                x += 1

        def echo():
            for v in ping:
                pong.send(v + 1)

        gr.go(hog)
        gr.go(echo)
        got = []
        for i in range(n):
            ping.send(i)
            got.append(pong.recv())
        ping.close()
        stop.append(1)
        return got == [i + 1 for i in range(n)]

    assert gr.run(main, procs=1, time_slice=0.001)


@pytest.mark.skipif(_accel.speedups is None, reason="the C accelerator is not in use")
def test_recv_nb_is_recv_without_the_would_block_exception():
    import errno
    import socket

    recv_nb = _accel.speedups.recv_nb
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        assert recv_nb(a, 10) is None  # would block: None, not BlockingIOError
        b.sendall(b"hello")
        assert recv_nb(a, 2, socket.MSG_PEEK) == b"he"  # flags are passed on
        assert recv_nb(a, 10) == b"hello"
        assert recv_nb(a, 0) == b""
        with pytest.raises(ValueError, match="negative buffersize"):
            recv_nb(a, -1)
        b.close()
        assert recv_nb(a, 10) == b""  # EOF
    with pytest.raises(OSError) as e:
        recv_nb(a, 10)  # closed, as socket.recv says
    assert e.value.errno == errno.EBADF
