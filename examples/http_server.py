"""An HTTP/1.1 server on goroutines: one goroutine per connection, parsing
with h11, and two endpoints — a cheap one and a CPU-heavy one.

    python examples/http_server.py [--port 8080] [--procs 1]
    curl localhost:8080/cheap             # answers at once
    curl 'localhost:8080/heavy?n=3000000' # pure-Python work, ~0.1-0.2 s

Why it matters: on gevent or asyncio a request that computes holds the only
thread until it finishes, and every other client waits that long. Here the
heavy handler is preempted at the end of each time slice, so /cheap keeps
answering within a slice or two while heavy requests run (bench/ section
`http` measures it from a separate process).

Uses `pip install h11` (a small, well-kept HTTP/1.1 state machine).
"""

from __future__ import annotations

import argparse
from urllib.parse import parse_qs, urlsplit

import h11

import goroutines as gr


def heavy(n: int) -> int:
    """CPU-bound pure Python: no I/O, no runtime call, nothing to yield at."""
    x = 0
    for i in range(n):
        x = (x + i * i) % 1_000_003
    return x


def respond(target: str) -> tuple[int, bytes]:
    url = urlsplit(target)
    if url.path == "/cheap":
        return 200, b"ok\n"
    if url.path == "/heavy":
        try:
            n = int(parse_qs(url.query).get("n", ["1000000"])[0])
        except ValueError:
            return 400, b"n must be an integer\n"
        return 200, f"{heavy(n)}\n".encode()
    return 404, b"not found\n"


def handle(sock: gr.Socket) -> None:
    """Serve one connection's requests in turn (keep-alive) until it closes."""
    conn = h11.Connection(h11.SERVER)
    with sock:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
                continue
            if isinstance(event, h11.Request):
                status, body = respond(event.target.decode())
                headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
                sock.sendall(conn.send(h11.Response(status_code=status, headers=headers))
                             + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            elif isinstance(event, h11.ConnectionClosed) or conn.our_state is h11.MUST_CLOSE:
                return
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()


def serve(ln: gr.Socket) -> None:
    """Accept on `ln` until it is closed; one goroutine per connection."""
    while True:
        try:
            sock, _ = ln.accept()
        except OSError:
            return
        gr.go(_handle_quietly, sock)


def _handle_quietly(sock: gr.Socket) -> None:
    try:
        handle(sock)
    except (OSError, h11.ProtocolError):
        pass  # the client went away or spoke no HTTP: drop the connection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--procs", type=int, default=1)
    args = ap.parse_args()

    def run() -> None:
        ln = gr.listen((args.host, args.port))
        print(f"listening on http://{args.host}:{ln.getsockname()[1]}", flush=True)
        serve(ln)

    gr.run(run, procs=args.procs)


if __name__ == "__main__":
    main()
