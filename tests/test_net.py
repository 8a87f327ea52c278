"""The netpoller, cooperative sockets (gr.Socket, listen, dial) and blocking()."""
import errno
import socket
import threading
import time

import pytest

import goroutines as gr
from _util import echo_server, run_isolated, spin_for

pytestmark = pytest.mark.timeout(90)


def _scn_echo_many_clients(procs, nclients, msgs):
    def main():
        ln = gr.listen(("127.0.0.1", 0))
        port = ln.getsockname()[1]
        echo_server(ln)
        wg = gr.WaitGroup()
        wg.add(nclients)
        bad = []

        def client(i):
            try:
                with gr.dial(("127.0.0.1", port), timeout=30) as c:
                    for j in range(msgs):
                        m = f"<{i}:{j}>".encode()
                        c.sendall(m)
                        got = b""
                        while len(got) < len(m):
                            chunk = c.recv(64)
                            if not chunk:
                                break
                            got += chunk
                        if got != m:
                            bad.append((i, j, got))
            except Exception as e:  # noqa: BLE001 - reported below
                bad.append((i, repr(e)))
            finally:
                wg.done()

        for i in range(nclients):
            gr.go(client, i)
        wg.wait()
        ln.close()
        return bad

    bad = gr.run(main, procs=procs)
    return {"bad": [repr(b) for b in bad[:5]], "nbad": len(bad)}


@pytest.mark.parametrize("procs", [1, 2])
def test_echo_server_with_1000_concurrent_clients(procs):
    r = run_isolated(_scn_echo_many_clients, procs, 1000, 3, timeout=80)
    assert r["nbad"] == 0, r


def test_recv_parks_the_goroutine_not_the_m():
    """With one P, a goroutine waiting on a socket lets the others compute."""
    def main():
        a, b = socket.socketpair()
        a, b = gr.Socket(fileno=a.detach()), gr.Socket(fileno=b.detach())
        ticks = []

        def reader():
            return a.recv(10)

        def worker():
            for _ in range(5):
                ticks.append(time.monotonic())
                gr.sleep(0.01)
            b.sendall(b"hello")

        r = gr.go(reader)
        gr.go(worker)
        got = r.join()
        a.close()
        b.close()
        return got, len(ticks)

    assert gr.run(main, procs=1) == (b"hello", 5)


def test_socket_timeout_raises_timeouterror_and_keeps_the_socket_usable():
    def main():
        a, b = socket.socketpair()
        a = gr.Socket(fileno=a.detach())
        a.settimeout(0.05)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="timed out"):
            a.recv(10)
        waited = time.monotonic() - t0
        b.sendall(b"late")
        got = a.recv(10)
        a.close()
        b.close()
        return waited, got

    waited, got = gr.run(main)
    assert 0.045 <= waited < 2.0
    assert got == b"late"


def test_settimeout_validates_like_the_stdlib():
    s = gr.Socket()
    try:
        with pytest.raises(ValueError):
            s.settimeout(-1)
        with pytest.raises(TypeError, match="timeout"):
            s.settimeout("1")
        s.settimeout(2)
        assert s.gettimeout() == 2.0 and s.timeout == 2.0
        s.setblocking(False)
        assert s.gettimeout() == 0.0
    finally:
        s.close()
    a, b = socket.socketpair()
    g = gr.Socket(fileno=a.detach())
    g.setblocking(False)
    try:
        with pytest.raises(BlockingIOError):
            g.recv(1)
    finally:
        g.close()
        b.close()


def test_gr_timeout_and_throw_interrupt_a_socket_wait():
    def main():
        a, b = socket.socketpair()
        a = gr.Socket(fileno=a.detach())
        out = []
        try:
            with gr.timeout(0.05):
                a.recv(10)
        except gr.Timeout:
            out.append("timeout")
        # a throw() into a goroutine blocked in recv
        def reader():
            try:
                a.recv(10)
            except KeyError:
                return "thrown"

        g = gr.go(reader)
        while g.status != "waiting":
            gr.gosched()
        g.throw(KeyError("stop"))
        out.append(g.join())
        b.sendall(b"x")  # the socket still works after both interruptions
        out.append(a.recv(1))
        a.close()
        b.close()
        return out

    assert gr.run(main) == ["timeout", "thrown", b"x"]


