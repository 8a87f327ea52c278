"""gr.RWMutex, gr.Once, gr.Cond, gr.Semaphore, and WaitGroup reuse: Go's
semantics (writer preference, FIFO hand-off, once-even-if-it-raises),
throw() while parked, and invariants under asynchronous preemption."""
import os
import time

import pytest

import goroutines as gr
from _util import run_isolated, spin, wait_until

pytestmark = pytest.mark.timeout(60)

# preemptstress switches goroutines at every jump: keep the loops short there
STRESS = "preemptstress=1" in os.environ.get("GOROUTINES_DEBUG", "")
SCALE = 1 if STRESS else 5


class Boom(Exception):
    pass


def _raises(exc_type, fn, *args):
    """Inside a goroutine: the message if fn(*args) raises exc_type, else what happened."""
    try:
        r = fn(*args)
    except exc_type as e:
        return str(e)
    return ("returned", r)


def _start_blocked(fn, *args):
    """Start fn(*args) and wait until it has parked (so queue order is start order)."""
    g = gr.go(fn, *args)
    wait_until(lambda: g.status == "waiting", what=f"goroutine {g.id} to park")
    return g


def _join_all(gs):
    """Join, failing (instead of hanging) if one never finishes: a lost wakeup."""
    wait_until(lambda: all(g.status == "dead" for g in gs), what="goroutines to finish")
    return [g.join() for g in gs]


def _join(g):
    return _join_all([g])[0]


# ---------------------------------------------------------------- RWMutex

def test_rwmutex_lock_unlock_try_and_context_managers():
    def main():
        rw = gr.RWMutex()
        out = []
        rw.lock()
        out += [rw.try_lock(), rw.try_rlock()]          # writer holds: both fail
        rw.unlock()
        rw.rlock()
        rw.rlock()
        out += [rw.try_rlock(), rw.try_lock()]          # readers hold: read yes, write no
        rw.runlock()
        rw.runlock()
        rw.runlock()
        out.append(rw.try_lock())                       # free again
        rw.unlock()
        with rw:
            out.append(rw.try_rlock())
        with rw.rlocker():
            out.append(rw.try_rlock())
            rw.runlock()
        rl = rw.rlocker()
        rl.lock()
        out.append(rw.try_lock())
        rl.unlock()
        try:
            with rw:
                raise KeyError("inside")
        except KeyError:
            pass
        out.append(rw.try_lock())                       # the with-block released it
        rw.unlock()
        return out

    assert gr.run(main) == [False, False, True, False, True, False, True, False, True]


def test_rwmutex_misuse_raises_go_messages():
    def main():
        rw = gr.RWMutex()
        out = [_raises(RuntimeError, rw.runlock), _raises(RuntimeError, rw.unlock)]
        rw.lock()
        out.append(_raises(RuntimeError, rw.runlock))   # a writer holds it, no reader
        rw.unlock()
        rw.rlock()
        out.append(_raises(RuntimeError, rw.unlock))    # a reader holds it, no writer
        rw.runlock()
        out.append(rw.try_lock())                       # misuse changed nothing
        return out

    assert gr.run(main) == [
        "sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked RWMutex",
        "sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked RWMutex", True,
    ]


def test_rwmutex_needs_a_goroutine_to_block():
    with pytest.raises(RuntimeError, match="must be called from a goroutine"):
        gr.RWMutex().rlock()


@pytest.mark.parametrize("procs", [1, 2])
def test_rwmutex_readers_hold_it_together(procs):
    # Go's TestParallelReaders: every reader holds the lock while it waits
    # for all the others to have taken it too; serialised readers would hang.
    n = 4

    def reader(rw, inside, gate, wg):
        rw.rlock()
        inside.done()
        gate.wait()
        rw.runlock()
        wg.done()

    def main():
        rw = gr.RWMutex()
        inside, gate, wg = gr.WaitGroup(), gr.WaitGroup(), gr.WaitGroup()
        inside.add(n)
        gate.add(1)
        wg.add(n)
        for _ in range(n):
            gr.go(reader, rw, inside, gate, wg)
        inside.wait()
        blocked = rw.try_lock()
        gate.done()
        wg.wait()
        return blocked, rw.try_lock()

    assert gr.run(main, procs=procs) == (False, True)


