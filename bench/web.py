"""The headline: latency of a cheap HTTP endpoint while CPU-heavy requests keep coming.

Each case starts a server in its own process — goroutines (examples/http_server.py, one P),
gevent (pywsgi), asyncio (h11 over asyncio streams) — with the same two endpoints: /cheap
answers "ok", /heavy?n=N computes `heavy(N)` from the example (pure Python). This process
is the load: `heavy_clients` threads each request /heavy back to back, and one prober
requests /cheap every `probe_gap_s` (± 50 %, at random) and times each answer (keep-alive connections,
http.client). Figures: the prober's p50/p99/max, and heavy requests completed per second.
On a server with one thread of control a cheap request waits behind the heavy request in
progress; with preemption it waits about a time slice.
"""

import asyncio
import http.client
import os
import random
import subprocess
import sys
import threading
import time

from common import percentile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(BENCH_DIR), "examples")
sys.path.insert(0, EXAMPLES)


def _start(cmd):
    """Start a server process; return it and the port it printed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def _load(port, heavy_n, heavy_clients, seconds, probe_gap_s):
    stop = threading.Event()
    heavy_done = []
    cheap = []
    errors = []

    def get(conn, path):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}")
        return body

    def heavy_client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while not stop.is_set():
                get(conn, f"/heavy?n={heavy_n}")
                heavy_done.append(time.perf_counter())
        except Exception as e:  # noqa: BLE001 - reported in the result
            errors.append(repr(e))

    def prober():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        get(conn, "/cheap")  # connect first: the figure is the request, not the handshake
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            get(conn, "/cheap")
            cheap.append(time.perf_counter() - t)
            # a random gap: a fixed one could lock onto the server's time slices
            time.sleep(random.uniform(0.5, 1.5) * probe_gap_s)
        stop.set()

    threads = [threading.Thread(target=heavy_client) for _ in range(heavy_clients)]
    for t in threads:
        t.start()
    while not heavy_done and not errors:  # the heavy stream is flowing
        time.sleep(0.01)
    t0 = time.perf_counter()
    prober()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    heavy_in = [t for t in heavy_done if t >= t0]
    return {
        "cheap_p50_ms": percentile(cheap, 50) * 1e3,
        "cheap_p99_ms": percentile(cheap, 99) * 1e3,
        "cheap_max_ms": max(cheap) * 1e3,
        "cheap_n": len(cheap),
        "heavy_per_s": len(heavy_in) / elapsed,
    }


def _measure(cmd, **load):
    proc, port = _start(cmd)
    try:
        return _load(port, **load)
    finally:
        proc.kill()
        proc.wait()


def goroutines_http(**load):
    cmd = [sys.executable, os.path.join(EXAMPLES, "http_server.py"), "--port", "0",
           "--procs", "1"]
    return _measure(cmd, **load)


def gevent_http(**load):
    return _measure([sys.executable, __file__, "gevent"], **load)


def asyncio_http(**load):
    return _measure([sys.executable, __file__, "asyncio"], **load)


# --------------------------------------------------------------------------- the peer servers

def serve_gevent():
    from gevent import monkey

    monkey.patch_all()
    from urllib.parse import parse_qs

    from gevent.pywsgi import WSGIServer
    from http_server import heavy

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/cheap":
            body = b"ok\n"
        elif path == "/heavy":
            n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["1000000"])[0])
            body = f"{heavy(n)}\n".encode()
        else:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.init_socket()
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


def serve_asyncio():
    import h11
    from http_server import respond

    async def handle(reader, writer):
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                    continue
                if isinstance(event, h11.Request):
                    status, body = respond(event.target.decode())
                    headers = [("Content-Type", "text/plain"),
                               ("Content-Length", str(len(body)))]
                    writer.write(conn.send(h11.Response(status_code=status, headers=headers))
                                 + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                    await writer.drain()
                elif isinstance(event, h11.ConnectionClosed) or conn.our_state is h11.MUST_CLOSE:
                    return
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
        except (OSError, h11.ProtocolError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    {"gevent": serve_gevent, "asyncio": serve_asyncio}[sys.argv[1]]()
