"""Places where a goroutine must not be switched out asynchronously.

Each rule comes from a hazard reproduced on CPython 3.12/3.13
(reference/mechanism-probe-report.md §4b, DESIGN.md §3):

* runtime code on the stack: it holds the scheduler's locks (R1, R7);
* an import in progress: other goroutines would see a half-initialised
  module (R2);
* a garbage collection in progress, or a `__del__` on the stack: a
  preempted finalizer stops GC interpreter-wide until it resumes (R3);
* `threading`, `queue`, `logging` and `concurrent.futures` frames: they hold
  thread locks, which are owned by the OS thread that every goroutine of an
  M shares; a second goroutine would deadlock the M or enter the critical
  section too (R4).

These are checked only when a preemption lands (about a hundred times a
second), never on the goroutine's own hot path.
"""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import os
import queue
import threading

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _module_prefix(module) -> str:
    path = os.path.abspath(module.__file__)
    if os.path.basename(path) == "__init__.py":
        return os.path.dirname(path) + os.sep
    return path


# co_filename prefixes of code that must not be interrupted.
UNSAFE_PREFIXES: tuple[str, ...] = (
    _RUNTIME_DIR,
    "<frozen importlib._bootstrap",
    _module_prefix(threading),
    _module_prefix(queue),
    _module_prefix(logging),
    _module_prefix(concurrent.futures),
)
UNSAFE_FUNCTIONS = frozenset({"__del__"})
# Runtime functions that hold no lock and stay on a goroutine's stack while
# user code runs above them (e.g. the wrapper of a context-bound goroutine).
TRANSPARENT: set = set()


def transparent(fn):
    """Mark a runtime function as safe to be preempted inside (see TRANSPARENT)."""
    TRANSPARENT.add(fn.__code__)
    return fn

gc_running = False


def _gc_callback(phase: str, info: dict) -> None:
    global gc_running
    gc_running = phase == "start"


def install() -> None:
    if _gc_callback not in gc.callbacks:
        gc.callbacks.append(_gc_callback)


def uninstall() -> None:
    global gc_running
    if _gc_callback in gc.callbacks:
        gc.callbacks.remove(_gc_callback)
    gc_running = False


def is_runtime_code(code) -> bool:
    return code.co_filename.startswith(_RUNTIME_DIR)


def is_unsafe_code(code) -> bool:
    if code in TRANSPARENT:
        return False
    return code.co_filename.startswith(UNSAFE_PREFIXES) or code.co_name in UNSAFE_FUNCTIONS