def test_close_wakes_a_waiting_goroutine_with_oserror():
    def main():
        a, b = socket.socketpair()
        a = gr.Socket(fileno=a.detach())

        def reader():
            try:
                a.recv(10)
            except OSError as e:
                return e.errno

        g = gr.go(reader)
        while g.status != "waiting":
            gr.gosched()
        a.close()
        b.close()
        return g.join()

    assert gr.run(main) == errno.EBADF


def _connect_to(serve_one):
    """Listen on a free port, serve the first connection with serve_one(conn)
    in a goroutine, and return (a client connected to it, the listener)."""
    ln = gr.listen(("127.0.0.1", 0))

    def server():
        c, _ = ln.accept()
        serve_one(c)

    gr.go(server)
    return gr.dial(ln.getsockname(), timeout=10), ln


def test_peer_close_mid_transfer_keeps_received_bytes_then_eof():
    def main():
        def server(c):
            c.sendall(b"a" * 100_000)
            c.close()  # mid-transfer from the reader's point of view

        c, ln = _connect_to(server)
        got = bytearray()
        while True:
            d = c.recv(7000)
            if not d:
                break
            got += d
        c.close()
        ln.close()
        return len(got)

    assert gr.run(main) == 100_000


def test_reset_by_peer_is_a_clear_error():
    def main():
        def server(c):
            c.recv(1)
            # RST instead of FIN: linger 0
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()

        c, ln = _connect_to(server)
        c.sendall(b"x")
        try:
            while c.recv(100):
                pass
            return "eof"
        except ConnectionResetError as e:
            return type(e).__name__
        finally:
            c.close()
            ln.close()

    assert gr.run(main) in ("ConnectionResetError", "eof")


