"""Property-based tests (hypothesis) of channels and select against reference
models of Go's channel semantics, under 1 ms time slices with CPU work between
operations (so asynchronous preemption interleaves them), with procs=1 and 2.

Models and properties:

* sequential (``_SeqModel``): one goroutine (plus a CPU hog it is preempted
  for) runs random non-blocking, blocking-but-ready and timed-out operations;
  a deque per channel predicts every result exactly, except which ready case
  a select picks (it must be a ready one, and only that case has an effect).
  A timed-out send/receive/select changes nothing.  A select on nil channels
  only takes the default or times out.
* interleavings (``_explore``): small programs of up to three goroutines
  (main joins the others) over unbuffered and buffered channels, with
  send/recv/close/try_*/timed ops/select and ops that block forever; every
  interleaving of an abstract Go semantics gives the set of possible final
  logs and whether a deadlock is possible.  The runtime's logs must be one of
  the model's outcomes: `gr.Deadlock` only when the model allows it, with the
  logs of a stuck state, and completion otherwise, with reachable logs.
* streams: producers send numbered values by send / select (several send
  cases) / try_send loops / timed sends that are retried or given up;
  consumers take them by recv / recv_ok / iteration / select / try_recv /
  timed receive; channels are closed after the producers finish or early,
  while they still send.  Every value whose send returned is received exactly
  once, on the channel the send reported; a value whose send raised (closed,
  timed out) is never received; per consumer, each producer's values on one
  channel arrive in order; a consumer that sees "closed" sees an empty buffer.
* close: senders blocked on a full channel (by send, select, timed send) and
  receivers blocked on an empty one get ChanClosed / ok False when it is
  closed; the buffered values are drained first and the blocked senders'
  values are never received.
* races: a receiver with a short timeout, or one hit by throw(), racing a
  sender (blocking, timed, select, try_send loop), and a blocked sender hit by
  throw() racing a timed receiver: the value ends up in exactly one place —
  received, still in the channel / with a blocked sender, or kept by a sender
  whose send timed out or raised.
* select fairness: each of four always-ready cases is picked >= 40 times in
  400 selects (receive, send, mixed).

Every hypothesis run happens in a fresh interpreter (run_isolated), so a hang
fails one test with a thread dump; each example is printed before it runs,
so the last line of the child's stdout names a hanging program.
"""
from __future__ import annotations

import collections
import traceback

import pytest

import goroutines as gr
from goroutines import _debug
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(240)

# hypothesis is in the `test` extra: without it this module fails to import
# (never a silent skip).  The isolated children import this module too.
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STRESS = _debug.parse().preemptstress  # GOROUTINES_DEBUG=preemptstress=1: fewer examples
SLICE = 0.001
SPINS = [0, 0, 100, 1000, 4000, 12000]  # spin(12000) is about 1 ms of bytecode
PROCS = [1, 2]


