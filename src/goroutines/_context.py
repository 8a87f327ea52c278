"""Contexts (Go's context package) and the scopes that make them stop code.

A Context carries a cancellation signal, maybe a deadline, and values,
down a tree: cancelling one cancels its descendants.  `done()` is a
channel closed on cancellation, `err()` says why (a `Cancelled` or a
`Timeout`).  So far, Go.

What Go cannot do, and asynchronous preemption can: a goroutine *bound* to
a context — for the block of `with ctx.scope():` or `with timeout(s):`,
or for its whole life with `ctx.go(fn)` — gets the context's error raised
inside it at its next exception-safe point, even in a loop that never
calls the runtime.

Invariants:

* A goroutine's active scopes form a stack (`g.scopes`, outermost first).
  When any of them is cancelled, the exception raised is that of the
  *outermost* cancelled scope, so it unwinds through every inner scope to
  the one that owns it; an inner scope's __exit__ never swallows it.
* Level-triggered, as in Trio: while a cancelled scope is active, its
  exception is raised again at the next safe point after the previous one
  stopped being handled — catching it (`except TimeoutError: pass`) inside
  the scope does not cancel the cancellation.  It is not re-raised while
  an `except`/`finally` block is still handling the previous one, so
  cleanup code runs.
* Nothing fires after its block has exited: __exit__ marks the scope
  inactive and withdraws any pending exception of it, under sched.lock,
  which deliveries from other threads also take.
* Inside `nopreempt()` the exception waits for the region's end.

Lock order: a context's `_mu`, then a channel's lock, then sched.lock.
"""

from __future__ import annotations

import _thread
import sys
import time
from typing import Any, Callable

from . import _excsafe, _hazards, _join, _sched
from ._chan import Chan
from ._g import G
from ._timers import RuntimeTimer


class Cancelled(BaseException):
    """Raised in a goroutine bound to a context that was cancelled.  A
    BaseException, like asyncio.CancelledError: `except Exception` in
    library code does not swallow it.  `.context` is the context."""

    context: "Context | None" = None


class Timeout(TimeoutError):
    """Raised in a goroutine bound to a context whose deadline passed (and
    by `with timeout(s):`).  A TimeoutError.  `.context` is the context."""

    context: "Context | None" = None