def test_makefile_readline_and_connect_refused():
    def main():
        def server(c):
            with c, c.makefile("rwb") as f:
                for line in f:
                    f.write(line.upper())
                    f.flush()

        c, ln = _connect_to(server)
        with c, c.makefile("rwb") as f:
            f.write(b"one\ntwo\n")
            f.flush()
            lines = [f.readline(), f.readline()]
        ln.close()
        # a closed port: the error the stdlib gives
        free = gr.listen(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        try:
            gr.dial(("127.0.0.1", free_port), timeout=5)
            refused = None
        except ConnectionRefusedError as e:
            refused = e.errno
        return lines, refused

    lines, refused = gr.run(main)
    assert lines == [b"ONE\n", b"TWO\n"]
    assert refused == errno.ECONNREFUSED


def test_socket_works_as_a_plain_blocking_socket_outside_goroutines():
    ln = gr.listen(("127.0.0.1", 0))
    port = ln.getsockname()[1]

    def server():
        c, _ = ln.accept()
        with c:
            c.sendall(c.recv(10) * 2)

    t = threading.Thread(target=server)
    t.start()
    with gr.dial(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"ab")
        got = b""
        while len(got) < 4:
            got += c.recv(10)
    t.join(10)
    ln.close()
    assert got == b"abab"


def test_io_waiters_are_not_a_deadlock_but_a_forgotten_channel_is():
    """A goroutine waiting for a socket keeps the run alive until data comes
    from another thread; with nothing left to wake anyone: Deadlock."""
    a, b = socket.socketpair()

    def feeder():
        time.sleep(0.1)
        b.sendall(b"ok")

    def main():
        s = gr.Socket(fileno=a.detach())
        threading.Thread(target=feeder).start()
        got = s.recv(2)
        s.close()
        return got

    assert gr.run(main) == b"ok"
    b.close()
    with pytest.raises(gr.Deadlock):
        gr.run(lambda: gr.Chan().recv())


# ---------------------------------------------------------------------------
# blocking()


def test_blocking_returns_the_result_and_others_run_meanwhile():
    def main():
        ticks = []

        def ticker():
            for _ in range(10):
                ticks.append(1)
                gr.sleep(0.005)

        gr.go(ticker)
        v = gr.blocking(lambda x: (time.sleep(0.2), x * 2)[1], 21)
        return v, len(ticks), gr.stats()

    v, nticks, stats = gr.run(main, procs=1)
    assert v == 42
    assert nticks == 10  # the only P kept running while the call blocked a pool thread
    assert stats["blocking_calls"] == 1 and stats["blocking_threads"] >= 1


def test_blocking_reraises_with_the_original_traceback():
    def boom():
        raise LookupError("from the pool")

    def main():
        try:
            gr.blocking(boom)
        except LookupError as e:
            return str(e), any(f.name == "boom" for f in __import__("traceback").extract_tb(e.__traceback__))

    assert gr.run(main) == ("from the pool", True)


def test_blocking_wait_is_interrupted_by_a_timeout_scope():
    release = threading.Event()

    def main():
        t0 = time.monotonic()
        try:
            with gr.timeout(0.05):
                gr.blocking(release.wait, 5)
        except gr.Timeout:
            return time.monotonic() - t0

    waited = gr.run(main)
    release.set()
    assert 0.04 <= waited < 2.0


def test_blocking_pool_is_bounded_and_queues_the_rest():
    def main():
        gate = threading.Event()

        def job(i):
            gate.wait(10)
            return i

        from goroutines import _blocking
        workers = _blocking.DEFAULT_WORKERS
        gs = [gr.go(gr.blocking, job, i) for i in range(workers + 5)]
        deadline = time.monotonic() + 10
        st = gr.stats()
        while (st.get("blocking_busy"), st.get("blocking_queued")) != (workers, 5) \
                and time.monotonic() < deadline:
            gr.sleep(0.001)
            st = gr.stats()
        gate.set()
        results = [g.join() for g in gs]
        return st, results, workers

    st, results, workers = gr.run(main, procs=2)
    assert st["blocking_threads"] == workers, st
    assert (st["blocking_busy"], st["blocking_queued"]) == (workers, 5), st
    assert st["blocking_calls"] == workers + 5
    assert results == list(range(workers + 5))


def test_blocking_outside_goroutines_just_calls():
    assert gr.blocking(lambda a, b=1: a + b, 2, b=3) == 5

    @gr.blocking_fn
    def add(a, b):
        return a + b

    assert add.__name__ == "add"
    assert gr.run(lambda: add(1, 2)) == 3


def test_unstarted_goroutines_run_while_one_waits_in_blocking():
    """One P: goroutines spawned before a blocking() call start and finish
    during it (the goroutine parks instead of stopping the M)."""
    def main():
        done = []
        for i in range(5):
            gr.go(lambda i=i: (spin_for(0.01), done.append(i)))
        t0 = time.monotonic()
        gr.blocking(time.sleep, 0.3)
        return sorted(done), time.monotonic() - t0

    done, _ = gr.run(main, procs=1)
    assert done == [0, 1, 2, 3, 4]


def test_edge_nobody_waited_for_is_kept_for_the_next_wait():
    """Edge-triggered epoll reports new data once: an event that arrives
    while nobody waits must be kept (PollDesc.ready, Go's pdReady) so the
    next wait returns at once instead of sleeping until more data comes —
    and is consumed, so the wait after it parks again."""
    import os

    from goroutines import _netpoll, _socket

    class Owner:
        pass

    def main():
        r, w = os.pipe()
        os.set_blocking(r, False)
        np = _socket._poller()
        if not isinstance(np.kernel, _netpoll._Epoll):
            return "not epoll"
        owner = Owner()
        pd = np.desc(r, owner)
        gr.go(os.write, w, b"1")
        _netpoll.wait(pd, np, _netpoll.READ, 5)  # registers r, parks, woken by the write
        got = [os.read(r, 10)]
        os.write(w, b"2")
        np.poll(0)  # the edge arrives while nobody waits for it
        kept = bool(pd.ready & _netpoll.READ)
        _netpoll.wait(pd, np, _netpoll.READ, 5)  # returns at once: the kept edge
        got.append(os.read(r, 10))
        consumed = not pd.ready & _netpoll.READ
        gr.go(os.write, w, b"3")
        _netpoll.wait(pd, np, _netpoll.READ, 5)  # nothing kept: parks until the write
        got.append(os.read(r, 10))
        np.forget(r)
        os.close(r)
        os.close(w)
        return got, kept, consumed

    result = gr.run(main, procs=1)
    if result == "not epoll":
        pytest.skip("the edge-triggered scheme is epoll's (Linux)")
    assert result == ([b"1", b"2", b"3"], True, True)
