"""goroutines.patch(): socket, time.sleep, select and selectors made
cooperative in goroutines, unchanged in plain threads, and reversible."""
import select
import selectors
import socket
import time
import urllib.request

import pytest

import goroutines as gr
from _util import run_isolated, slow_http_server

pytestmark = pytest.mark.timeout(90)


def _run_patched(main):
    """gr.run(main) on one P with the standard library patched."""
    with gr.patch():
        return gr.run(main, procs=1)


def test_patch_is_reversible_and_idempotent():
    originals = (socket.socket, socket.getaddrinfo, time.sleep, select.select,
                 selectors.DefaultSelector)
    with gr.patch():
        gr.patch()  # idempotent: the originals are kept once
        assert socket.socket is gr.Socket
        assert issubclass(selectors.DefaultSelector, originals[4])
        assert time.sleep is not originals[2]
    assert (socket.socket, socket.getaddrinfo, time.sleep, select.select,
            selectors.DefaultSelector) == originals
    gr.unpatch()  # nothing to undo: no error


def _scn_sleepers(n, secs):
    def main():
        t0 = time.monotonic()
        gs = [gr.go(time.sleep, secs) for _ in range(n)]
        for g in gs:
            g.join()
        return {"took": time.monotonic() - t0, "stats": gr.stats()}

    return _run_patched(main)


def test_time_sleep_parks_only_the_goroutine():
    r = run_isolated(_scn_sleepers, 200, 0.3)
    assert r["took"] < 2.0, r  # 200 x 0.3 s on one P: they sleep together
    assert r["stats"]["syscall_handoffs"] == 0, r  # no thread was blocked


def test_time_sleep_in_a_plain_thread_still_blocks_it():
    with gr.patch():
        t0 = time.monotonic()
        time.sleep(0.05)
        assert time.monotonic() - t0 >= 0.05


@pytest.fixture
def slow_server():
    with slow_http_server(0.3) as port:
        yield port


def _scn_clients(port, n, lib):
    import requests  # imported before the clock starts: an import is not a request

    # urlopen builds its opener (and loads the CA certificates) on first use
    urllib.request.install_opener(urllib.request.build_opener())

    def fetch(i):
        url = f"http://127.0.0.1:{port}/item/{i}"
        if lib == "requests":
            return requests.get(url, timeout=10).text
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.read().decode()

    def main():
        t0 = time.monotonic()
        gs = [gr.go(fetch, i) for i in range(n)]
        bodies = [g.join() for g in gs]
        return {"bodies": bodies, "took": time.monotonic() - t0, "stats": gr.stats()}

    return _run_patched(main)


@pytest.mark.parametrize("lib", ["urllib", "requests"])
def test_http_clients_run_concurrently_in_goroutines(slow_server, lib):
    n = 20
    r = run_isolated(_scn_clients, slow_server, n, lib)
    assert r["bodies"] == [f"/item/{i}" for i in range(n)], r
    assert r["took"] < n * 0.3 / 3, r  # 20 requests of 0.3 s overlapped on one P
    assert r["stats"]["syscall_handoffs"] == 0, r
    assert r["stats"]["blocking_calls"] >= n, r  # getaddrinfo went through blocking()


def _scn_select_and_selector():
    def main():
        a, b = socket.socketpair()
        out = {}

        def writer():
            gr.sleep(0.1)
            b.send(b"x")

        gr.go(writer)
        t0 = time.monotonic()
        r, w, x = select.select([a], [], [], 5)
        out["select"] = [len(r), len(w), len(x), time.monotonic() - t0]
        a.recv(1)
        t0 = time.monotonic()
        out["select_timeout"] = [list(map(len, select.select([a], [], [], 0.2))),
                                 time.monotonic() - t0]
        gr.go(writer)
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ, "a")
            t0 = time.monotonic()
            ready = sel.select(5)
            out["selector"] = [[key.data for key, _ in ready], time.monotonic() - t0]
            a.recv(1)
            t0 = time.monotonic()
            out["selector_timeout"] = [sel.select(0.2), time.monotonic() - t0]
        a.close()
        b.close()
        out["stats"] = gr.stats()
        return out

    return _run_patched(main)


def test_select_and_selectors_park_the_goroutine():
    # One P: the writer goroutine can only run if select() parked the reader.
    r = run_isolated(_scn_select_and_selector)
    n_r, n_w, n_x, took = r["select"]
    assert (n_r, n_w, n_x) == (1, 0, 0) and 0.09 < took < 2, r
    assert r["select_timeout"][0] == [0, 0, 0] and r["select_timeout"][1] >= 0.19, r
    assert r["selector"][0] == ["a"] and r["selector"][1] < 2, r
    assert r["selector_timeout"][0] == [] and r["selector_timeout"][1] >= 0.19, r
    assert r["stats"]["syscall_handoffs"] == 0, r


def _scn_timeout_interrupts_patched_calls():
    def main():
        out = []
        a, b = socket.socketpair()
        for call in (lambda: time.sleep(5), lambda: select.select([a], [], [], 5), lambda: a.recv(1)):
            t0 = time.monotonic()
            try:
                with gr.timeout(0.1):
                    call()
                out.append("no timeout")
            except gr.Timeout:
                out.append(round(time.monotonic() - t0, 1))
        a.close()
        b.close()
        return out

    return _run_patched(main)


def test_a_timeout_interrupts_patched_sleep_select_and_recv():
    r = run_isolated(_scn_timeout_interrupts_patched_calls)
    assert all(isinstance(t, float) and t < 1 for t in r), r


def _scn_two_waiters_one_socket():
    def main():
        a, b = socket.socketpair()
        got = {}

        def selecter():
            got["select"] = len(select.select([a], [], [], 5)[0])

        def reader():
            got["recv"] = a.recv(1).decode()  # leaves a byte for select to see

        waiters = [gr.go(selecter), gr.go(reader)]
        deadline = time.monotonic() + 5
        while any(w.status != "waiting" for w in waiters):  # both parked on `a`
            assert time.monotonic() < deadline
            gr.sleep(0.001)
        t0 = time.monotonic()
        b.send(b"xy")
        for w in waiters:
            w.join()
        got["took"] = time.monotonic() - t0
        a.close()
        b.close()
        return got

    return _run_patched(main)


def test_a_select_and_a_recv_on_one_socket_both_wake():
    r = run_isolated(_scn_two_waiters_one_socket)
    assert r["select"] == 1 and r["recv"] == "x" and r["took"] < 2, r
