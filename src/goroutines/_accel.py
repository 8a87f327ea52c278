"""The optional C accelerator: _speedups.c, the channel fast paths.

The Python code is complete on its own and is the reference semantics;
the C module only takes the cases of a channel operation that finish at
once (see its header comment for the invariants).  It is built when the
package is installed with a C compiler at hand, and skipped otherwise.
`GOROUTINES_PURE_PYTHON=1` in the environment ignores it, so the test
suite can check the Python paths too.
"""

from __future__ import annotations

import _thread
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

speedups: ModuleType | None = None
if os.environ.get("GOROUTINES_PURE_PYTHON", "") in ("", "0"):
    try:
        from . import _speedups as speedups
    except ImportError:
        pass

# Runtime locks the fast paths read (channel locks, sched.lock): a C fast
# path runs only while the lock is free.
allocate_lock: Callable[[], Any] = (
    speedups.Lock if speedups is not None else _thread.allocate_lock  # type: ignore[attr-defined]
)


def install_chan(chan_cls: type) -> None:
    """Give Chan its C fast paths (its Python methods stay the slow path),
    and _sched.park_unlock and ready_all theirs (the netpoller uses them)."""
    if speedups is None:
        return
    from . import _g, _parking, _runq, _sched, _timers

    speedups.install(_sched, _sched.Sched, _g.G, _sched.M, _sched.P, _runq.LocalRunQueue,  # type: ignore[attr-defined]
                     _timers.TimerHeap, _parking.Sudog, chan_cls)
    _sched.park_unlock = speedups.park_unlock  # type: ignore[attr-defined]
    _sched.ready_all = speedups.ready_all  # type: ignore[attr-defined]


def install_netpoll(netpoll: ModuleType) -> None:
    """Give _netpoll.wait its C fast path (the Python function stays the
    slow path, after_wait the continuation after an unusual wake)."""
    if speedups is None:
        return
    from . import _g

    speedups.install_netpoll(_g.G, netpoll.PollDesc, netpoll.IOWait,  # type: ignore[attr-defined]
                             netpoll.wait, netpoll.after_wait)
    netpoll.wait = speedups.wait  # type: ignore[attr-defined]
