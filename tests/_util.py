"""Helpers shared by the test files (not a test module).

``run_isolated(func, *args)`` runs a module-level function of a test module in a
fresh interpreter and returns its JSON-decoded result.  Hang-prone scenarios
(deadlocks, preemption inside logging/queue/import/__del__, hogs that must be
stopped) run that way, so a hang fails one test instead of killing the session.
"""
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"
_MARK = "@@RESULT@@"

_DRIVER = r"""
import faulthandler, importlib.util, json, sys, threading, time
faulthandler.dump_traceback_later({dump_after}, exit=True)

def _dump_greenlets():
    # Just before faulthandler's dump (which shows only running frames): the
    # parked greenlets' stacks and the runtime locks, to tell who holds what.
    time.sleep(max({dump_after} - 1, 0.5))
    import gc, traceback, greenlet
    from goroutines import _preempt, _sched
    out = ["--- suspend_lock locked: %s; sched.lock locked: %s\n" % (
        _preempt.suspend_lock.locked(), _sched.sched is not None and _sched.sched.lock.locked())]
    for o in gc.get_objects():
        if isinstance(o, greenlet.greenlet) and not o.dead and o.gr_frame is not None:
            out.append("--- parked greenlet %x:\n" % id(o))
            out.extend(traceback.format_stack(o.gr_frame))
    sys.stderr.write("".join(out))
    sys.stderr.flush()

threading.Thread(target=_dump_greenlets, daemon=True).start()
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location("_isolated_mod", {path!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
result = getattr(mod, {name!r})(*json.loads(sys.argv[1]))
faulthandler.cancel_dump_traceback_later()
sys.stdout.flush()
print({mark!r} + json.dumps(result), flush=True)
"""


def _package_root():
    """Directory holding the goroutines package this process uses (children use the same)."""
    mod = sys.modules.get("goroutines")
    if mod is not None and getattr(mod, "__file__", None):
        return str(Path(mod.__file__).resolve().parent.parent)
    return str(SRC_DIR)


def subprocess_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run_isolated(func, *args, timeout=30, env=None):
    """Call module-level ``func(*args)`` in a new interpreter; return its result.

    ``args`` and the result must be JSON-serialisable.  Fails the test (with
    the child's output, and a faulthandler dump of its threads on a hang) if
    the child exits non-zero, prints no result, or runs past ``timeout``.
    """
    path = sys.modules[func.__module__].__file__
    code = _DRIVER.format(dump_after=max(timeout - 2, 1), tests=str(TESTS_DIR),
                          path=path, name=func.__name__, mark=_MARK)
    cmd = [sys.executable, "-X", "faulthandler", "-c", code, json.dumps(args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=env or subprocess_env())
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"{func.__name__} hung (> {timeout} s)\n--- stdout\n{out[-3000:]}"
                    f"\n--- stderr\n{err[-6000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)]
    if proc.returncode != 0 or not lines:
        what = "hung (faulthandler dump below)" if "Timeout (" in proc.stderr else "failed"
        pytest.fail(f"{func.__name__} {what} in subprocess (rc={proc.returncode})\n"
                    f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-20000:]}")
    return json.loads(lines[-1][len(_MARK):])


def spin(n):
    """CPU work with Python-level calls and loops (preemptible, no runtime calls)."""
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


def spin_for(seconds):
    """Busy-wait for ``seconds`` of wall time in Python bytecode."""
    import time
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def exc_info(e):
    """JSON-friendly description of an exception."""
    return {"type": type(e).__name__, "msg": str(e),
            "notes": [str(n) for n in getattr(e, "__notes__", ())]}


def wait_until(pred, timeout=10.0, what="condition"):
    """Inside a goroutine: yield (gosched) until ``pred()`` is true or fail at the deadline."""
    import time
    import goroutines as gr
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gr.gosched()


def in_thread(fn, *args, **kwargs):
    """Call ``fn`` in a new, non-main thread; return its result or re-raise its exception."""
    import threading
    box = {}

    def target():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:      # re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=target, name="gr-test-runner")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def echo_server(ln, prepare=None):
    """Accept on listener `ln` until it is closed; echo every connection in its
    own goroutine, after `prepare(conn)` (a TLS handshake) if given."""
    import goroutines as gr

    def handle(c):
        with c:
            if prepare is not None:
                prepare(c)
            while True:
                d = c.recv(4096)
                if not d:
                    return
                c.sendall(d)

    def serve():
        while True:
            try:
                c, _ = ln.accept()
            except OSError:
                return
            gr.go(handle, c)

    return gr.go(serve)


@contextlib.contextmanager
def slow_http_server(delay, ssl_context=None):
    """A threaded http.server on 127.0.0.1 (plain threads, not goroutines) that
    answers GET with its path after `delay` seconds; yields the port."""
    import http.server
    import threading
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            time.sleep(delay)
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128  # socketserver's 5 drops concurrent SYNs: 1 s retries

    srv = Server(("127.0.0.1", 0), Handler)
    if ssl_context is not None:
        srv.socket = ssl_context.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
