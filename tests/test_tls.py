"""TLS on gr.Socket (gr.SSLSocket): handshakes, reads and writes park the
goroutine, timeouts and gr.timeout() interrupt them, and patch() makes https
clients cooperative."""
import ssl
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import goroutines as gr
from _util import echo_server, run_isolated, slow_http_server

pytestmark = pytest.mark.timeout(90)

TLS = Path(__file__).resolve().parent / "tls"
CERT, KEY = str(TLS / "cert.pem"), str(TLS / "key.pem")


def _contexts():
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(CERT, KEY)
    client = ssl.create_default_context(cafile=CERT)
    for ctx in (server, client):
        ctx.sslsocket_class = gr.SSLSocket
    return server, client


def _scn_tls_echo(nclients, msgs):
    def main():
        server_ctx, client_ctx = _contexts()
        ln = server_ctx.wrap_socket(gr.listen(("127.0.0.1", 0)), server_side=True,
                                    do_handshake_on_connect=False)
        port = ln.getsockname()[1]

        # the handshake in the connection's goroutine: a slow client stalls only itself
        echo_server(ln, prepare=lambda c: c.do_handshake())
        bad = []

        def client(i):
            try:
                with client_ctx.wrap_socket(gr.dial(("127.0.0.1", port), timeout=30),
                                            server_hostname="localhost") as c:
                    assert isinstance(c, gr.SSLSocket)
                    f = c.makefile("rwb")
                    for j in range(msgs):
                        line = f"<{i}:{j}>\n".encode()
                        f.write(line)
                        f.flush()
                        got = f.readline()
                        if got != line:
                            bad.append((i, j, got))
                    f.close()
            except Exception as e:  # noqa: BLE001 - reported below
                bad.append((i, repr(e)))

        gs = [gr.go(client, i) for i in range(nclients)]
        for g in gs:
            g.join()
        ln.close()
        return {"bad": bad[:5], "stats": gr.stats()}

    return gr.run(main, procs=1)


def test_tls_echo_with_many_clients_on_one_p():
    r = run_isolated(_scn_tls_echo, 50, 20, timeout=80)
    assert r["bad"] == [], r["bad"]
    # every handshake and read parked its goroutine: no thread was ever blocked
    assert r["stats"]["syscall_handoffs"] == 0, r["stats"]


def _scn_tls_timeouts():
    def main():
        server_ctx, client_ctx = _contexts()
        ln = server_ctx.wrap_socket(gr.listen(("127.0.0.1", 0)), server_side=True)
        port = ln.getsockname()[1]
        held = gr.Chan(1)
        out = {}

        def serve():
            c, _ = ln.accept()  # the handshake happens here
            held.send(c)  # ... and then the server says nothing

        gr.go(serve)
        with client_ctx.wrap_socket(gr.dial(("127.0.0.1", port)),
                                    server_hostname="localhost") as c:
            out["cipher"] = c.cipher()[1]
            c.settimeout(0.2)
            t0 = time.monotonic()
            try:
                c.recv(10)
                out["recv"] = "returned"
            except TimeoutError as e:
                out["recv"] = [str(e), round(time.monotonic() - t0, 1)]
            c.settimeout(None)
            t0 = time.monotonic()
            try:
                with gr.timeout(0.2):
                    c.recv(10)
                out["scope"] = "returned"
            except gr.Timeout:
                out["scope"] = round(time.monotonic() - t0, 1)
            s = held.recv()
            s.sendall(b"still usable")
            out["after"] = c.recv(100).decode()
            s.close()
        ln.close()
        return out

    return gr.run(main, procs=1)


def test_tls_timeouts_interrupt_reads_and_leave_the_connection_usable():
    r = run_isolated(_scn_tls_timeouts)
    assert r["cipher"].startswith("TLS"), r
    assert r["recv"] == ["timed out", 0.2], r
    assert r["scope"] == 0.2, r
    assert r["after"] == "still usable", r


def test_tls_socket_outside_goroutines_blocks_like_ssl():
    server_ctx, client_ctx = _contexts()
    ln = server_ctx.wrap_socket(gr.Socket(), server_side=True)
    ln.bind(("127.0.0.1", 0))
    ln.listen()

    def serve():
        c, _ = ln.accept()
        with c:
            c.sendall(c.recv(5).upper())

    t = threading.Thread(target=serve)
    t.start()
    with client_ctx.wrap_socket(gr.Socket(), server_hostname="localhost") as c:
        c.connect(ln.getsockname())
        c.sendall(b"hello")
        assert c.recv(5) == b"HELLO"
        assert c.gettimeout() is None and c.getblocking()
    t.join()
    ln.close()


@pytest.fixture
def https_server():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    with slow_http_server(0.3, ctx) as port:
        yield port


def _scn_https_clients(port, n):
    def fetch(i):
        ctx = ssl.create_default_context(cafile=CERT)
        with urllib.request.urlopen(f"https://localhost:{port}/s/{i}", context=ctx,
                                    timeout=10) as resp:
            return resp.read().decode()

    def main():
        t0 = time.monotonic()
        gs = [gr.go(fetch, i) for i in range(n)]
        return {"bodies": [g.join() for g in gs], "took": time.monotonic() - t0,
                "stats": gr.stats()}

    with gr.patch():
        return gr.run(main, procs=1)


def test_patched_https_clients_run_concurrently(https_server):
    n = 10
    r = run_isolated(_scn_https_clients, https_server, n)
    assert r["bodies"] == [f"/s/{i}" for i in range(n)], r
    assert r["took"] < n * 0.3 / 2, r
    assert r["stats"]["syscall_handoffs"] == 0, r
