"""goroutines: Go's scheduler for CPython — goroutines, channels, select,
timers, contexts, sync, a sysmon and true asynchronous preemption of
CPU-bound Python code.

    import goroutines as gr

    def main():
        ch = gr.Chan()
        gr.go(lambda: ch.send(sum(i * i for i in range(10**6))))
        return ch.recv()

    print(gr.run(main))

Layout: _g (G and its statuses), _runq (run queues), _sched (Ms, Ps, the
scheduler loop), _timers (per-P timer heaps), _sysmon, _preempt (preempt_m,
async_preempt, suspend_g), _monitoring and _signal (the two preemption
backends), _excsafe (where an exception may be raised), _hazards (where a
goroutine must not be switched out), _parking/_chan/_select/_sync (blocking
objects), _netpoll (the netpoller), _socket (cooperative sockets), _tls (TLS on them),
_blocking (blocking(): calls on a thread pool), _patch (patch(): the
standard library made cooperative), _time (Timer, Ticker, sleep), _context (contexts and the scopes
that raise their cancellation inside running code), _join, _locks, _run
(run's lifecycle), _debug (GOROUTINES_DEBUG), _api (the functions below),
_accel (the optional C fast paths of channels and parking, _speedups.c).
"""

from ._api import (
    Suspended, current, dump, gomaxprocs, gosched, nopreempt, num_goroutine, stats, suspend,
)
from ._blocking import blocking, blocking_fn
from ._chan import Chan, ChanClosed
from ._context import (
    Cancelled, Context, Timeout, background, timeout, with_cancel, with_deadline, with_timeout,
    with_value,
)
from ._g import G as Goroutine
from ._g import GoroutineExit
from ._patch import patch, unpatch
from ._run import run
from ._sched import Deadlock, go  # go: no wrapper, spawning is hot
from ._sync import Cond, Locker, Mutex, Once, RWMutex, Semaphore, WaitGroup
from ._select import Recv, Selected, Send, select
from ._socket import Socket, dial, listen
from ._time import Ticker, Timer, after, after_func, sleep
from ._tls import SSLSocket

__all__ = [
    "Chan", "ChanClosed", "Deadlock", "Goroutine", "GoroutineExit", "Mutex", "Suspended",
    "WaitGroup", "current", "dump", "go", "gomaxprocs", "gosched", "nopreempt",
    "num_goroutine", "run", "sleep", "stats", "suspend",
    "Recv", "Selected", "Send", "Ticker", "Timer", "after", "after_func", "select",
    "Cond", "Locker", "Once", "RWMutex", "Semaphore",
    "Cancelled", "Context", "Timeout", "background", "timeout", "with_cancel", "with_deadline",
    "with_timeout", "with_value",
    "Socket", "blocking", "blocking_fn", "dial", "listen", "patch", "unpatch",
    "SSLSocket",
]