def test_rwmutex_waiting_writer_blocks_new_readers():
    def main():
        rw = gr.RWMutex()
        log = []

        def writer():
            with rw:
                log.append("W")

        def reader():
            with rw.rlocker():
                log.append("R")

        rw.rlock()
        w = _start_blocked(writer)
        r = _start_blocked(reader)       # only readers hold it, yet r waits
        refused = rw.try_rlock()
        before = list(log)
        rw.runlock()                     # the last reader out hands it to w
        _join_all([w, r])
        return before, refused, log

    assert gr.run(main) == ([], False, ["W", "R"])


def test_rwmutex_unlock_admits_queued_readers_together_before_next_writer():
    def main():
        rw = gr.RWMutex()
        log = []
        gate = gr.WaitGroup()
        gate.add(1)
        inside = gr.WaitGroup()
        inside.add(3)

        def reader(i):
            with rw.rlocker():
                log.append(f"R{i}")
                inside.done()
                gate.wait()              # all three must be inside at once

        def writer(name):
            with rw:
                log.append(name)

        rw.lock()
        rs = [_start_blocked(reader, i) for i in range(3)]
        w2 = _start_blocked(writer, "W2")
        rw.unlock()                      # admits R0..R2 together; W2 waits for them
        inside.wait()
        r3 = _start_blocked(reader, 3)   # W2 waits: a new reader queues behind it
        inside.add(1)
        gate.done()
        _join_all(rs + [w2, r3])
        return sorted(log[:3]) + log[3:]    # R0..R2 are woken together, in any order

    assert gr.run(main) == ["R0", "R1", "R2", "W2", "R3"]


def _read_side(rw):
    rw.rlock()
    return rw.runlock


def _write_side(rw):
    rw.lock()
    return rw.unlock


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("crowd, late", [(_read_side, _write_side), (_write_side, _read_side)],
                         ids=["writer-vs-overlapping-readers", "reader-vs-writers"])
def test_rwmutex_late_side_is_not_starved(procs, crowd, late):
    """A crowd that keeps the lock busy at every instant (readers each
    re-taking it before the others let go; writers queueing back to back)
    must still let the other side in: without writer preference, or without
    admitting queued readers on unlock, `late(rw)` never returns."""
    def member(rw, stop, wg):
        while not stop:
            release = crowd(rw)
            gr.gosched()
            release()
        wg.done()

    def main():
        rw = gr.RWMutex()
        stop = []
        wg = gr.WaitGroup()
        wg.add(4)
        for _ in range(4):
            gr.go(member, rw, stop, wg)
        gr.gosched()
        release = late(rw)
        stop.append(True)
        release()
        wg.wait()
        return "got in"

    assert gr.run(main, procs=procs) == "got in"


