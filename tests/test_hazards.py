"""DESIGN.md §2 "hazards while parked": preemption must not land where parking the
goroutine breaks the interpreter or the standard library.  Each scenario runs in its
own interpreter (a regression is typically a hang) with procs=1, time_slice=0.001,
once with run() on the main thread (signal backend) and once with run() called from
another thread (sys.monitoring backend)."""
import pytest

import goroutines as gr
from _util import exc_info, in_thread, run_isolated, spin, spin_for

pytestmark = pytest.mark.timeout(60)

SLICE = 0.001
WHERE = pytest.mark.parametrize("where", ["main_thread", "other_thread"])


def _run(main, where):
    if where == "main_thread":
        return gr.run(main, procs=1, time_slice=SLICE)
    return in_thread(gr.run, main, procs=1, time_slice=SLICE)


# ---------------------------------------------------------------- (a) logging

def _scn_logging(where, n_goroutines=8, per_goroutine=4):
    import logging

    records = []

    class SlowHandler(logging.Handler):
        def emit(self, record):
            msg = record.getMessage()
            records.append("start:" + msg)
            spin_for(0.003)              # several time slices inside the handler lock
            records.append("end:" + msg)

    log = logging.getLogger("goroutines-test-hazard-logging")
    log.handlers[:] = [SlowHandler()]
    log.propagate = False
    log.setLevel(logging.INFO)

    def worker(i, wg):
        for j in range(per_goroutine):
            spin_for(0.002)              # preemptible work outside the handler
            log.info("%d.%d", i, j)
        wg.done()

    def main():
        wg = gr.WaitGroup()
        wg.add(n_goroutines)
        for i in range(n_goroutines):
            gr.go(worker, i, wg)
        wg.wait()
        return "done"

    return {"result": _run(main, where), "records": records,
            "stats": gr.stats()}


@WHERE
def test_logging_handler_not_interleaved(where):
    r = run_isolated(_scn_logging, where)
    assert r["result"] == "done"
    recs = r["records"]
    assert len(recs) == 2 * 8 * 4, recs
    pairs = list(zip(recs[0::2], recs[1::2]))
    bad = [p for p in pairs if not (p[0].startswith("start:") and p[1] == "end:" + p[0][6:])]
    assert not bad, f"interleaved records: {bad[:5]}"
    assert r["stats"]["preemptions"] > 0, r["stats"]


# ---------------------------------------------------------------- (b) queue.Queue

def _scn_queue(where, producers=4, consumers=4, per_producer=60):
    import queue

    class SlowQueue(queue.Queue):
        def _put(self, item):          # runs with self.mutex (a threading.Lock) held
            spin_for(0.0005)
            super()._put(item)

        def _get(self):
            spin_for(0.0005)
            return super()._get()

    q = SlowQueue()
    total = producers * per_producer
    got = []

    def producer(p):
        for i in range(per_producer):
            spin(200)
            q.put((p, i))

    def consumer():
        while len(got) < total:
            try:
                got.append(q.get_nowait())
            except queue.Empty:
                gr.gosched()
            spin(100)

    def main():
        gs = [gr.go(producer, p) for p in range(producers)]
        gs += [gr.go(consumer) for _ in range(consumers)]
        for g in gs:
            g.join()
        return "done"

    result = _run(main, where)
    return {"result": result, "n": len(got), "unique": len(set(map(tuple, got))),
            "total": total, "stats": gr.stats()}


@WHERE
def test_queue_put_get_nowait_no_deadlock(where):
    r = run_isolated(_scn_queue, where)
    assert r["result"] == "done"
    assert r["n"] == r["unique"] == r["total"], r
    assert r["stats"]["preemptions"] > 0, r["stats"]


# ---------------------------------------------------------------- (c) import

SLOW_MODULE = """\
import time
BEFORE = 1
_end = time.perf_counter() + 0.05
_n = 0
while time.perf_counter() < _end:     # ~50 ms of bytecode in the module body
    _n += 1
AFTER = 1
"""


def _scn_import(where, moddir, modname, n=4):
    import importlib
    import sys

    sys.path.insert(0, moddir)

    def importer():
        try:
            mod = importlib.import_module(modname)
            seen = getattr(mod, "AFTER", "missing")
            ns = {}
            exec(f"from {modname} import AFTER as a", ns)
            return {"attr": seen, "from_import": ns["a"]}
        except Exception as e:
            return exc_info(e)

    def main():
        gs = [gr.go(importer) for _ in range(n)]
        return [g.join() for g in gs]

    return {"results": _run(main, where), "stats": gr.stats()}


@WHERE
def test_concurrent_import_sees_complete_module(where, tmp_path):
    modname = "gr_slow_import_mod"
    (tmp_path / f"{modname}.py").write_text(SLOW_MODULE)
    r = run_isolated(_scn_import, where, str(tmp_path), modname)
    assert r["results"] == [{"attr": 1, "from_import": 1}] * 4, r
    # the module body ran for ~50 slices: sysmon must have asked for preemption
    assert r["stats"]["preempt_requests"] + r["stats"]["preempt_unsafe"] > 0, r["stats"]


# ---------------------------------------------------------------- (d) gc / __del__

def _scn_gc(where, rounds=4, per_round=3):
    import gc

    state = {"finalized": 0, "a_done": False}

    class Fin:
        def __init__(self):
            self.me = self                 # reference cycle: only the collector frees it

        def __del__(self):
            spin_for(0.003)                # CPU-heavy finaliser: several time slices
            state["finalized"] += 1

    class Cyc:
        pass

    def finaliser_goroutine():
        collected = []
        for _ in range(rounds):
            for _ in range(per_round):
                Fin()
            collected.append(gc.collect())
        state["a_done"] = True
        return collected

    def allocator_goroutine():
        collects, counts = [], []
        while not state["a_done"] or not collects:
            for _ in range(2000):
                c = Cyc()
                c.self = c
            del c
            collects.append(gc.collect())
            # automatic collection must keep running: allocate many cycles, count stays low
            for _ in range(20000):
                c = Cyc()
                c.self = c
            del c
            counts.append(gc.get_count()[0])
            gr.gosched()
        return collects, counts

    def main():
        a = gr.go(finaliser_goroutine)
        b = gr.go(allocator_goroutine)
        return a.join(), b.join()

    gc.collect()
    (a_collected, (b_collects, b_counts)) = _run(main, where)
    return {"a_collected": a_collected, "b_collects": b_collects, "b_counts": b_counts,
            "finalized": state["finalized"], "expected_finalized": rounds * per_round,
            "gc_enabled": gc.isenabled(), "stats": gr.stats()}


@WHERE
def test_preemption_inside_del_does_not_stop_gc(where):
    r = run_isolated(_scn_gc, where)
    assert r["finalized"] == r["expected_finalized"], r
    assert r["b_collects"] and all(n > 0 for n in r["b_collects"]), \
        f"gc.collect() returned 0 while another goroutine was in __del__: {r}"
    assert max(r["b_counts"]) < 10000, f"automatic GC stopped: {r}"
    assert r["gc_enabled"] is True
