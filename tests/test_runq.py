"""Run queues: ports of Go's TestSchedLocalQueue / TestSchedLocalQueueSteal,
plus the affinity rules that greenlets impose (a started goroutine is bound
to its M: never stolen, and only its M takes it from the global queue)."""

from __future__ import annotations

from goroutines._g import G
from goroutines._runq import LOCAL_RUNQ_SIZE, GlobalRunQueue, LocalRunQueue


def gs(n, bound_to=None):
    out = [G(i + 1, print, (), {}) for i in range(n)]
    for g in out:
        g.m = bound_to
    return out


def test_sched_local_queue():
    # Go: for i in 0..255: put g[i] i times, then get it i times, then empty.
    q, overflow = LocalRunQueue(), GlobalRunQueue()
    g = gs(LOCAL_RUNQ_SIZE)
    for i in range(LOCAL_RUNQ_SIZE):
        assert q.empty()
        for _ in range(i):
            q.put(g[i], False, overflow)
        for _ in range(i):
            got, inherit = q.get()
            assert got is g[i] and not inherit
        assert q.get() == (None, False)
    assert len(overflow) == 0


def test_sched_local_queue_steal():
    # Go: put g[0..i-1] in p1, steal into p2, drain both: each g seen once,
    # and the thief takes half (i/2 or i/2+1).
    for i in range(LOCAL_RUNQ_SIZE):
        p1, p2, overflow = LocalRunQueue(), LocalRunQueue(), GlobalRunQueue()
        g = gs(i)
        for x in g:
            p1.put(x, False, overflow)
        first = p1.steal_into(p2)
        stolen = ([first] if first is not None else []) + list(p2.q)
        seen = stolen + [p1.get()[0] for _ in range(len(p1))]
        assert sorted(x.id for x in seen) == [x.id for x in g]
        assert len(stolen) in (i // 2, i // 2 + 1)


def test_runnext_runs_next_and_inherits_the_slice():
    q, overflow = LocalRunQueue(), GlobalRunQueue()
    a, b, c = gs(3)
    q.put(a, False, overflow)
    q.put(b, True, overflow)
    q.put(c, True, overflow)  # c replaces b as runnext; b goes to the tail
    assert q.get() == (c, True)
    assert q.get() == (a, False)
    assert q.get() == (b, False)


def test_full_ring_spills_half_to_the_global_queue():
    q, overflow = LocalRunQueue(), GlobalRunQueue()
    for x in gs(LOCAL_RUNQ_SIZE + 1):
        q.put(x, False, overflow)
    assert len(overflow) == LOCAL_RUNQ_SIZE // 2
    assert len(q) == LOCAL_RUNQ_SIZE // 2 + 1


def test_started_goroutines_are_never_stolen():
    m = object()
    p1, p2, overflow = LocalRunQueue(), LocalRunQueue(), GlobalRunQueue()
    for x in gs(10, bound_to=m):
        p1.put(x, False, overflow)
    assert p1.steal_into(p2) is None and len(p1) == 10


def test_global_queue_respects_affinity_and_order():
    m1, m2 = object(), object()
    q = GlobalRunQueue()
    a, = gs(1, bound_to=m1)
    b, = gs(1)
    c, = gs(1, bound_to=m2)
    for x in (a, b, c):
        q.put(x)
    assert q.get(m2) is b       # m2 may not take a (bound to m1); b is older than c
    assert q.get(m2) is c
    assert q.get(m2) is None and q.has_for(m1)
    assert q.get(m1, bound_only=True) is a
    assert len(q) == 0