def _hammer_rwmutex(procs, readers, writers, iters, work):
    """Go's HammerRWMutex: an activity counter that readers bump by 1 and
    writers by 10000; any overlap of a writer with anyone shows in it."""
    state = {"activity": 0, "errors": [], "max_readers": 0}

    def reader(rw, wg):
        for i in range(iters):
            rw.rlock()
            n = state["activity"] = state["activity"] + 1
            if n >= 10000:
                state["errors"].append(f"reader saw a writer: {n}")
            state["max_readers"] = max(state["max_readers"], n)
            spin(work) if i % 2 else gr.gosched()
            state["activity"] -= 1
            rw.runlock()
        wg.done()

    def writer(rw, wg):
        for i in range(iters):
            rw.lock()
            n = state["activity"] = state["activity"] + 10000
            if n != 10000:
                state["errors"].append(f"writer saw others: {n}")
            spin(work) if i % 2 else gr.gosched()
            state["activity"] -= 10000
            rw.unlock()
        wg.done()

    def main():
        rw = gr.RWMutex()
        wg = gr.WaitGroup()
        wg.add(readers + writers)
        for k in range(readers + writers):
            gr.go(reader if k % (readers // writers + 1) else writer, rw, wg)
        wg.wait()
        return state["activity"]

    return main, state


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("readers,writers", [(1, 1), (3, 1), (6, 2)])
def test_rwmutex_hammer(procs, readers, writers):
    main, state = _hammer_rwmutex(procs, readers, writers, iters=20 * SCALE, work=50)
    assert gr.run(main, procs=procs) == 0
    assert state["errors"] == []


def test_rwmutex_thrown_waiting_writer_lets_queued_readers_in():
    def main():
        rw = gr.RWMutex()
        log = []

        def writer():
            try:
                rw.lock()
            except Boom:
                log.append("W thrown")
                raise
            log.append("W locked")

        def reader():
            with rw.rlocker():
                log.append("R")

        rw.rlock()
        w = _start_blocked(writer)
        r = _start_blocked(reader)      # held back by w only
        w.throw(Boom)
        with pytest.raises(Boom):
            _join(w)
        _join(r)                        # admitted although main still reads
        out = sorted(log)
        rw.runlock()
        out.append(rw.try_lock())       # nothing left behind
        return out

    assert gr.run(main) == ["R", "W thrown", True]


def test_rwmutex_thrown_writer_behind_another_writer_changes_nothing():
    def main():
        rw = gr.RWMutex()
        log = []

        def writer(name):
            with rw:
                log.append(name)

        def reader():
            with rw.rlocker():
                log.append("R")

        rw.rlock()
        w1 = _start_blocked(writer, "W1")
        w2 = _start_blocked(writer, "W2")
        r = _start_blocked(reader)
        w1.throw(Boom)
        with pytest.raises(Boom):
            _join(w1)
        still = r.status                # W2 still holds the readers back
        rw.runlock()
        _join_all([w2, r])
        return still, log

    assert gr.run(main) == ("waiting", ["W2", "R"])


def test_rwmutex_rlocker_with_cond():
    def main():
        rw = gr.RWMutex()
        cond = gr.Cond(rw.rlocker())
        state = {"ready": False}
        out = []

        def waiter():
            with rw.rlocker():
                while not state["ready"]:
                    cond.wait()
                out.append(rw.try_lock())   # still read-held by us
        g = _start_blocked(waiter)
        with rw:                            # wait() released the read lock
            state["ready"] = True
        cond.broadcast()
        _join(g)
        out.append(rw.try_lock())
        return out

    assert gr.run(main) == [False, True]


# ---------------------------------------------------------------- Once

@pytest.mark.parametrize("procs", [1, 2])
def test_once_runs_fn_once_and_callers_wait_for_it(procs):
    def main():
        once = gr.Once()
        state = {"calls": 0, "ready": False}
        seen = []

        def init(x, y=0):
            state["calls"] += 1
            for _ in range(5):
                gr.gosched()            # let the other callers pile up
                spin(200)
            state["ready"] = (x, y)

        def caller(wg):
            once.do(init, 1, y=2)
            seen.append(state["ready"])  # never before init has finished
            wg.done()

        wg = gr.WaitGroup()
        wg.add(8)
        for _ in range(8):
            gr.go(caller, wg)
        wg.wait()
        once.do(init, 3)                # later calls do nothing
        return state["calls"], seen, once.done

    calls, seen, done = gr.run(main, procs=procs)
    assert calls == 1 and done
    assert seen == [(1, 2)] * 8


def test_once_spent_even_if_fn_raises():
    def main():
        once = gr.Once()
        calls = []
        gate = gr.WaitGroup()
        gate.add(1)

        def init():
            calls.append(1)
            gate.wait()
            raise Boom("init failed")

        def caller():
            try:
                once.do(init)
            except Boom as e:
                return f"raised {e}"
            return "returned"

        first = gr.go(caller)
        wait_until(lambda: first.status == "waiting", what="init to start")
        others = [_start_blocked(caller) for _ in range(3)]
        before = once.done
        gate.done()
        results = _join_all([first] + others)
        once.do(init)
        return before, once.done, len(calls), results

    assert gr.run(main) == (
        False, True, 1, ["raised init failed", "returned", "returned", "returned"])


def test_once_done_returns_at_once_outside_run_and_recursion_raises():
    once = gr.Once()

    def main():
        def init():
            return _raises(RuntimeError, once.do, init)
        box = []
        once.do(lambda: box.append(init()))
        return box

    assert gr.run(main) == ["sync: Once.do called from its own function"]
    once.do(pytest.fail, "called again")           # done: no goroutine needed
    with pytest.raises(RuntimeError, match="must be called from a goroutine"):
        gr.Once().do(print)


def test_once_waiter_thrown_while_waiting():
    def main():
        once = gr.Once()
        gate = gr.WaitGroup()
        gate.add(1)
        first = gr.go(once.do, gate.wait)
        wait_until(lambda: first.status == "waiting", what="init to start")
        waiter = _start_blocked(once.do, gate.wait)
        waiter.throw(Boom)
        with pytest.raises(Boom):
            _join(waiter)
        done_before = once.done
        gate.done()
        _join(first)
        return done_before, once.done

    assert gr.run(main) == (False, True)


def _scn_once_fn_is_preemptible(procs):
    # fn runs inside Once.do: it must stay preemptible (a runtime frame on the
    # stack would forbid it) and throw() must reach it mid-computation.
    def main():
        once = gr.Once()
        flag = []
        state = {}

        def hog():
            deadline = time.monotonic() + 5
            while not flag and time.monotonic() < deadline:
                spin(100)
            state["saw_flag"] = bool(flag)

        g = gr.go(once.do, hog)
        gr.gosched()
        flag.append(1)                  # runs only if hog was preempted (procs=1)
        _join(g)

        def hog2():
            state["hog2"] = True
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                spin(100)

        once2 = gr.Once()
        g2 = gr.go(once2.do, hog2)
        wait_until(lambda: "hog2" in state, what="hog2 to start")
        g2.throw(Boom)                  # lands inside hog2, mid-loop
        try:
            _join(g2)
            thrown = "not thrown"
        except Boom:
            thrown = "thrown"
        return state["saw_flag"], thrown, once2.done

    return gr.run(main, procs=procs, time_slice=0.002)


@pytest.mark.parametrize("procs", [1, 2])
def test_once_fn_is_preemptible_and_throwable(procs):
    assert run_isolated(_scn_once_fn_is_preemptible, procs, timeout=40) == [True, "thrown", True]


# ---------------------------------------------------------------- Cond

def test_cond_needs_a_locker():
    with pytest.raises(TypeError, match="lock\\(\\) and unlock\\(\\)"):
        gr.Cond(object())


def test_cond_signal_wakes_one_in_fifo_order_broadcast_all():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        woke = []

        def waiter(i):
            with mu:
                cond.wait()
                woke.append(i)

        ws = [_start_blocked(waiter, i) for i in range(4)]
        cond.signal()
        wait_until(lambda: len(woke) == 1, what="one waiter")
        cond.signal()
        wait_until(lambda: len(woke) == 2, what="second waiter")
        after_two = list(woke)
        cond.broadcast()
        _join_all(ws)
        cond.signal()                   # nobody waits: no effect, no error
        cond.broadcast()
        return after_two, sorted(woke[2:])

    assert gr.run(main) == ([0, 1], [2, 3])


def test_cond_wait_relocks_before_returning():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []

        def waiter():
            mu.lock()
            cond.wait()
            log.append("returned")
            mu.unlock()                 # RuntimeError if wait() had not relocked

        g = _start_blocked(waiter)
        mu.lock()                       # wait() released it
        cond.signal()
        wait_until(lambda: g.status == "waiting", what="waiter to block on mu")
        gr.gosched()
        before = list(log)
        mu.unlock()
        _join(g)
        return before, log, mu.locked()

    assert gr.run(main) == ([], ["returned"], False)


def test_cond_wait_without_holding_the_lock_raises_and_leaves_no_waiter():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        msg = _raises(RuntimeError, cond.wait)
        woke = []

        def waiter():
            with mu:
                cond.wait()
                woke.append(1)

        g = _start_blocked(waiter)
        cond.signal()                   # goes to g, not to a ghost of the failed wait
        _join(g)
        return msg, woke

    assert gr.run(main) == ("sync: unlock of unlocked mutex", [1])


def test_cond_throw_while_waiting_relocks_before_raising():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []

        def waiter():
            try:
                with mu:
                    cond.wait()
                    log.append("woken")
            except Boom:
                log.append(("raised", mu.locked()))   # the with-block unlocked it

        g = _start_blocked(waiter)
        mu.lock()
        g.throw(Boom)
        wait_until(lambda: g.status == "waiting", what="waiter to block relocking")
        gr.gosched()
        before = list(log)              # cannot raise while main holds mu
        mu.unlock()
        _join(g)
        return before, log

    assert gr.run(main) == ([], [("raised", False)])


def test_cond_throw_while_relocking_still_relocks_before_raising():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []

        def waiter():
            try:
                with mu:
                    cond.wait()
                    log.append("woken")
            except Boom:
                log.append(("raised", mu.locked()))

        g = _start_blocked(waiter)
        mu.lock()
        cond.signal()
        wait_until(lambda: g.status == "waiting", what="waiter to block relocking")
        g.throw(Boom)                   # the throw waits: wait() must relock first
        wait_until(lambda: g.status == "waiting", what="waiter to block again")
        gr.gosched()
        before = list(log)
        mu.unlock()
        _join(g)
        return before, log

    assert gr.run(main) == ([], [("raised", False)])


def _cond_pair(mu, cond, log):
    def waiter(name):
        try:
            with mu:
                cond.wait()
                log.append(f"{name} woken")
        except Boom:
            log.append(f"{name} raised")
    return waiter


def test_cond_signal_to_a_thrown_waiter_passes_to_the_next():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []
        waiter = _cond_pair(mu, cond, log)
        a = _start_blocked(waiter, "A")
        b = _start_blocked(waiter, "B")
        with gr.nopreempt():            # a must not run in between
            cond.signal()               # completes a ...
            a.throw(Boom)               # ... which is thrown into before it runs
        _join_all([a, b])               # b is stuck if the signal died with a
        return sorted(log)

    assert gr.run(main) == ["A raised", "B woken"]


def test_cond_waiter_thrown_before_any_signal_takes_none():
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []
        waiter = _cond_pair(mu, cond, log)
        a = _start_blocked(waiter, "A")
        b = _start_blocked(waiter, "B")
        c = _start_blocked(waiter, "C")
        a.throw(Boom)
        _join(a)
        cond.signal()                   # for b: a has left the queue
        _join(b)
        out = list(log)
        cond.signal()
        _join(c)
        return out

    assert gr.run(main) == ["A raised", "B woken"]


def test_cond_in_nopreempt_keeps_the_signal_and_raises_after():
    # Inside nopreempt() a throw waits for the region's end, so a signalled
    # waiter returns from wait() normally (it consumed the signal).
    def main():
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        log = []

        def waiter():
            try:
                with mu, gr.nopreempt():
                    cond.wait()
                    log.append("woken")
            except Boom:
                log.append("raised after")

        g = _start_blocked(waiter)
        with gr.nopreempt():
            cond.signal()
            g.throw(Boom)
        _join(g)
        return log

    assert gr.run(main) == ["woken", "raised after"]


@pytest.mark.parametrize("procs", [1, 2])
def test_cond_bounded_queue_producers_consumers(procs):
    cap, producers, per = 3, 3, 10 * SCALE

    def main():
        mu = gr.Mutex()
        not_full, not_empty = gr.Cond(mu), gr.Cond(mu)
        buf, got = [], []
        wg = gr.WaitGroup()

        def producer(p):
            for i in range(per):
                with mu:
                    while len(buf) == cap:
                        not_full.wait()
                    buf.append((p, i))
                    assert len(buf) <= cap
                    not_empty.signal()
            wg.done()

        def consumer():
            while True:
                with mu:
                    while not buf:
                        not_empty.wait()
                    item = buf.pop(0)
                    not_full.signal()
                if item is None:
                    break
                got.append(item)
                gr.gosched()
            wg.done()

        wg.add(producers + 2)
        for p in range(producers):
            gr.go(producer, p)
        for _ in range(2):
            gr.go(consumer)
        wait_until(lambda: len(got) == producers * per, what="all items")
        with mu:                        # one stop marker per consumer
            buf.extend([None, None])
            not_empty.broadcast()
        wg.wait()
        return sorted(got)

    assert gr.run(main, procs=procs) == sorted((p, i) for p in range(producers) for i in range(per))


# ---------------------------------------------------------------- Semaphore

def test_semaphore_validation_messages():
    def main():
        sem = gr.Semaphore(3)
        return [
            _raises(ValueError, gr.Semaphore, -1),
            _raises(TypeError, gr.Semaphore, 1.5),
            _raises(TypeError, gr.Semaphore, True),
            _raises(TypeError, sem.acquire, "1"),
            _raises(ValueError, sem.acquire, -1),
            _raises(ValueError, sem.acquire, 4),
            _raises(TypeError, sem.try_acquire, None),
            _raises(ValueError, sem.release, -2),
            _raises(ValueError, sem.release, 1),
        ]

    assert gr.run(main) == [
        "Semaphore size needs a non-negative int, got -1",
        "Semaphore size needs an int, not float",
        "Semaphore size needs an int, not bool",
        "Semaphore.acquire needs an int, not str",
        "Semaphore.acquire needs a non-negative int, got -1",
        "semaphore: acquire of 4 exceeds the size 3",
        "Semaphore.try_acquire needs an int, not NoneType",
        "Semaphore.release needs a non-negative int, got -2",
        "semaphore: released more than held",
    ]


def test_semaphore_try_acquire_release_and_context_manager():
    def main():
        sem = gr.Semaphore(3)
        out = [sem.try_acquire(2), sem.try_acquire(2), sem.try_acquire(), sem.try_acquire()]
        out.append(_raises(ValueError, sem.release, 4))   # held 3: nothing released
        sem.release(3)
        with sem:
            out.append(sem.try_acquire(3))
            out.append(sem.try_acquire(2))
        sem.release(2)
        out.append(sem.try_acquire(0))
        sem.acquire(3)
        sem.acquire(0)                   # zero weight: free, nobody waits
        sem.release(3)
        return out

    assert gr.run(main) == [True, False, True, False, "semaphore: released more than held",
                            False, True, True]


def test_semaphore_waiters_served_fifo():
    def main():
        sem = gr.Semaphore(1)
        order = []

        def worker(i):
            sem.acquire()
            order.append(i)
            sem.release()

        sem.acquire()
        ws = [_start_blocked(worker, i) for i in range(5)]
        sem.release()
        _join_all(ws)
        return order

    assert gr.run(main) == [0, 1, 2, 3, 4]


def test_semaphore_large_request_at_head_blocks_smaller_ones():
    def main():
        sem = gr.Semaphore(4)
        log = []

        def worker(name, n):
            sem.acquire(n)
            log.append(name)
            return n

        sem.acquire(3)                       # 1 unit free
        big = _start_blocked(worker, "big", 4)
        small = _start_blocked(worker, "small", 1)   # fits, but waits behind big
        refused = sem.try_acquire(1)         # so does a try
        sem.release(3)                       # big gets all 4; small still waits
        _join(big)
        small_waits = small.status
        sem.release(4)
        _join(small)
        sem.release(1)
        return refused, small_waits, log, sem.try_acquire(4)

    assert gr.run(main) == (False, "waiting", ["big", "small"], True)


def test_semaphore_release_serves_every_head_waiter_that_fits():
    def main():
        sem = gr.Semaphore(5)
        sem.acquire(5)
        ws = [_start_blocked(sem.acquire, n) for n in (1, 2, 2, 1)]
        sem.release(4)                       # 1+2 fit, the next 2 does not: stop there
        _join_all(ws[:2])
        waiting = [w.status for w in ws[2:]]
        sem.release(2)
        _join_all(ws[2:])
        full = sem.try_acquire(1)
        sem.release(5)
        return waiting, full, sem.try_acquire(5)

    assert gr.run(main) == (["waiting", "waiting"], False, True)


def test_semaphore_thrown_head_request_lets_the_ones_behind_in():
    def main():
        sem = gr.Semaphore(2)
        sem.acquire(1)
        big = _start_blocked(sem.acquire, 2)
        small = _start_blocked(sem.acquire, 1)   # 1 unit free, held back by big
        big.throw(Boom)
        with pytest.raises(Boom):
            _join(big)
        _join(small)                         # stuck unless big's leaving served it
        return sem.try_acquire(1)

    assert gr.run(main) is False


@pytest.mark.parametrize("procs", [1, 2])
def test_semaphore_bounds_concurrency(procs):
    size, workers, iters = 3, 8, 10 * SCALE
    state = {"inside": 0, "max": 0}

    def worker(sem, wg, w):
        for i in range(iters):
            n = 1 + (w + i) % 2
            sem.acquire(n)
            state["inside"] += n
            state["max"] = max(state["max"], state["inside"])
            spin(100) if i % 2 else gr.gosched()
            state["inside"] -= n
            sem.release(n)
        wg.done()

    def main():
        sem = gr.Semaphore(size)
        wg = gr.WaitGroup()
        wg.add(workers)
        for w in range(workers):
            gr.go(worker, sem, wg, w)
        wg.wait()
        return sem.try_acquire(size)

    assert gr.run(main, procs=procs) is True
    assert 1 < state["max"] <= size


# ---------------------------------------------------------------- WaitGroup

def test_waitgroup_reused_at_once_after_reaching_zero():
    def main():
        wg = gr.WaitGroup()
        wg.add(1)
        first = _start_blocked(wg.wait)
        with gr.nopreempt():             # first has not run yet when the next round starts
            wg.done()
            wg.add(1)
        _join(first)                     # released by the first round
        second = _start_blocked(wg.wait)
        wg.done()
        _join(second)
        return "ok"

    assert gr.run(main) == "ok"


# ---------------------------------------------------------------- under preemption

def _scn_primitives_under_preemption(procs, iters, work):
    """CPU-bound goroutines (no runtime calls inside the critical sections)
    contend for each primitive while being preempted asynchronously."""
    errors = []
    st = {"activity": 0, "sem_inside": 0, "sem_max": 0, "once_calls": 0, "buf": [], "got": 0,
          "epoch": 0, "held_across": 0}

    def hold():
        """The critical section: CPU work, counting whether others ran meanwhile."""
        e = st["epoch"]
        spin(work)
        st["held_across"] += st["epoch"] != e

    def rw_reader(wg, rw):
        for _ in range(iters):
            rw.rlock()
            n = st["activity"] = st["activity"] + 1
            if n >= 10000:
                errors.append(f"reader overlaps a writer: {n}")
            hold()
            st["activity"] -= 1
            rw.runlock()
            spin(work // 6)
            st["epoch"] += 1
        wg.done()

    def rw_writer(wg, rw):
        for _ in range(iters):
            with rw:
                n = st["activity"] = st["activity"] + 10000
                if n != 10000:
                    errors.append(f"writer overlaps: {n}")
                hold()
                st["activity"] -= 10000
            spin(work // 6)
            st["epoch"] += 1
        wg.done()

    def sem_user(wg, sem, w):
        for i in range(iters):
            k = 1 + (w + i) % 2
            sem.acquire(k)
            st["sem_inside"] += k
            st["sem_max"] = max(st["sem_max"], st["sem_inside"])
            if st["sem_inside"] > 3:
                errors.append(f"semaphore over its size: {st['sem_inside']}")
            hold()
            st["sem_inside"] -= k
            sem.release(k)
            st["epoch"] += 1
        wg.done()

    def init():
        st["once_calls"] += 1
        spin(work * 20)

    def once_user(wg, once):
        once.do(init)
        if st["once_calls"] != 1:
            errors.append("once: returned before init ran")
        wg.done()

    def producer(wg, mu, cond):
        for i in range(iters):
            with mu:
                st["buf"].append(i)
                spin(work // 3)
                cond.signal()
        wg.done()

    def consumer(wg, mu, cond, want):
        for _ in range(want):
            with mu:
                while not st["buf"]:
                    cond.wait()
                spin(work // 3)
                st["buf"].pop()
                st["got"] += 1
        wg.done()

    def main():
        rw, sem, once = gr.RWMutex(), gr.Semaphore(3), gr.Once()
        mu = gr.Mutex()
        cond = gr.Cond(mu)
        wg = gr.WaitGroup()
        jobs = [(rw_reader, rw)] * 4 + [(rw_writer, rw)] * 2
        jobs += [(sem_user, sem, w) for w in range(4)]
        jobs += [(once_user, once)] * 4
        jobs += [(producer, mu, cond)] * 2 + [(consumer, mu, cond, iters)] * 2
        wg.add(len(jobs))
        for fn, *args in jobs:
            gr.go(fn, wg, *args)
        wg.wait()
        return st["activity"]

    activity = gr.run(main, procs=procs, time_slice=0.001, wakeup_granularity=None)
    return {"activity": activity, "errors": errors[:5], "sem_max": st["sem_max"],
            "once_calls": st["once_calls"], "got": st["got"], "left": len(st["buf"]),
            "held_across": st["held_across"], "stats": gr.stats()}


@pytest.mark.parametrize("procs", [1, 2])
def test_primitives_keep_invariants_under_preemption(procs):
    iters, work = (6, 1000) if STRESS else (40, 10000)
    r = run_isolated(_scn_primitives_under_preemption, procs, iters, work, timeout=50)
    assert r["errors"] == [] and r["activity"] == 0, r
    assert r["once_calls"] == 1 and 1 <= r["sem_max"] <= 3, r
    assert r["got"] == 2 * iters and r["left"] == 0, r
    # only meaningful if goroutines were preempted while holding the primitives
    assert r["stats"]["preemptions"] > 0 and r["held_across"] > 0, r