def _work(n):
    """CPU work between operations.  Under preemptstress every loop iteration
    is already a preemption (and costs tens of microseconds): scale it down."""
    return spin(n // 200 if STRESS else n)


def _cached(build):
    """Strategies built once per channel count (building them per draw costs
    more than running the example)."""
    cache = {}

    def get(nch):
        if nch not in cache:
            cache[nch] = build(nch)
        return cache[nch]

    return get


def _settings(n, stress_n=None):
    """Deterministic hypothesis settings: no database, derandomized, no
    explain phase (its tracer wants sys.monitoring tool id 3, the runtime's)."""
    return settings(
        max_examples=(stress_n if stress_n is not None else max(3, n // 4)) if STRESS else n,
        deadline=None, derandomize=True, database=None, print_blob=False,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck))


def _check(prop, counts):
    """Run a @given property here (in the child); a JSON report for the parent."""
    try:
        prop()
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        text = "".join(traceback.format_exception(e))
        return {"failure": text[-12000:], "counts": counts}
    return {"failure": None, "counts": counts}


def _assert_reached(counts, keys):
    """Each outcome in keys happened at least once (the examples really reach
    both sides of each race).  Checked in the normal run only: under
    preemptstress the examples are fewer and the timing is skewed."""
    if not STRESS:
        missing = [k for k in keys if counts.get(k, 0) == 0]
        assert not missing, (missing, counts)


def _assert_ok(r):
    if r["failure"] is not None:  # hypothesis's shrunk failing example is at its end
        pytest.fail(r["failure"], pytrace=False)
    assert r["counts"].get("preemptions", 0) > 0, r["counts"]  # CPU work was interrupted


def _run(main, procs, counts):
    """run(main) with 1 ms slices; count the asynchronous preemptions."""
    try:
        return gr.run(main, procs=procs, time_slice=SLICE)
    finally:
        counts["preemptions"] += gr.stats()["preemptions"]


class _Hog:
    """A CPU-bound goroutine that makes the others be preempted (procs=1) or
    run beside computation (procs=2) until stopped."""

    def __init__(self):
        self.stopped = False
        self.g = gr.go(self._loop)

    def _loop(self):
        while not self.stopped:
            spin(300)

    def stop(self):
        self.stopped = True
        self.g.join()


# ============================================================ sequential model

T_SEQ = [0.001, 0, -0.5]  # a timeout <= 0 polls once, like Go's


@_cached
def _seq_ops(nch):
    chan = st.integers(0, nch - 1)
    maybe_chan = st.one_of(chan, chan, st.none())  # None: Go's nil channel
    case = st.tuples(st.sampled_from(["r", "s"]), maybe_chan)
    send = st.tuples(st.just("send"), chan, st.sampled_from(["plain", "select", "timeout"]))
    recv = st.tuples(st.just("recv"), chan,
                     st.sampled_from(["recv", "recv_ok", "select", "iter", "timeout"]))
    select = st.tuples(st.just("select"), st.lists(case, max_size=4),
                       st.sampled_from(["block", "default", "timeout"]))
    try_send = st.tuples(st.just("try_send"), chan)
    try_recv = st.tuples(st.just("try_recv"), chan)
    burst = st.tuples(st.sampled_from(["sends", "recvs"]), chan, st.integers(1, 4))
    op = st.one_of(send, send, send, recv, recv, recv, select, select, select, try_send,
                   try_recv, burst, burst, st.tuples(st.just("len"), chan))
    return st.lists(st.tuples(op, st.sampled_from(SPINS)), min_size=6, max_size=25), chan


@st.composite
def _seq_programs(draw):
    caps = draw(st.lists(st.sampled_from([2, 4, 1, 0]), min_size=1, max_size=2))
    ops_st, chan = _seq_ops(len(caps))
    ops = []
    for op, n in draw(ops_st):  # a burst: that many sends / receives
        if op[0] in ("sends", "recvs"):
            kind = "send" if op[0] == "sends" else "recv"
            ops.extend([((kind, op[1], "plain" if kind == "send" else "recv"), 0)] * op[2])
        else:
            ops.append((op, n))
    for _ in range(draw(st.integers(0, 2))):  # closes, late rather than early (a second raises)
        ops.insert(draw(st.integers(len(ops) // 2, len(ops))), (("close", draw(chan)), 0))
    return caps, ops, draw(st.sampled_from(T_SEQ))


class _SeqModel:
    """Channels as deques: the exact state a single goroutine sees."""

    def __init__(self, caps):
        self.caps = caps
        self.bufs = [collections.deque() for _ in caps]
        self.closed = [False] * len(caps)

    def ready(self, kind, c, v):
        """Poll one case: [(result, effect)] if it can proceed now, else []."""
        buf = self.bufs[c]
        if kind == "r":
            if buf:
                return [(("v", buf[0]), buf.popleft)]
            if self.closed[c]:
                return [(("eof",), None)]
            return []
        if self.closed[c]:
            return [(("sclosed",), None)]
        if len(buf) < self.caps[c]:
            return [(("sent",), lambda: buf.append(v))]
        return []

    def expect(self, op, v):
        """[(outcome, effect)]: what op may do now; and whether it would block."""
        kind = op[0]
        simple = {"v": lambda r: ("v", r[1]), "eof": lambda r: ("closed",),
                  "sent": lambda r: ("sent",), "sclosed": lambda r: ("closed",)}
        if kind in ("send", "recv", "try_send", "try_recv"):
            r = self.ready("s" if "send" in kind else "r", op[1], v)
            poss = [(simple[res[0]](res), eff) for res, eff in r]
            if poss:
                return poss, False
            if kind == "try_send":
                return [(("full",), None)], False
            if kind == "try_recv":
                return [(("empty",), None)], False
            return [(("timeout",), None)], True
        if kind == "close":
            c = op[1]
            if self.closed[c]:
                return [(("closed",), None)], False
            return [(("ok",), lambda: self.closed.__setitem__(c, True))], False
        if kind == "len":
            return [(("len", len(self.bufs[op[1]])), None)], False
        assert kind == "select"
        poss = []
        for i, (k, c) in enumerate(op[1]):
            if c is None:
                continue
            for res, eff in self.ready(k, c, (v, i)):
                if res[0] == "v":
                    poss.append((("case", i, res[1], True), eff))
                elif res[0] == "eof":
                    poss.append((("case", i, None, False), eff))
                elif res[0] == "sent":
                    poss.append((("case", i, None, True), eff))
                else:
                    poss.append((("closed",), eff))
        if poss:
            return poss, False
        if op[2] == "default":
            return [(("default",), None)], False
        return [(("timeout",), None)], True


def _sel_outcome(r, cases):
    """Canonical log entry of a select's result."""
    if r.index is None:
        assert r == (None, None, False), r
        return ("default",)
    if isinstance(cases[r.index], gr.Send):
        assert r.value is None and r.ok is True, r
    return ("case", r.index, r.value, r.ok)


def _seq_do(op, v, chans, would_block, t):
    """Perform op concretely; timed variants (and any op that would block)
    use timeout t."""
    kind = op[0]
    try:
        if kind == "send":
            ch, how = chans[op[1]], op[2]
            if how == "plain" and not would_block:
                ch.send(v)
            elif how == "select" and not would_block:
                cases = (gr.Recv(None), gr.Send(ch, v))
                assert _sel_outcome(gr.select(*cases), cases) == ("case", 1, None, True)
            else:
                ch.send(v, timeout=t)
            return ("sent",)
        if kind == "recv":
            ch, how = chans[op[1]], op[2]
            if would_block:
                how = "timeout"
            if how == "recv":
                return ("v", ch.recv())
            if how == "select":
                cases = (gr.Recv(ch), gr.Send(None, 0))
                out = _sel_outcome(gr.select(*cases), cases)
                assert out[1] == 0, out
                return ("v", out[2]) if out[3] else ("closed",)
            if how == "iter":
                x = next(iter(ch), _EOF)
                return ("closed",) if x is _EOF else ("v", x)
            x, ok = ch.recv_ok() if how == "recv_ok" else ch.recv_ok(timeout=t)
            if not ok:
                assert x is None
                return ("closed",)
            return ("v", x)
        if kind == "try_send":
            return ("sent",) if chans[op[1]].try_send(v) else ("full",)
        if kind == "try_recv":
            x, ready = chans[op[1]].try_recv()
            if not ready:
                assert x is None
                return ("empty",)
            return ("v", x)
        if kind == "close":
            chans[op[1]].close()
            return ("ok",)
        if kind == "len":
            return ("len", len(chans[op[1]]))
        cases = [gr.Recv(None if c is None else chans[c]) if k == "r"
                 else gr.Send(None if c is None else chans[c], (v, i))
                 for i, (k, c) in enumerate(op[1])]
        if op[2] == "default":
            r = gr.select(*cases, default=True)
        elif op[2] == "timeout" or would_block:
            r = gr.select(*cases, timeout=t)
        else:
            r = gr.select(*cases)
        return _sel_outcome(r, cases)
    except gr.ChanClosed:
        return ("closed",)
    except TimeoutError:
        return ("timeout",)


_EOF = object()


def _scn_sequential(procs):
    counts = collections.Counter()

    @_settings(100, 30)
    @given(_seq_programs())
    def prop(p):
        caps, ops, t = p
        print("example", p, flush=True)

        def main():
            hog = _Hog()
            chans = [gr.Chan(c) for c in caps]
            model = _SeqModel(caps)
            trace = []
            for k, (op, n) in enumerate(ops):
                _work(n)
                poss, would_block = model.expect(op, k)
                got = _seq_do(op, k, chans, would_block, t)
                trace.append((op, got))
                for out, eff in poss:
                    if out == got:
                        if eff is not None:
                            eff()
                        break
                else:
                    raise AssertionError(f"op {k} {op}: got {got}, model allows "
                                         f"{[o for o, _ in poss]}; trace {trace}")
                counts[f"{op[0]}:{got[0]}"] += 1
                lens = [len(ch) for ch in chans]
                assert lens == [len(b) for b in model.bufs], (k, op, got, lens, trace)
            hog.stop()
            return trace

        _run(main, procs, counts)

    return _check(prop, counts)


@pytest.mark.parametrize("procs", PROCS)
def test_sequential_ops_match_model(procs):
    r = run_isolated(_scn_sequential, procs, timeout=200)
    _assert_ok(r)
    _assert_reached(r["counts"], (
        "send:sent", "send:timeout", "send:closed", "recv:v", "recv:timeout", "recv:closed",
        "try_send:full", "try_recv:empty", "select:case", "select:default", "select:timeout",
        "close:ok", "close:closed"))


# ============================================================ interleaving model

T_PROG = [0.001, 0.003, 0]
BLOCKS = ["select_nil", "select_empty", "private_chan", "waitgroup"]


def _val(g, k, i=0):
    """The value goroutine g's op k sends (case i of a select)."""
    return (g + 1) * 1000 + k * 10 + i


@_cached
def _prog_steps(nch):
    chan = st.integers(0, nch - 1)
    case = st.tuples(st.sampled_from(["r", "s"]),
                     st.one_of(chan, chan, chan, st.none()))
    op = st.one_of(
        st.tuples(st.just("send"), chan, st.sampled_from(["plain", "select"])),
        st.tuples(st.just("recv"), chan, st.sampled_from(["recv", "recv_ok", "select", "iter"])),
        st.tuples(st.just("close"), chan),
        st.tuples(st.just("try_send"), chan),
        st.tuples(st.just("try_recv"), chan),
        st.tuples(st.just("tsend"), chan, st.sampled_from(T_PROG)),
        st.tuples(st.just("trecv"), chan, st.sampled_from(T_PROG)),
        st.tuples(st.just("select"), st.lists(case, min_size=1, max_size=3),
                  st.sampled_from(["block", "block", "default", "timeout"])),
    )
    step = st.tuples(op, st.sampled_from(SPINS))
    return st.lists(step, max_size=4), st.lists(step, min_size=1, max_size=4)


@st.composite
def _programs(draw):
    caps = draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=1, max_size=2))
    steps, main_steps = _prog_steps(len(caps))
    ngo = draw(st.integers(1, 3))
    prog = [draw(main_steps if i == 0 else steps) for i in range(ngo)]
    if draw(st.integers(0, 2)) == 0:  # someone blocks forever at its end
        i = draw(st.integers(0, ngo - 1))
        prog[i].append((("block", draw(st.sampled_from(BLOCKS))), 0))
    return caps, prog


def _op_cases(op, g, k):
    """A channel op as select cases [(case, 'r'|'s', chan, value)], whether it
    parks (may wait for a partner) and its no-case-ready result."""
    kind = op[0]
    if kind in ("send", "tsend", "try_send"):
        cases = [(0, "s", op[1], _val(g, k))]
    elif kind in ("recv", "trecv", "try_recv"):
        cases = [(0, "r", op[1], None)]
    else:
        cases = [(i, kd, c, _val(g, k, i) if kd == "s" else None)
                 for i, (kd, c) in enumerate(op[1]) if c is not None]
    if kind == "select":
        fallback = {"block": None, "default": "default", "timeout": "timeout"}[op[2]]
    else:
        fallback = {"tsend": "timeout", "trecv": "timeout", "try_send": "full",
                    "try_recv": "empty"}.get(kind)
    return cases, fallback in (None, "timeout"), fallback


def _case_log(kind, ci, res):
    if kind == "select":
        return {"v": lambda: ("case", ci, res[1], True), "eof": lambda: ("case", ci, None, False),
                "sent": lambda: ("case", ci, None, True), "sclosed": lambda: ("closed",)}[res[0]]()
    return {"v": lambda: ("v", res[1]), "eof": lambda: ("closed",),
            "sent": lambda: ("sent",), "sclosed": lambda: ("closed",)}[res[0]]()


def _moves(prog, caps, state):
    """Every next state of the abstract semantics (a superset of the runtime's
    behaviours: a partner blocked in the runtime is 'not arrived yet' here)."""
    pcs, bufs, closed, logs = state
    n = len(prog)

    def nxt(adv, new_bufs=None, new_closed=None):
        p, lg = list(pcs), list(logs)
        for i, entry in adv:
            p[i] += 1
            if entry is not None:
                lg[i] = lg[i] + (entry,)
        return (tuple(p), bufs if new_bufs is None else new_bufs,
                closed if new_closed is None else new_closed, tuple(lg))

    def with_buf(c, b):
        return bufs[:c] + (b,) + bufs[c + 1:]

    for i, ops in enumerate(prog):
        pc = pcs[i]
        if pc == len(ops):
            if i == 0 and all(pcs[j] == len(prog[j]) for j in range(1, n)):
                yield nxt([(0, None)])  # main joined everyone and returns
            continue
        if pc > len(ops):
            continue
        op = ops[pc][0]
        kind = op[0]
        if kind == "block":
            continue
        if kind == "close":
            c = op[1]
            if closed[c]:
                yield nxt([(i, ("closed",))])
            else:
                yield nxt([(i, ("ok",))], new_closed=closed[:c] + (True,) + closed[c + 1:])
            continue
        cases, parks, fallback = _op_cases(op, i, pc)
        any_ready = False
        for ci, kd, c, v in cases:
            buf = bufs[c]
            if kd == "r":
                if buf:
                    any_ready = True
                    yield nxt([(i, _case_log(kind, ci, ("v", buf[0])))], with_buf(c, buf[1:]))
                elif closed[c]:
                    any_ready = True
                    yield nxt([(i, _case_log(kind, ci, ("eof",)))])
            elif closed[c]:
                any_ready = True
                yield nxt([(i, _case_log(kind, ci, ("sclosed",)))])
            elif len(buf) < caps[c]:
                any_ready = True
                yield nxt([(i, _case_log(kind, ci, ("sent",)))], with_buf(c, buf + (v,)))
        if fallback is not None and not any_ready:
            yield nxt([(i, (fallback,))])
        # rendezvous on an unbuffered channel: i sends, j receives; one of
        # them must be parked (two non-blocking ops never meet)
        for ci, kd, c, v in cases:
            if kd != "s" or caps[c] != 0 or closed[c]:
                continue
            for j, ops_j in enumerate(prog):
                if j == i or pcs[j] >= len(ops_j) or ops_j[pcs[j]][0][0] in ("close", "block"):
                    continue
                op_j = ops_j[pcs[j]][0]
                cases_j, parks_j, _ = _op_cases(op_j, j, pcs[j])
                if not (parks or parks_j):
                    continue
                for cj, kj, cc, _ in cases_j:
                    if kj == "r" and cc == c:
                        yield nxt([(i, _case_log(kind, ci, ("sent",))),
                                   (j, _case_log(op_j[0], cj, ("v", v)))])


def _explore(prog, caps):
    """Outcomes of every interleaving: {("done"|"deadlock", logs)}."""
    n = len(prog)
    start = ((0,) * n, ((),) * len(caps), (False,) * len(caps), ((),) * n)
    seen, outcomes, stack = set(), set(), [start]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        if state[0][0] > len(prog[0]):
            outcomes.add(("done", state[3]))
            continue
        succ = list(_moves(prog, caps, state))
        if not succ:
            outcomes.add(("deadlock", state[3]))
        stack.extend(succ)
    return outcomes


def _prog_op(op, g, k, chans):
    """Run one op of a program for real; its canonical log entry."""
    kind = op[0]
    try:
        if kind == "send":
            ch = chans[op[1]]
            if op[2] == "plain":
                ch.send(_val(g, k))
            else:
                cases = (gr.Recv(None), gr.Send(ch, _val(g, k)))
                assert _sel_outcome(gr.select(*cases), cases) == ("case", 1, None, True)
            return ("sent",)
        if kind == "tsend":
            chans[op[1]].send(_val(g, k), timeout=op[2])
            return ("sent",)
        if kind == "try_send":
            return ("sent",) if chans[op[1]].try_send(_val(g, k)) else ("full",)
        if kind in ("recv", "trecv"):
            ch = chans[op[1]]
            how = op[2] if kind == "recv" else "timeout"
            if how == "recv":
                return ("v", ch.recv())
            if how == "iter":
                x = next(iter(ch), _EOF)
                return ("closed",) if x is _EOF else ("v", x)
            if how == "select":
                r = gr.select(gr.Send(None, 0), gr.Recv(ch))
                assert r.index == 1, r
                x, ok = r.value, r.ok
            else:
                x, ok = ch.recv_ok() if how == "recv_ok" else ch.recv_ok(timeout=op[2])
            return ("v", x) if ok else ("closed",)
        if kind == "try_recv":
            x, ready = chans[op[1]].try_recv()
            return ("v", x) if ready else ("empty",)
        if kind == "close":
            chans[op[1]].close()
            return ("ok",)
        if kind == "select":
            cases = [gr.Recv(None if c is None else chans[c]) if kd == "r"
                     else gr.Send(None if c is None else chans[c], _val(g, k, i))
                     for i, (kd, c) in enumerate(op[1])]
            if op[2] == "default":
                r = gr.select(*cases, default=True)
            elif op[2] == "timeout":
                r = gr.select(*cases, timeout=T_PROG[0])
            else:
                r = gr.select(*cases)
            return _sel_outcome(r, cases)
        assert kind == "block", op
        how = op[1]
        if how == "select_nil":
            gr.select(gr.Recv(None), gr.Send(None, 1))
        elif how == "select_empty":
            gr.select()
        elif how == "private_chan":
            gr.Chan().recv()
        else:
            wg = gr.WaitGroup()
            wg.add(1)
            wg.wait()
        raise AssertionError(f"{op} returned")
    except gr.ChanClosed:
        return ("closed",)
    except TimeoutError:
        return ("timeout",)


def _prog_goroutine(g, ops, chans, log):
    for k, (op, n) in enumerate(ops):
        _work(n)
        log.append(_prog_op(op, g, k, chans))


def _scn_programs(procs):
    counts = collections.Counter()

    @_settings(200, 80)
    @given(_programs())
    def prop(p):
        caps, prog = p
        print("example", p, flush=True)
        outcomes = _explore(prog, caps)
        kinds = {o[0] for o in outcomes}
        logs = [[] for _ in prog]

        def main():
            chans = [gr.Chan(c) for c in caps]
            gs = [gr.go(_prog_goroutine, g, prog[g], chans, logs[g]) for g in range(1, len(prog))]
            _prog_goroutine(0, prog[0], chans, logs[0])
            for g in gs:
                g.join()
            return "done"

        try:
            got = _run(main, procs, counts)
        except gr.Deadlock:
            got = "deadlock"
        seen = (got, tuple(tuple(lg) for lg in logs))
        counts[("must_" if len(kinds) == 1 else "mixed_") + got] += 1
        allowed = "only " + next(iter(kinds)) if len(kinds) == 1 else "done or deadlock"
        assert seen in outcomes, (f"runtime: {got} with logs {seen[1]}; the model allows "
                                  f"{allowed}: {sorted(outcomes, key=repr)[:20]}")

    return _check(prop, counts)


@pytest.mark.parametrize("procs", PROCS)
def test_programs_match_interleaving_model(procs):
    r = run_isolated(_scn_programs, procs, timeout=200)
    _assert_ok(r)
    c = r["counts"]
    # the generator must really produce both kinds of program
    assert c.get("must_deadlock", 0) >= (2 if STRESS else 10), c
    assert c.get("must_done", 0) >= (2 if STRESS else 10), c


# ============================================================ streams

SEND_KINDS = ["send", "select", "try", "tretry", "tgive", "selto"]
RECV_SINGLE = ["recv", "recv_ok", "iter", "trecv"]
RECV_MULTI = ["select", "select_to", "try"]
CONSUMER_SPINS = [0, 1000, 4000, 30000]


@_cached
def _stream_parts(nch):
    chan = st.integers(0, nch - 1)
    sop = st.tuples(st.sampled_from(SEND_KINDS), chan, st.one_of(st.none(), chan),
                    st.sampled_from(SPINS))
    producers = st.lists(st.lists(sop, min_size=3, max_size=10), min_size=2, max_size=4)
    # consumers that compute for up to ~1 ms per value make timed sends time out
    consumers = st.lists(st.tuples(st.sampled_from(RECV_SINGLE + RECV_MULTI),
                                   st.sets(chan, min_size=1), st.sampled_from(CONSUMER_SPINS)),
                         min_size=1, max_size=3)
    # closes while the producers still send (about one example in three)
    early = st.one_of(st.just([]), st.just([]), st.lists(
        st.tuples(chan, st.sampled_from([0, 4000, 12000, 30000])), min_size=1, max_size=2))
    return producers, consumers, early


@st.composite
def _streams(draw):
    caps = draw(st.lists(st.sampled_from([0, 1, 3]), min_size=1, max_size=3))
    producers_st, consumers_st, early_st = _stream_parts(len(caps))
    producers = draw(producers_st)
    kinds = st.sampled_from(RECV_SINGLE + RECV_MULTI)
    drawn = draw(consumers_st)
    consumers = []
    for kind, cs, n in drawn:
        cs = sorted(cs)
        consumers.append((kind, cs[:1] if kind in RECV_SINGLE else cs, n))
    covered = {c for _, cs, _ in consumers for c in cs}
    for c in range(len(caps)):  # every channel needs a consumer
        if c not in covered:
            consumers.append((draw(kinds), [c], draw(st.sampled_from(CONSUMER_SPINS))))
    early = draw(early_st)
    tmo = draw(st.sampled_from([0.0002, 0.0005, 0.002]))
    return caps, producers, consumers, early, tmo


def _produce(kind, chans, c, alt, v, tmo, counts):
    """Send v; ("sent", chan) or ("closed",) / ("timeout",) (v was not sent)."""
    ch = chans[c]
    two = alt is not None and alt != c
    cases = [gr.Send(ch, v), gr.Send(chans[alt], v) if two else gr.Recv(None), gr.Send(None, v)]
    try:
        if kind == "send":
            ch.send(v)
            return ("sent", c)
        if kind == "select":
            r = gr.select(*cases)
            assert r.index in ((0, 1) if two else (0,)) and r.value is None and r.ok, r
            return ("sent", (c, alt)[r.index])
        if kind == "try":
            for _ in range(30):
                if ch.try_send(v):
                    return ("sent", c)
                gr.gosched()
            ch.send(v)
            return ("sent", c)
        if kind == "tretry":
            while True:
                try:
                    ch.send(v, timeout=tmo)
                    return ("sent", c)
                except TimeoutError:
                    counts["send_timeout_retried"] += 1
        if kind == "tgive":
            try:
                ch.send(v, timeout=tmo)
                return ("sent", c)
            except TimeoutError:
                counts["send_timeout_given_up"] += 1
                return ("timeout",)
        assert kind == "selto"
        for _ in range(4):
            try:
                r = gr.select(*cases, timeout=tmo)
            except TimeoutError:
                counts["select_send_timeout"] += 1
                continue
            assert r.index in ((0, 1) if two else (0,)) and r.value is None and r.ok, r
            return ("sent", (c, alt)[r.index])
        return ("timeout",)
    except gr.ChanClosed:
        counts["send_closed"] += 1
        return ("closed",)


def _producer(pid, ops, chans, tmo, outcome, wg, counts):
    try:
        for seq, (kind, c, alt, n) in enumerate(ops):
            _work(n)
            v = (pid, seq)
            outcome[v] = _produce(kind, chans, c, alt, v, tmo, counts)
    finally:
        wg.done()


def _consumer(kind, cs, n, chans, tmo, log, violations, counts):
    def got(v, c):
        log.append((v, c))
        _work(n)

    def eof(c):
        if len(chans[c]) != 0:
            violations.append(f"closed seen on chan {c} with {len(chans[c])} buffered")

    def select_step(live, timeout=None):
        cases = [gr.Recv(chans[c]) for c in live] + [gr.Recv(None)]
        r = gr.select(*cases, timeout=timeout)
        assert r.index is not None and r.index < len(live), r
        c = live[r.index]
        if r.ok:
            got(r.value, c)
        else:
            assert r.value is None, r
            eof(c)
            live.remove(c)

    live = list(cs)
    if kind in RECV_SINGLE:
        c = live[0]
        ch = chans[c]
        if kind == "iter":
            for v in ch:
                got(v, c)
        else:
            while True:
                if kind == "recv":
                    try:
                        v, ok = ch.recv(), True
                    except gr.ChanClosed:
                        v, ok = None, False
                elif kind == "recv_ok":
                    v, ok = ch.recv_ok()
                else:
                    try:
                        v, ok = ch.recv_ok(timeout=tmo)
                    except TimeoutError:
                        counts["recv_timeout"] += 1
                        continue
                if not ok:
                    assert v is None
                    break
                got(v, c)
        eof(c)
    elif kind == "select":
        while live:
            select_step(live)
    elif kind == "select_to":
        while live:
            try:
                select_step(live, tmo)
            except TimeoutError:
                counts["recv_timeout"] += 1
    else:  # try_recv round robin; every 20 empty rounds one blocking select
        misses = 0
        while live:
            progress = False
            for c in list(live):
                try:
                    v, ready = chans[c].try_recv()
                except gr.ChanClosed:
                    eof(c)
                    live.remove(c)
                    progress = True
                    continue
                if ready:
                    got(v, c)
                    progress = True
            if not progress:
                misses += 1
                if misses % 20 == 0:
                    select_step(live)
                else:
                    gr.gosched()


def _scn_streams(procs):
    counts = collections.Counter()

    @_settings(80, 30)
    @given(_streams())
    def prop(p):
        caps, producers, consumers, early, tmo = p
        print("example", p, flush=True)
        outcome = {}
        logs = [[] for _ in consumers]
        violations = []

        def main():
            chans = [gr.Chan(c) for c in caps]
            cgs = [gr.go(_consumer, kind, cs, n, chans, tmo, logs[i], violations, counts)
                   for i, (kind, cs, n) in enumerate(consumers)]
            wg = gr.WaitGroup()
            wg.add(len(producers))
            for pid, ops in enumerate(producers):
                gr.go(_producer, pid, ops, chans, tmo, outcome, wg, counts)
            closed = set()
            for c, n in early:  # close while the producers still send
                _work(n)
                try:
                    chans[c].close()
                    assert c not in closed, f"second close of chan {c} did not raise"
                    closed.add(c)
                except gr.ChanClosed:
                    assert c in closed, f"first close of chan {c} raised"
                    counts["double_close"] += 1
            wg.wait()
            for c in range(len(chans)):
                if c not in closed:
                    chans[c].close()
            for g in cgs:
                g.join()

        _run(main, procs, counts)
        assert not violations, violations
        assert len(outcome) == sum(len(ops) for ops in producers)
        received = collections.Counter(v for log in logs for v, _ in log)
        on_chan = {v: c for log in logs for v, c in log}
        unknown = set(received) - set(outcome)
        assert not unknown, f"received values never sent: {sorted(unknown)}"
        dup = {v: k for v, k in received.items() if k > 1}
        assert not dup, f"duplicated: {dup}"
        lost = sorted(v for v, o in outcome.items() if o[0] == "sent" and v not in received)
        assert not lost, f"sent but never received: {lost} ({[outcome[v] for v in lost]})"
        ghost = sorted(v for v, o in outcome.items() if o[0] != "sent" and v in received)
        assert not ghost, f"send raised but received: {[(v, outcome[v]) for v in ghost]}"
        wrong = [(v, outcome[v][1], on_chan[v]) for v in received if on_chan[v] != outcome[v][1]]
        assert not wrong, f"received on another channel than sent (value, sent, got): {wrong}"
        for i, log in enumerate(logs):
            last = {}
            for (pid, seq), c in log:
                assert seq > last.get((pid, c), -1), (
                    f"consumer {i}: producer {pid}'s values out of order on chan {c}: {log}")
                last[(pid, c)] = seq
        counts["values_received"] += sum(received.values())
        counts["values_not_sent"] += sum(1 for o in outcome.values() if o[0] != "sent")

    return _check(prop, counts)


@pytest.mark.parametrize("procs", PROCS)
def test_streams_no_loss_no_dup_fifo(procs):
    r = run_isolated(_scn_streams, procs, timeout=200)
    _assert_ok(r)
    _assert_reached(r["counts"], ("values_received", "values_not_sent", "send_closed",
                                  "send_timeout_given_up", "send_timeout_retried",
                                  "select_send_timeout", "recv_timeout", "double_close"))


# ============================================================ close with blocked parties

SENDER_KINDS = ["send", "select", "select2", "tsend", "selto"]
RECEIVER_KINDS = ["recv", "recv_ok", "iter", "select", "select2", "trecv", "selto"]
DRAIN_KINDS = ["recv", "recv_ok", "iter", "select", "try_recv"]


@st.composite
def _close_scenarios(draw):
    side = draw(st.sampled_from(["senders", "receivers"]))
    kinds = draw(st.lists(st.sampled_from(SENDER_KINDS if side == "senders" else RECEIVER_KINDS),
                          min_size=1, max_size=4))
    return (draw(st.integers(0, 3)), side, kinds, draw(st.sampled_from(DRAIN_KINDS)),
            draw(st.sampled_from(SPINS)))


def _blocked_sender(kind, ch, v, n):
    other = gr.Chan()  # nobody sends on it
    _work(n)
    try:
        if kind == "send":
            ch.send(v)
        elif kind == "select":
            gr.select(gr.Send(ch, v), gr.Recv(None))
        elif kind == "select2":
            gr.select(gr.Recv(other), gr.Send(ch, v))
        elif kind == "tsend":
            ch.send(v, timeout=20)
        else:
            gr.select(gr.Send(ch, v), timeout=20)
    except gr.ChanClosed:
        return "closed"
    return "sent"


def _blocked_receiver(kind, ch, n):
    other = gr.Chan()  # nobody receives from it
    _work(n)
    if kind == "recv":
        try:
            return ["value", ch.recv()]
        except gr.ChanClosed:
            return "closed"
    if kind == "iter":
        got = list(ch)
        return "closed" if not got else ["values", got]
    if kind in ("recv_ok", "trecv"):
        x, ok = ch.recv_ok() if kind == "recv_ok" else ch.recv_ok(timeout=20)
    else:
        if kind == "select":
            r = gr.select(gr.Recv(None), gr.Recv(ch))
            want = 1
        elif kind == "select2":
            r = gr.select(gr.Recv(ch), gr.Send(other, 1))
            want = 0
        else:
            r = gr.select(gr.Recv(ch), timeout=20)
            want = 0
        if r.index != want:
            return ["index", r.index]
        x, ok = r.value, r.ok
    return "closed" if (x, ok) == (None, False) else ["value", x, ok]


def _drain(kind, ch):
    """Receive until closed by `kind`; the values received."""
    out = []
    if kind == "iter":
        return list(ch)
    while True:
        if kind == "recv":
            try:
                out.append(ch.recv())
            except gr.ChanClosed:
                return out
        elif kind == "recv_ok":
            x, ok = ch.recv_ok()
            if not ok:
                return out
            out.append(x)
        elif kind == "select":
            r = gr.select(gr.Recv(ch))
            if not r.ok:
                return out
            out.append(r.value)
        else:
            try:
                x, ready = ch.try_recv()
            except gr.ChanClosed:
                return out
            assert ready, "try_recv on a closed channel with values: not ready"
            out.append(x)


def _raises(exc, fn, *args, **kwargs):
    try:
        r = fn(*args, **kwargs)
    except exc:
        return True
    return ("returned", r)


def _scn_close(procs):
    counts = collections.Counter()

    @_settings(60, 24)
    @given(_close_scenarios())
    def prop(p):
        cap, side, kinds, drain, n = p
        print("example", p, flush=True)

        def main():
            hog = _Hog()
            ch = gr.Chan(cap)
            if side == "senders":
                for i in range(cap):
                    ch.send(("buf", i))
                gs = [gr.go(_blocked_sender, k, ch, ("blocked", j), n)
                      for j, k in enumerate(kinds)]
            else:
                gs = [gr.go(_blocked_receiver, k, ch, n) for k in kinds]
            wait_until(lambda: all(g.status == "waiting" for g in gs), what="blocked parties")
            assert len(ch) == (cap if side == "senders" else 0)
            ch.close()
            results = [g.join() for g in gs]
            assert results == ["closed"] * len(gs), results
            got = _drain(drain, ch)
            want = [("buf", i) for i in range(cap)] if side == "senders" else []
            assert got == want, (got, want)
            # a closed, drained channel stays so
            assert ch.recv_ok() == (None, False)
            assert _raises(gr.ChanClosed, ch.recv)
            assert _raises(gr.ChanClosed, ch.try_recv)
            assert list(ch) == []
            assert gr.select(gr.Recv(ch), default=True) == (0, None, False)
            assert _raises(gr.ChanClosed, ch.send, 1)
            assert _raises(gr.ChanClosed, ch.send, 1, timeout=1)
            assert _raises(gr.ChanClosed, ch.try_send, 1)
            assert _raises(gr.ChanClosed, gr.select, gr.Send(ch, 1), default=True)
            assert _raises(gr.ChanClosed, ch.close)
            assert len(ch) == 0
            hog.stop()

        _run(main, procs, counts)
        counts[side] += 1

    return _check(prop, counts)


@pytest.mark.parametrize("procs", PROCS)
def test_close_wakes_blocked_parties_and_drains(procs):
    r = run_isolated(_scn_close, procs, timeout=200)
    _assert_ok(r)


# ============================================================ races with timeouts and throw()

RACE_RECV = ["select_to", "recv_to", "select2_to", "throw_recv", "throw_select", "throw_select_to"]
RACE_SEND = ["send", "send_to", "send_to", "select_to", "select_to", "try_loop",
             "throw_send", "throw_select", "throw_send_to"]
RACE_SPINS = [0, 500, 1500, 4000, 8000, 15000, 30000]
_MISS = "<nothing>"
_TIMEOUT = "<timeout>"
# when the sender is the one thrown into, the receiver gives up by itself
_TIMED_RECV = {"throw_recv": "recv_to", "throw_select": "select2_to",
               "throw_select_to": "select_to"}


class Boom(Exception):
    pass


_race_rounds = st.lists(
    st.tuples(st.sampled_from(RACE_RECV), st.sampled_from(RACE_SEND), st.sampled_from([0, 1]),
              st.sampled_from(RACE_SPINS), st.sampled_from(RACE_SPINS),
              st.sampled_from([0.0005, 0.001, 0.002])),
    min_size=4, max_size=14)


def _race_round(i, rk, sk, cap, delay, d_throw, tmo, counts):
    """One value, one receiver, one sender; a timeout or a throw() into one
    of them races the hand-over.  The value must end up exactly once in:
    the receiver, the channel (drained by main), or — not at all — with a
    sender whose send raised."""
    victim = "sender" if sk.startswith("throw") else "receiver" if rk.startswith("throw") else None
    if victim == "sender":
        rk, cap = _TIMED_RECV.get(rk, rk), 0  # the sender must park
    ch = gr.Chan(cap)
    other = gr.Chan()
    v = ("v", i)
    rbox, sbox = [], []

    # Each result is stored by the very statement that sends/receives:
    # throw() is raised at the next exception-safe point, which must not fall
    # between taking the value and recording it.  `finally` bodies are not
    # exception-safe, so the recording itself is never interrupted.
    def receiver():
        res = _MISS
        try:
            if victim == "sender":
                _work(delay)
            if rk == "select_to":
                res = gr.select(gr.Recv(ch), timeout=tmo)
            elif rk == "recv_to":
                res = ch.recv(timeout=tmo)
            elif rk == "select2_to":
                res = gr.select(gr.Recv(other), gr.Send(None, 0), gr.Recv(ch), timeout=tmo)
            elif rk == "throw_recv":
                res = ch.recv()
            elif rk == "throw_select":
                res = gr.select(gr.Recv(other), gr.Send(None, 0), gr.Recv(ch))
            else:
                res = gr.select(gr.Recv(ch), timeout=20)
        except TimeoutError:
            res = _TIMEOUT
        finally:
            rbox.append(res)

    def sender():
        res = "unsent"
        try:
            if victim != "sender":
                _work(delay)
            if sk in ("send", "throw_send"):
                ch.send(v)
                res = "sent"
            elif sk == "send_to":
                ch.send(v, timeout=tmo)
                res = "sent"
            elif sk == "throw_send_to":
                ch.send(v, timeout=20)
                res = "sent"
            elif sk == "select_to":
                res = gr.select(gr.Recv(None), gr.Send(ch, v), timeout=tmo)
            elif sk == "throw_select":
                res = gr.select(gr.Recv(other), gr.Send(ch, v))
            else:
                for _ in range(40):
                    if ch.try_send(v):
                        res = "sent"
                        break
                    _work(100)
        except TimeoutError:
            res = "timeout"
        finally:
            sbox.append(res)

    if victim == "sender":
        sg = gr.go(sender)
        wait_until(lambda: sg.status == "waiting" or sbox, what="sender to block")
        rg = gr.go(receiver)
    else:
        rg = gr.go(receiver)
        if victim == "receiver":
            wait_until(lambda: rg.status == "waiting" or rbox, what="receiver to block")
        sg = gr.go(sender)
    if victim is not None:
        _work(d_throw)
        (sg if victim == "sender" else rg).throw(Boom("interrupt"))
    try:
        rg.join()
    except Boom:
        pass
    got = rbox[0] if rbox else _MISS
    if isinstance(got, gr.Selected):
        assert got.index == {"select2_to": 2, "throw_select": 2}.get(rk, 0) and got.ok, got
        got = got.value
    drained = []
    if sk == "send" and got != v:
        drained.append(ch.recv())  # the sender (or the buffer) still holds v
    try:
        sg.join()
    except Boom:
        pass
    while True:
        x, ready = ch.try_recv()
        if not ready:
            break
        drained.append(x)
    sres = sbox[0] if sbox else "unsent"
    if isinstance(sres, gr.Selected):
        assert sres == ({"select_to": 1, "throw_select": 1}[sk], None, True), sres
        sres = "sent"
    assert got in (v, _MISS, _TIMEOUT), got
    assert all(x == v for x in drained), drained
    n = (got == v) + drained.count(v)
    where = {1: "received", 0: "not received"}.get(n, f"received {n} times")
    assert n == (1 if sres == "sent" else 0), (
        f"round {i} {rk}/{sk} cap={cap}: receiver got {got!r}, drained {drained}, "
        f"sender says {sres!r}: value {where}")
    race = f"throw_{victim}" if victim else "timeout"
    counts[f"{race}:{'received' if got == v else 'not_received'}"] += 1
    counts[f"sender:{sres}"] += 1


def _scn_races(procs):
    counts = collections.Counter()

    @_settings(50, 20)
    @given(_race_rounds)
    def prop(rounds):
        print("example", rounds, flush=True)

        def main():
            for i, rnd in enumerate(rounds):
                _race_round(i, *rnd, counts)

        _run(main, procs, counts)

    return _check(prop, counts)


@pytest.mark.parametrize("procs", PROCS)
def test_timeout_and_throw_races_never_lose_or_duplicate(procs):
    r = run_isolated(_scn_races, procs, timeout=200)
    _assert_ok(r)
    _assert_reached(r["counts"], (
        "timeout:received", "timeout:not_received", "throw_receiver:received",
        "throw_receiver:not_received", "throw_sender:received", "throw_sender:not_received",
        "sender:timeout"))


# ============================================================ select fairness, nil, default

def _scn_select_fairness(procs):
    # (few Python-level loops per select: under preemptstress each costs a
    # preemption)
    def main():
        hog = _Hog()
        out = {}
        # four receive cases, always ready (channel i holds value i)
        chans = [gr.Chan(1) for _ in range(4)]
        for i, ch in enumerate(chans):
            ch.send(i)
        cases = [gr.Recv(ch) for ch in chans]
        lens_after = [[int(j != i) for j in range(4)] for i in range(4)]
        counts = [0] * 4
        for _ in range(400):
            r = gr.select(*cases)
            assert r.value == r.index and r.ok, r
            assert list(map(len, chans)) == lens_after[r.index]
            counts[r.index] += 1
            chans[r.index].send(r.index)
            _work(50)
        out["recv"] = counts
        # four send cases, always ready
        chans = [gr.Chan(1) for _ in range(4)]
        cases = [gr.Send(ch, i) for i, ch in enumerate(chans)]
        lens_after = [[int(j == i) for j in range(4)] for i in range(4)]
        counts = [0] * 4
        for _ in range(400):
            r = gr.select(*cases)
            assert r.value is None and r.ok, r
            assert list(map(len, chans)) == lens_after[r.index]
            assert chans[r.index].recv() == r.index
            counts[r.index] += 1
            _work(50)
        out["send"] = counts
        # two of each, plus nil channels that never fire
        full = [gr.Chan(1), gr.Chan(1)]
        room = [gr.Chan(1), gr.Chan(1)]
        for ch in full:
            ch.send("x")
        cases = [gr.Recv(full[0]), gr.Send(None, 0), gr.Send(room[0], "y"),
                 gr.Recv(full[1]), gr.Recv(None), gr.Send(room[1], "y")]
        all4 = full + room
        counts = [0] * 6
        for _ in range(400):
            r = gr.select(*cases)
            assert r.index in (0, 2, 3, 5), r
            counts[r.index] += 1
            if r.index in (0, 3):
                assert r == (r.index, "x", True), r
                full[r.index // 3].send("x")
            else:
                assert r == (r.index, None, True), r
                assert room[r.index // 5].recv() == "y"
            assert list(map(len, all4)) == [1, 1, 0, 0]
            _work(50)
        out["mixed"] = [counts[i] for i in (0, 2, 3, 5)]
    # nil channels: never ready; default, timeout
        unbuf = gr.Chan()
        out["nil_default"] = [
            tuple(gr.select(gr.Recv(None), gr.Send(None, 1), default=True)),
            tuple(gr.select(default=True)),
            tuple(gr.select(gr.Recv(unbuf), gr.Send(unbuf, 1), gr.Recv(None), default=True)),
        ]
        try:
            gr.select(gr.Recv(None), gr.Send(None, 1), timeout=0.001)
            out["nil_timeout"] = "returned"
        except TimeoutError:
            out["nil_timeout"] = "timeout"
        hog.stop()
        return out

    stats = collections.Counter()
    out = _run(main, procs, stats)
    out["preemptions"] = stats["preemptions"]
    return out


@pytest.mark.parametrize("procs", PROCS)
def test_select_picks_every_ready_case_and_nil_takes_default(procs):
    out = run_isolated(_scn_select_fairness, procs, timeout=120)
    for what in ("recv", "send", "mixed"):
        assert min(out[what]) >= 40, (what, out[what])
    assert out["nil_default"] == [[None, None, False]] * 3, out
    assert out["nil_timeout"] == "timeout"
    assert out["preemptions"] > 0, out
