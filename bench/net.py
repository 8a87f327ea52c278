"""Echo over TCP on 127.0.0.1: `clients` connections, each sending `msgs` small messages
and waiting for each echo before the next (a round trip), all at once.

Server and clients are tasks of the same runtime in one process (one P for goroutines, one
hub for gevent, one loop for asyncio), so every runtime pays for both ends alike. Figures:
round trips per second over the whole run (first connect to last echo) and the latency of
each round trip, p50 and p99 over all of them. Peers: gevent `StreamServer` with gevent
sockets, asyncio streams (`start_server` / `open_connection`).
"""

import time

from common import run_goroutines, stats_subset

MSG = b"x" * 64


def _result(lat, elapsed, **extra):
    lat.sort()
    n = len(lat)
    return {"rt_per_s": n / elapsed, "p50_us": lat[n // 2] * 1e6,
            "p99_us": lat[min(n - 1, int(n * 0.99))] * 1e6, "wall_s": elapsed, **extra}


def _read_exactly(recv, n):
    got = b""
    while len(got) < n:
        chunk = recv(n - len(got))
        if not chunk:
            raise ConnectionError("peer closed")
        got += chunk
    return got


def _round_trips(sock, msgs, lat):
    """One client's run over a blocking-API socket: send, read the echo, time it."""
    for _ in range(msgs):
        t = time.perf_counter()
        sock.sendall(MSG)
        _read_exactly(sock.recv, len(MSG))
        lat.append(time.perf_counter() - t)


def goroutines_echo(clients, msgs):
    import goroutines as gr

    def handle(conn):
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def main():
        ln = gr.listen(("127.0.0.1", 0))
        port = ln.getsockname()[1]

        def serve():
            while True:
                try:
                    conn, _ = ln.accept()
                except OSError:
                    return  # ln closed
                gr.go(handle, conn)

        gr.go(serve)
        lat = []
        wg = gr.WaitGroup()
        wg.add(clients)

        def client():
            with gr.dial(("127.0.0.1", port)) as c:
                _round_trips(c, msgs, lat)
            wg.done()

        t0 = time.perf_counter()
        for _ in range(clients):
            gr.go(client)
        wg.wait()
        elapsed = time.perf_counter() - t0
        ln.close()
        return lat, elapsed

    (lat, elapsed), stats = run_goroutines(main, procs=1)
    return _result(lat, elapsed, **stats_subset(stats))


def gevent_echo(clients, msgs):
    import gevent
    import gevent.server
    import gevent.socket

    def handle(conn, _addr):
        while data := conn.recv(4096):
            conn.sendall(data)

    server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
    server.start()
    port = server.server_port
    lat = []

    def client():
        with gevent.socket.create_connection(("127.0.0.1", port)) as c:
            _round_trips(c, msgs, lat)

    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(client) for _ in range(clients)], raise_error=True)
    elapsed = time.perf_counter() - t0
    server.stop()
    return _result(lat, elapsed)


def asyncio_echo(clients, msgs):
    import asyncio

    async def handle(reader, writer):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        lat = []

        async def client():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(msgs):
                t = time.perf_counter()
                writer.write(MSG)
                await writer.drain()
                await reader.readexactly(len(MSG))
                lat.append(time.perf_counter() - t)
            writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
        server.close()
        return lat, elapsed

    lat, elapsed = asyncio.run(main())
    return _result(lat, elapsed)