class Context:
    """Go's context.Context.  Make one with background(), with_cancel(),
    with_timeout(), with_deadline() or with_value(); never directly."""

    __slots__ = ("_parent", "_mu", "_done", "_err", "_children", "_scopes",
                 "_deadline", "_timer", "_key", "_value")

    def __init__(self, parent: Context | None, cancellable: bool) -> None:
        self._parent = parent
        self._mu = _thread.allocate_lock()
        self._done: Chan | None = Chan() if cancellable else None
        self._err: BaseException | None = None
        self._children: set[Context] = set()
        self._scopes: set[Scope] = set()
        self._deadline: float | None = parent._deadline if parent is not None else None
        self._timer: DeadlineTimer | None = None
        self._key: Any = None
        self._value: Any = None

    def __repr__(self) -> str:
        state = f" err={type(self._err).__name__}" if self.err() is not None else ""
        return f"<Context{state}>"

    def _canceller(self) -> Context | None:
        """The nearest context up the tree (self included) that can be
        cancelled; None for background()."""
        c: Context | None = self
        while c is not None and c._done is None:
            c = c._parent
        return c

    def done(self) -> Chan:
        """A channel closed when this context is cancelled (never, for background())."""
        c = self._canceller()
        return c._done if c is not None else _NEVER  # type: ignore[return-value]

    def err(self) -> BaseException | None:
        """None while not cancelled; then a Cancelled or a Timeout instance."""
        c = self._canceller()
        return c._err if c is not None else None

    def deadline(self) -> float | None:
        """When it times out, in time.monotonic() seconds; None if never."""
        return self._deadline

    def value(self, key: Any) -> Any:
        """The value bound to key by with_value() here or up the tree; None if none."""
        c: Context | None = self
        while c is not None:
            if c._key is not None and c._key == key:
                return c._value
            c = c._parent
        return None

    def scope(self) -> Scope:
        """`with ctx.scope():` — this context's cancellation is raised inside
        the block (Cancelled or Timeout), even in CPU-bound code."""
        return Scope(self)

    def go(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> G:
        """Start fn(*args, **kwargs) in a goroutine bound to this context for
        its whole life.  Dying of the context's error is no panic."""
        return _sched.go(_run_bound, self, fn, args, kwargs)


@_hazards.transparent
def _run_bound(ctx: Context, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    with Scope(ctx):
        return fn(*args, **kwargs)


_NEVER = Chan()  # background().done(): nothing ever closes it
_BACKGROUND = Context(None, cancellable=False)


def background() -> Context:
    """The root context: never cancelled, no deadline, no values."""
    return _BACKGROUND


def with_cancel(parent: Context) -> tuple[Context, Callable[[], None]]:
    """A child of parent and the function that cancels it (idempotent).
    Cancelling parent cancels the child too."""
    ctx = _child(parent, "with_cancel")
    return ctx, lambda: cancel(ctx, Cancelled("context canceled"))


def with_deadline(parent: Context, deadline: float) -> tuple[Context, Callable[[], None]]:
    """with_cancel() that also times out at `deadline` (time.monotonic()
    seconds), or at parent's deadline if earlier."""
    from ._time import duration_ns, local_p, running_sched

    ctx = _child(parent, "with_deadline")
    cancel_fn = lambda: cancel(ctx, Cancelled("context canceled"))  # noqa: E731
    if ctx._deadline is not None and ctx._deadline <= deadline:
        return ctx, cancel_fn  # parent times out first: its cancellation covers this
    delay = duration_ns(deadline - time.monotonic(), "with_deadline()")
    ctx._deadline = deadline
    s = running_sched("with_deadline()")
    timer = ctx._timer = DeadlineTimer(ctx)
    with s.lock:
        _sched.add_timer(s, local_p(s), _sched.nanotime() + delay, timer)
    return ctx, cancel_fn


def with_timeout(parent: Context, seconds: float) -> tuple[Context, Callable[[], None]]:
    """with_deadline(parent, time.monotonic() + seconds)."""
    from ._time import duration_ns

    duration_ns(seconds, "with_timeout()")
    return with_deadline(parent, time.monotonic() + seconds)


def with_value(parent: Context, key: Any, value: Any) -> Context:
    """A child of parent carrying key -> value (key must not be None)."""
    _check_parent(parent, "with_value")
    if key is None:
        raise ValueError("with_value(): key must not be None")
    ctx = Context(parent, cancellable=False)
    ctx._key = key
    ctx._value = value
    return ctx


def _check_parent(parent: Any, what: str) -> None:
    if not isinstance(parent, Context):
        raise TypeError(f"{what}() needs a parent Context, not {type(parent).__name__}")


def _child(parent: Context, what: str) -> Context:
    _check_parent(parent, what)
    ctx = Context(parent, cancellable=True)
    up = parent._canceller()
    if up is not None:
        with up._mu:
            if up._err is None:
                up._children.add(ctx)
                return ctx
        cancel(ctx, up._err)  # parent already cancelled: so is the child
    return ctx


def cancel(ctx: Context, err: BaseException) -> None:
    """Cancel ctx and its descendants with err (the first cancellation wins)."""
    with ctx._mu:
        if ctx._err is not None:
            return
        ctx._err = err
        children, ctx._children = ctx._children, set()
        scopes = list(ctx._scopes)
        timer = ctx._timer
    ctx._done.close()  # type: ignore[union-attr]
    if timer is not None:
        timer.stop()
    up = ctx._parent._canceller() if ctx._parent is not None else None
    if up is not None:
        with up._mu:
            up._children.discard(ctx)
    for child in children:
        cancel(child, err)
    for sc in scopes:
        sc.notify()


class DeadlineTimer(RuntimeTimer):
    """Cancels its context with a Timeout when the deadline passes."""

    __slots__ = ("ctx",)
    urgent = True  # it exists to interrupt running code: no wakeup granularity

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def fire(self, seq: int, p: Any) -> None:
        cancel(self.ctx, Timeout("context deadline exceeded"))

    def stop(self) -> None:
        s = _sched.sched
        if s is not None:
            with s.lock:
                self.timer_seq = 0


class Scope:
    """Binds the calling goroutine to a context for a `with` block."""

    __slots__ = ("ctx", "g", "active")

    def __init__(self, ctx: Context) -> None:
        _check_parent(ctx, "scope")
        self.ctx = ctx
        self.g: G | None = None
        self.active = False

    def cancelled(self) -> bool:
        return self.ctx.err() is not None

    def new_exc(self) -> BaseException:
        """A fresh exception to raise for this scope's cancellation."""
        err = self.ctx.err()
        exc = Timeout(*err.args) if isinstance(err, TimeoutError) else Cancelled(*err.args)  # type: ignore[union-attr]
        exc.context = self.ctx
        exc._scope = self  # type: ignore[attr-defined]
        return exc

    def __enter__(self) -> Scope:
        g = _sched.must_getg("a context scope")
        if self.g is not None:
            raise RuntimeError("a context scope cannot be entered twice")
        self.g = g
        stack = g.scopes
        if stack is None:
            stack = g.scopes = ScopeStack()
        stack.scopes.append(self)
        self.active = True
        _excsafe.prepare(sys._getframe(1), _sched.ENTRY_CODE)  # where it may raise
        up = self.ctx._canceller()
        if up is not None:
            with up._mu:
                if up._err is None:
                    up._scopes.add(self)
        if self.cancelled():
            stack.cancelled = True
            if not g.nopreempt:  # else: raised when the nopreempt() region ends
                exc = stack.outermost_cancelled().new_exc()  # type: ignore[union-attr]
                self._leave(g)  # the block never runs, and __exit__ is not called
                if g.scopes is not None:
                    g.scopes.gate = exc
                g.thrown = exc
                raise exc
        return self

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        self._leave(self.g)  # type: ignore[arg-type]
        return False  # its exception propagates: a timeout is not swallowed

    def _leave(self, g: G) -> None:
        stack = g.scopes
        if stack is None or not stack.scopes or stack.scopes[-1] is not self:
            raise RuntimeError("context scopes must exit in the reverse order of entry")
        up = self.ctx._canceller()
        if up is not None:
            with up._mu:
                up._scopes.discard(self)
        s = _sched.sched
        with s.lock:  # against a delivery from another thread (notify)
            self.active = False
            if getattr(g.pending_exc, "_scope", None) is self:
                g.pending_exc = None
        stack.scopes.pop()
        if getattr(stack.gate, "_scope", None) is self:
            stack.gate = None
        stack.cancelled = any(sc.cancelled() for sc in stack.scopes)
        if not stack.scopes:
            g.scopes = None

    def notify(self) -> None:
        """The context was cancelled: have the goroutine raise at its next
        exception-safe point (from another thread, or a timer)."""
        g = self.g
        stack = g.scopes  # type: ignore[union-attr]
        if stack is None or not self.active:
            return
        stack.cancelled = True
        outer = stack.outermost_cancelled()
        if outer is None:
            return
        exc = outer.new_exc()
        stack.gate = exc
        _join.interrupt(g, exc, still=lambda: self.active and g.pending_exc is None)  # type: ignore[arg-type]


class ScopeStack:
    """A goroutine's active scopes, outermost first (g.scopes)."""

    __slots__ = ("scopes", "cancelled", "gate")

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.cancelled = False  # some active scope is cancelled
        self.gate: BaseException | None = None  # last exception raised for a scope

    def outermost_cancelled(self) -> Scope | None:
        for sc in self.scopes:
            if sc.cancelled():
                return sc
        return None

    def promote(self, g: G) -> None:
        """In g's own context: make the outermost cancelled scope's exception
        pending again, unless one is pending, g is in nopreempt(), or the
        previous one is still being handled (an except/finally block)."""
        if g.pending_exc is not None or g.nopreempt:
            return
        if self.gate is not None and _handling(self.gate):
            return
        sc = self.outermost_cancelled()
        if sc is None:
            self.cancelled = False
            return
        exc = self.gate = sc.new_exc()
        g.thrown = exc
        g.pending_exc = exc


def _handling(exc: BaseException) -> bool:
    """Whether exc is being handled in this thread's current frames."""
    e = sys.exception()
    while e is not None:
        if e is exc:
            return True
        e = e.__context__
    return False


class timeout(Scope):
    """`with timeout(seconds):` — raise Timeout inside the block once
    `seconds` have passed, at the next exception-safe point, even in
    CPU-bound code.  The Timeout propagates out of the block (catch it
    outside).  Nested timeouts: the earliest deadline fires; the exception
    raised belongs to the outermost expired one, and is re-raised if code
    inside swallows it."""

    __slots__ = ("seconds", "_cancel")

    def __init__(self, seconds: float) -> None:
        from ._time import duration_ns

        duration_ns(seconds, "timeout()")
        self.seconds = seconds
        self.g = None
        self.active = False

    def __enter__(self) -> timeout:
        g = _sched.must_getg("timeout()")
        stack = g.scopes
        parent = stack.scopes[-1].ctx if stack is not None and stack.scopes else _BACKGROUND
        self.ctx, self._cancel = with_timeout(parent, self.seconds)
        try:
            super().__enter__()
        except BaseException:
            self._cancel()
            raise
        return self

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        try:
            return super().__exit__(typ, exc, tb)
        finally:
            self._cancel()

    @property
    def expired(self) -> bool:
        """Whether the deadline passed (the block got, or will get, Timeout)."""
        return isinstance(self.ctx.err(), TimeoutError) if self.g is not None else False
