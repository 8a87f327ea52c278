"""Benchmark suite: goroutines against asyncio, gevent and threads, measured in one run.

    python bench/bench.py [--quick] [--json out.json] [--plot fairness.png] [--only SECTIONS]

Sections (details in each module's docstring):
  fairness  a 1 ms ticker beside 4 CPU hogs on one P: ticks, lateness, wall time
  latency   two hogs on one P: run-length beyond the time slice, per preemption backend
  overhead  the same pure-Python work plain and as two preempted goroutines
  spawn     cost of starting and joining many tasks; memory per parked task
  channels  ping-pong round trip, 8-producer fan-in, select over 4 channels
  timers    2 ms timers beside 4 CPU hogs; gr.timeout() around a pure-Python loop
  net       TCP echo on 127.0.0.1, 100 concurrent clients: round trips/s, latency p50/p99
  http      a cheap HTTP endpoint's latency while CPU-heavy requests keep the server busy

Every case runs in its own subprocess (bench/child.py) with a timeout, repeated and reduced
to medians; a failed, timed-out or noisy (stderr output, non-zero exit) child becomes a
numbered note under its table. Python code runs on one core at a time in every case (one P,
or the GIL); with --pin CPU the whole process, helper threads included, is also confined to
one CPU. goroutines is imported from ../src, ahead of any installed copy. Run the script
with the interpreter to measure; gevent and matplotlib (for --plot) are listed in
bench/requirements.txt.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)

from child import RESULT_PREFIX  # noqa: E402  (needs BENCH_DIR on sys.path)
from common import median  # noqa: E402



@dataclass
class Config:
    """Sizes and repetitions; --quick shrinks them to finish in well under a minute."""

    hog_cpu_s: float = 0.5
    hogs: int = 4
    tick_s: float = 0.001
    fairness_reps: int = 3
    latency_s: float = 1.0
    latency_reps: int = 3
    overhead_cpu_s: float = 0.2
    overhead_pairs: int = 3
    overhead_reps: int = 3
    spawn_n: int = 100_000
    spawn_reps: int = 3
    parked_n: int = 10_000
    parked_reps: int = 3
    pingpong_n: int = 100_000
    fanin_n: int = 100_000
    fanin_producers: int = 8
    fanin_cap: int = 128
    select_n: int = 50_000
    channels_reps: int = 3
    timer_iters: int = 200
    timer_period_s: float = 0.002
    timer_reps: int = 3
    timeout_trials: int = 50
    timeout_deadline_s: float = 0.05
    timeout_reps: int = 3
    echo_clients: int = 100
    echo_msgs: int = 200
    echo_reps: int = 3
    http_heavy_n: int = 3_000_000
    http_heavy_clients: int = 2
    http_seconds: float = 4.0
    http_probe_gap_s: float = 0.01
    http_reps: int = 3
    timeout_s: float = 120.0

    @classmethod
    def quick(cls):
        return cls(hog_cpu_s=0.2, fairness_reps=1, latency_s=0.4, latency_reps=1,
                   overhead_cpu_s=0.1, overhead_pairs=2, overhead_reps=1, spawn_n=20_000,
                   spawn_reps=1, parked_reps=1, pingpong_n=20_000, fanin_n=10_000,
                   select_n=10_000, channels_reps=1, timer_reps=1, timeout_trials=20,
                   timeout_reps=1, echo_msgs=50, echo_reps=1, http_seconds=1.5,
                   http_reps=1, timeout_s=60.0)


@dataclass
class Case:
    """One row of a table: a workload function run `reps` times in fresh processes."""

    key: str
    label: str
    module: str
    func: str
    kwargs: dict
    reps: int
    env: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)
    error: str = None
    warnings: list = field(default_factory=list)

    @property
    def medians(self):
        """Median over repetitions of every numeric field."""
        keys = [k for k, v in (self.runs[0] if self.runs else {}).items()
                if isinstance(v, (int, float))]
        return {k: median([r.get(k) for r in self.runs]) for k in keys}


# --------------------------------------------------------------------------- cases

ASYNC_OFF = {"GOROUTINES_DEBUG": "asyncpreemptoff=1"}


def fairness_cases(cfg, iters_per_s):
    base = {"hog_iters": int(cfg.hog_cpu_s * iters_per_s), "hogs": cfg.hogs, "tick": cfg.tick_s}
    cases = []
    for slice_ms in (10, 1):
        for thread, where in ((False, "main thread"), (True, "other thread")):
            kwargs = {**base, "time_slice": slice_ms / 1e3, "thread": thread}
            cases.append(Case(f"gr-{'thread' if thread else 'main'}-{slice_ms}",
                              f"goroutines {where}, {slice_ms} ms slice", "fairness",
                              "goroutines", kwargs, cfg.fairness_reps))
    return cases + [
        Case("gr-main-10-go", "goroutines main thread, 10 ms, wakeup_granularity=None",
             "fairness", "goroutines",
             {**base, "time_slice": 0.010, "thread": False, "wakeup_granularity": None},
             cfg.fairness_reps),
        Case("gr-coop", "goroutines asyncpreemptoff=1", "fairness", "goroutines",
             {**base, "time_slice": 0.010, "thread": False}, cfg.fairness_reps, ASYNC_OFF),
        Case("asyncio", "asyncio", "fairness", "asyncio_", base, cfg.fairness_reps),
        Case("gevent", "gevent", "fairness", "gevent_", base, cfg.fairness_reps),
        Case("threads-5", "threads, switch interval 5 ms", "fairness", "threads", base,
             cfg.fairness_reps),
        Case("threads-1", "threads, switch interval 1 ms", "fairness", "threads",
             {**base, "switch_interval": 0.001}, cfg.fairness_reps),
    ]


def latency_cases(cfg, _iters_per_s):
    cases = []
    for slice_ms in (10, 1):
        s = slice_ms / 1e3
        for thread, where in ((False, "main thread (signal)"), (True, "other thread (monitoring)")):
            cases.append(Case(f"gr-{'thread' if thread else 'main'}-{slice_ms}",
                              f"goroutines {where}, {slice_ms} ms", "latency", "goroutines",
                              {"duration": cfg.latency_s, "time_slice": s, "thread": thread},
                              cfg.latency_reps))
        cases.append(Case(f"threads-{slice_ms}", f"threads, switch interval {slice_ms} ms",
                          "latency", "threads",
                          {"duration": cfg.latency_s, "switch_interval": s}, cfg.latency_reps))
    return cases


def overhead_cases(cfg, iters_per_s):
    base = {"n": int(cfg.overhead_cpu_s * iters_per_s), "pairs": cfg.overhead_pairs}
    cases = []
    for slice_ms in (10, 1):
        s = slice_ms / 1e3
        for thread, where in ((False, "main thread"), (True, "other thread")):
            cases.append(Case(f"gr-{'thread' if thread else 'main'}-{slice_ms}",
                              f"goroutines {where}, {slice_ms} ms slice", "overhead",
                              "goroutines", {**base, "time_slice": s, "thread": thread},
                              cfg.overhead_reps))
        cases.append(Case(f"threads-{slice_ms}", f"threads, switch interval {slice_ms} ms",
                          "overhead", "threads", {**base, "switch_interval": s},
                          cfg.overhead_reps))
    return cases


def spawn_cases(cfg, _iters_per_s):
    runtimes = (("goroutines", "goroutines"), ("asyncio", "asyncio"), ("gevent", "gevent"))
    cases = [Case(f"spawn-{rt}", label, "spawn", f"{rt}_spawn", {"n": cfg.spawn_n},
                  cfg.spawn_reps) for rt, label in runtimes]
    for mode in ("tracemalloc", "rss"):
        cases += [Case(f"parked-{rt}-{mode}", f"{label} ({mode})", "spawn", f"{rt}_parked",
                       {"n": cfg.parked_n, "mode": mode}, cfg.parked_reps)
                  for rt, label in runtimes]
    return cases


def channels_cases(cfg, _iters_per_s):
    pp = {"n": cfg.pingpong_n}
    fan = {"n": cfg.fanin_n, "producers": cfg.fanin_producers, "cap": cfg.fanin_cap}
    reps = cfg.channels_reps
    return [
        Case("pp-greenlet", "raw greenlet switch pair (floor)", "channels",
             "greenlet_pingpong", pp, reps),
        Case("pp-gr", "goroutines Chan(), one P", "channels", "goroutines_pingpong", pp, reps),
        Case("pp-gr-1", "goroutines Chan(1), one P", "channels", "goroutines_pingpong",
             {**pp, "cap": 1}, reps),
        Case("pp-gevent-channel", "gevent queue.Channel()", "channels", "gevent_pingpong",
             {**pp, "kind": "channel"}, reps),
        Case("pp-gevent-queue1", "gevent queue.Queue(1)", "channels", "gevent_pingpong",
             {**pp, "kind": "queue1"}, reps),
        Case("pp-asyncio", "asyncio Queue(1)", "channels", "asyncio_pingpong", pp, reps),
        Case("pp-threads", "threads queue.Queue(1)", "channels", "threads_pingpong", pp, reps),
        Case("fanin-gr", f"goroutines Chan({cfg.fanin_cap}), one P", "channels",
             "goroutines_fanin", fan, reps),
        Case("fanin-gevent", f"gevent queue.Queue({cfg.fanin_cap})", "channels",
             "gevent_fanin", fan, reps),
        Case("fanin-asyncio", f"asyncio Queue({cfg.fanin_cap})", "channels", "asyncio_fanin",
             fan, reps),
        Case("fanin-threads", f"threads queue.Queue({cfg.fanin_cap})", "channels",
             "threads_fanin", fan, reps),
        Case("select-gr-4", "goroutines select over 4 Chan()", "channels", "goroutines_select",
             {"n": cfg.select_n, "mode": "select"}, reps),
        Case("select-gr-recv", "goroutines recv() on 1 Chan() (reference)", "channels",
             "goroutines_select", {"n": cfg.select_n, "mode": "recv"}, reps),
    ]


def timers_cases(cfg, iters_per_s):
    base = {"hog_iters": int(cfg.hog_cpu_s * iters_per_s), "hogs": cfg.hogs,
            "iters": cfg.timer_iters, "period": cfg.timer_period_s}
    waits = {"timer": "Timer(p).c.recv()", "after": "select(never, after(p))",
             "sleep": "sleep(p)"}
    cases = []
    for slice_ms, kinds in ((10, ("timer", "after", "sleep")), (1, ("timer", "after"))):
        cases += [Case(f"timer-gr-{kind}-{slice_ms}",
                       f"goroutines {waits[kind]}, {slice_ms} ms slice", "timers",
                       "goroutines_timer", {**base, "kind": kind, "time_slice": slice_ms / 1e3},
                       cfg.timer_reps) for kind in kinds]
    cases += [
        Case("timer-asyncio", "asyncio asyncio.sleep(p)", "timers", "asyncio_timer", base,
             cfg.timer_reps),
        Case("timer-gevent", "gevent gevent.sleep(p)", "timers", "gevent_timer", base,
             cfg.timer_reps),
        Case("timer-threads", "threads time.sleep(p), switch interval 5 ms", "timers",
             "threads_timer", base, cfg.timer_reps),
    ]
    for thread, where in ((False, "main thread"), (True, "other thread")):
        for slice_ms in (10, 1):
            cases.append(Case(f"timeout-{'thread' if thread else 'main'}-{slice_ms}",
                              f"goroutines {where}, {slice_ms} ms slice", "timers",
                              "goroutines_timeout",
                              {"trials": cfg.timeout_trials, "deadline": cfg.timeout_deadline_s,
                               "time_slice": slice_ms / 1e3, "thread": thread},
                              cfg.timeout_reps))
    return cases


def net_cases(cfg, _iters_per_s):
    kw = {"clients": cfg.echo_clients, "msgs": cfg.echo_msgs}
    return [
        Case("echo-gr", "goroutines gr.listen / gr.dial, one P", "net", "goroutines_echo", kw,
             cfg.echo_reps),
        Case("echo-gevent", "gevent StreamServer", "net", "gevent_echo", kw, cfg.echo_reps),
        Case("echo-asyncio", "asyncio streams", "net", "asyncio_echo", kw, cfg.echo_reps),
    ]


def http_cases(cfg, _iters_per_s):
    kw = {"heavy_n": cfg.http_heavy_n, "heavy_clients": cfg.http_heavy_clients,
          "seconds": cfg.http_seconds, "probe_gap_s": cfg.http_probe_gap_s}
    return [
        Case("http-gr", "goroutines examples/http_server.py (h11), one P", "web",
             "goroutines_http", kw, cfg.http_reps),
        Case("http-gevent", "gevent pywsgi", "web", "gevent_http", kw, cfg.http_reps),
        Case("http-asyncio", "asyncio streams + h11", "web", "asyncio_http", kw, cfg.http_reps),
    ]


# --------------------------------------------------------------------------- running

def child_env(extra):
    env = {k: v for k, v in os.environ.items() if k != "GOROUTINES_DEBUG"}
    src = os.path.join(REPO_DIR, "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run_child(module, func, kwargs, env, cpu, timeout):
    """Run one workload in a fresh interpreter.

    Returns (result, warning): warning is None or what looked wrong although a result came
    (stderr output, non-zero exit). Raises RuntimeError when no result came.
    """
    spec = json.dumps({"module": module, "func": func, "kwargs": kwargs, "cpu": cpu})
    cmd = [sys.executable, os.path.join(BENCH_DIR, "child.py"), spec]
    try:
        proc = subprocess.run(cmd, env=child_env(env), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timeout after {timeout:.0f} s") from None
    stderr = proc.stderr.strip()
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            warning = " / ".join(filter(None, [
                f"exit {proc.returncode}" if proc.returncode else "",
                f"stderr: {stderr.splitlines()[-1]}" if stderr else ""]))
            return json.loads(line[len(RESULT_PREFIX):]), warning or None
    lines = (stderr or proc.stdout.strip() or "no output").splitlines()
    raise RuntimeError(f"exit {proc.returncode}: {lines[-1]}")


def run_section(name, cases, cpu, timeout):
    """Run every case's repetitions round-robin, so a burst of outside load hits all alike.

    A case that fails once is not run again.
    """
    for rep in range(max(c.reps for c in cases)):
        print(f"{name}, round {rep + 1}:", file=sys.stderr)
        for case in cases:
            if rep < case.reps and not case.error:
                run_once(case, cpu, timeout)


def run_once(case, cpu, timeout):
    print(f"  {case.label} ", end="", flush=True, file=sys.stderr)
    try:
        result, warning = run_child(case.module, case.func, case.kwargs, case.env, cpu, timeout)
    except RuntimeError as exc:
        case.error = str(exc)
        print(f"FAILED: {exc}", file=sys.stderr)
        return
    case.runs.append(result)
    if warning:
        case.warnings.append(warning)
    print(f"warning: {warning}" if warning else "ok", file=sys.stderr)


# --------------------------------------------------------------------------- reporting

def fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def trouble(case):
    """What went wrong in a case's runs, as one line ("" when nothing did)."""
    parts = []
    if case.error:
        parts.append(case.error + (f" (after {len(case.runs)} good runs)" if case.runs else ""))
    parts += [f"{w} (in {case.warnings.count(w)} of {len(case.runs)} runs)"
              for w in dict.fromkeys(case.warnings)]
    return "; ".join(parts)


def print_table(title, headers, cases, row):
    """A markdown table with one row per case; failures become numbered notes below it."""
    rows, notes = [], []
    for c in cases:
        if trouble(c):
            notes.append(f"[{len(notes) + 1}] {c.label}: {trouble(c)}")
        if c.runs:
            cells = row(c)
            if trouble(c):
                cells[0] += f" [{len(notes)}]"
        else:
            cells = [c.label, f"FAILED [{len(notes)}]"] + [""] * (len(headers) - 2)
        rows.append([str(x) for x in cells])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    if notes:
        print()
        print("\n".join(notes))


def report_fairness(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def row(c):
        m = c.medians
        ideal = m["wall_s"] / cfg.tick_s
        return [c.label, fmt(m["ticks"], ".0f"), fmt(100 * m["ticks"] / ideal, ".1f"),
                fmt(m["p50_ms"]), fmt(m["p99_ms"]), fmt(m["max_ms"], ".1f"), fmt(m["wall_s"]),
                fmt(ratio(m["wall_s"], by.get("asyncio", {}).get("wall_s"))),
                fmt(ratio(m["p99_ms"], by.get("threads-5", {}).get("p99_ms"))),
                fmt(m.get("preemptions"), ".0f")]

    headers = ["runtime", "ticks", "% of ideal", "late p50 ms", "p99 ms", "max ms", "wall s",
               "wall ÷ asyncio", "p99 ÷ threads 5 ms", "preemptions"]
    print_table(f"Fairness: {cfg.tick_s * 1e3:g} ms ticker beside {cfg.hogs} hogs of "
                f"~{cfg.hog_cpu_s:g} s CPU, one P / the GIL (medians of {cfg.fairness_reps})",
                headers, cases, row)


def report_latency(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def row(c):
        m = c.medians
        peer = by.get("threads-" + c.key.rsplit("-", 1)[1], {})
        return [c.label, fmt(m["runs"], ".0f"), fmt(m["run_p50_ms"]), fmt(m["over_p50_ms"]),
                fmt(m["over_p99_ms"]), fmt(m["switch_p50_us"], ".1f"),
                fmt(ratio(m["over_p99_ms"], peer.get("over_p99_ms"))),
                fmt(m.get("preemptions"), ".0f"), fmt(m.get("preempt_unsafe"), ".0f")]

    headers = ["backend, slice", "runs", "run p50 ms", "overshoot p50 ms", "overshoot p99 ms",
               "switch p50 µs", "p99 ÷ threads", "preemptions", "unsafe"]
    print_table(f"Preemption latency: two hogs on one P for {cfg.latency_s:g} s "
                f"(medians of {cfg.latency_reps})", headers, cases, row)


def report_overhead(cases, cfg):
    def row(c):
        m = c.medians
        return [c.label, fmt(m["plain_wall_s"], ".3f"), fmt(m["wall_ratio"], ".3f"),
                fmt(m["cpu_ratio"], ".3f"), fmt(m.get("cpu_vs_coop"), ".3f"),
                fmt(m.get("preemptions"), ".0f")]

    headers = ["case", "plain s", "wall ÷ plain", "CPU ÷ plain", "CPU ÷ coop", "preemptions"]
    print_table(f"CPU overhead: 2 × ~{cfg.overhead_cpu_s:g} s of work, plain calls vs two "
                f"sliced hogs (medians of {cfg.overhead_reps} × {cfg.overhead_pairs} pairs)",
                headers, cases, row)


def report_spawn(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def ratios(c, field, prefix, suffix=""):
        value = c.medians[field]
        return [fmt(ratio(value, by.get(f"{prefix}-{peer}{suffix}", {}).get(field)))
                for peer in ("asyncio", "gevent")]

    def spawn_row(c):
        return [c.label, fmt(c.medians["us_each"], ".1f"), *ratios(c, "us_each", "spawn")]

    def parked_row(c):
        mode = "-" + c.key.rsplit("-", 1)[1]
        return [c.label, fmt(c.medians["bytes_each"], ",.0f"),
                *ratios(c, "bytes_each", "parked", mode)]

    spawned = [c for c in cases if c.key.startswith("spawn-")]
    parked = [c for c in cases if c.key.startswith("parked-")]
    print_table(f"Spawn + join of {cfg.spawn_n:,} tasks (medians of {cfg.spawn_reps})",
                ["runtime", "µs each", "÷ asyncio", "÷ gevent"], spawned, spawn_row)
    print_table(f"Memory per parked task, {cfg.parked_n:,} tasks blocked "
                f"(medians of {cfg.parked_reps})",
                ["runtime (probe)", "bytes each", "÷ asyncio", "÷ gevent"], parked, parked_row)


def report_channels(cases, cfg):
    by = {c.key: c.medians for c in cases}
    reps = cfg.channels_reps

    def pp_row(c):
        us_rt = c.medians["us_per_rt"]
        return [c.label, fmt(us_rt), fmt(ratio(us_rt, by.get("pp-gevent-channel", {})
                                               .get("us_per_rt"))),
                fmt(ratio(us_rt, by.get("pp-greenlet", {}).get("us_per_rt"))),
                fmt(c.medians.get("switches") and c.medians["switches"] / cfg.pingpong_n)]

    def fan_row(c):
        m = c.medians
        return [c.label, fmt(m["msgs_per_s"] / 1e6, ".3f"), fmt(m["us_per_msg"], ".3f"),
                fmt(ratio(m["msgs_per_s"], by.get("fanin-gevent", {}).get("msgs_per_s"))),
                fmt(m.get("preemptions"), ".0f")]

    def select_row(c):
        m = c.medians
        total = 4 * cfg.select_n
        return [c.label, fmt(m["us_per_op"]),
                fmt(ratio(m["us_per_op"], by.get("select-gr-recv", {}).get("us_per_op"))),
                fmt(m.get("switches") and m["switches"] / total)]

    print_table(f"Ping-pong over an unbuffered channel / capacity-1 queue: {cfg.pingpong_n:,} "
                f"round trips between two tasks (medians of {reps})",
                ["runtime", "µs per round trip", "÷ gevent Channel", "÷ greenlet floor",
                 "switches per round trip"],
                [c for c in cases if c.key.startswith("pp-")], pp_row)
    print_table(f"Fan-in: {cfg.fanin_producers} producers × {cfg.fanin_n:,} messages into one "
                f"queue of capacity {cfg.fanin_cap}, one consumer (medians of {reps})",
                ["runtime", "M msgs/s", "µs per msg", "throughput ÷ gevent", "preemptions"],
                [c for c in cases if c.key.startswith("fanin-")], fan_row)
    print_table(f"Select: one consumer, 4 producers × {cfg.select_n:,} values, one P; no peer "
                f"has the same semantics (bench/channels.py) (medians of {reps})",
                ["goroutines", "µs per receive", "÷ recv", "switches per receive"],
                [c for c in cases if c.key.startswith("select-")], select_row)


def report_timers(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def timer_row(c):
        m = c.medians
        return [c.label, fmt(m["waits"], ".0f"), fmt(m["under_load"], ".0f"),
                fmt(m["p50_ms"]), fmt(m["p99_ms"]), fmt(m["max_ms"], ".1f"),
                fmt(m["load_p50_ms"]), fmt(m["load_p99_ms"]), fmt(m.get("fired_p99_ms")),
                fmt(ratio(m["load_p99_ms"], by.get("timer-threads", {}).get("load_p99_ms")), ".3f"),
                fmt(m.get("preemptions"), ".0f")]

    def timeout_row(c):
        m = c.medians
        return [c.label, f"{fmt(m['caught'], '.0f')} / {fmt(m['trials'], '.0f')}",
                fmt(m["p50_ms"]), fmt(m["p99_ms"]), fmt(m["max_ms"]),
                fmt(m.get("preemptions"), ".0f")]

    p_ms = f"{cfg.timer_period_s * 1e3:g}"
    print_table(f"Timers: {cfg.timer_iters} waits of p = {p_ms} ms beside {cfg.hogs} hogs of "
                f"~{cfg.hog_cpu_s:g} s CPU, one P / the GIL (medians of {cfg.timer_reps})",
                ["runtime, wait", "waits", "under load", "late p50 ms", "p99 ms", "max ms",
                 "under load p50 ms", "under load p99 ms", "fired late p99 ms",
                 "under load p99 ÷ threads", "preemptions"],
                [c for c in cases if c.key.startswith("timer-")], timer_row)
    print_table(f"Timeout: `with gr.timeout({cfg.timeout_deadline_s:g})` around a pure-Python "
                f"loop, {cfg.timeout_trials} trials, one P; no peer can interrupt such a loop "
                f"(medians of {cfg.timeout_reps})",
                ["goroutines", "caught / trials", "late p50 ms", "p99 ms", "max ms",
                 "preemptions"],
                [c for c in cases if c.key.startswith("timeout-")], timeout_row)


def report_net(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def row(c):
        m = c.medians
        peer = by.get("echo-gevent", {})
        return [c.label, fmt(m["rt_per_s"] / 1e3, ".1f"), fmt(ratio(m["rt_per_s"],
                peer.get("rt_per_s"))), fmt(m["p50_us"], ".0f"), fmt(m["p99_us"], ".0f"),
                fmt(ratio(m["p99_us"], peer.get("p99_us")))]

    print_table(f"Echo: {cfg.echo_clients} clients × {cfg.echo_msgs} round trips of 64 bytes "
                f"over TCP on 127.0.0.1, server and clients in one process (medians of "
                f"{cfg.echo_reps})",
                ["runtime", "k round trips/s", "throughput ÷ gevent", "p50 µs", "p99 µs",
                 "p99 ÷ gevent"], cases, row)


def report_http(cases, cfg):
    by = {c.key: c.medians for c in cases}

    def row(c):
        m = c.medians
        peer = by.get("http-gevent", {})
        return [c.label, fmt(m["cheap_p50_ms"], ".1f"), fmt(m["cheap_p99_ms"], ".1f"),
                fmt(m["cheap_max_ms"], ".1f"), fmt(ratio(m["cheap_p99_ms"],
                peer.get("cheap_p99_ms"))), fmt(m["cheap_n"], ".0f"), fmt(m["heavy_per_s"], ".2f")]

    print_table(f"HTTP: /cheap latency while {cfg.http_heavy_clients} clients request /heavy "
                f"(n={cfg.http_heavy_n:,}) back to back; load from a separate process, "
                f"{cfg.http_seconds} s per run (medians of {cfg.http_reps})",
                ["server", "cheap p50 ms", "p99 ms", "max ms", "p99 ÷ gevent",
                 "cheap answered", "heavy/s"], cases, row)


SECTIONS = {
    "fairness": (fairness_cases, report_fairness),
    "latency": (latency_cases, report_latency),
    "overhead": (overhead_cases, report_overhead),
    "spawn": (spawn_cases, report_spawn),
    "channels": (channels_cases, report_channels),
    "timers": (timers_cases, report_timers),
    "net": (net_cases, report_net),
    "http": (http_cases, report_http),
}


# --------------------------------------------------------------------------- machine, plot

def machine_info(cpu):
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "greenlet": version("greenlet"),
        "gevent": version("gevent"),
        "goroutines_commit": git_commit(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "load_average_at_start": load_average(),
        "pinned_cpu": "none" if cpu is None else cpu,
    }


def load_average():
    """1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_commit():
    """The repository's HEAD, marked "+dirty" when src/ has uncommitted changes."""
    def git(*args):
        proc = subprocess.run(["git", "-C", REPO_DIR, *args], capture_output=True, text=True,
                              check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if head is None:
        return "none"
    return head + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def plot_fairness(cases, cfg, path):
    """CDF of ticker lateness per runtime, log-scaled in milliseconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 5.5))
    for c in cases:
        samples = sorted(max(s * 1e3, 1e-3) for r in c.runs for s in r["lateness_s"])
        if samples:
            ys = [(i + 1) / len(samples) for i in range(len(samples))]
            style = "-" if c.key.startswith("gr-") and c.key != "gr-coop" else "--"
            ax.step(samples, ys, style, where="post", marker="o" if len(samples) < 20 else None,
                    label=f"{c.label} ({len(samples)} ticks in {len(c.runs)} runs)")
    ax.set_xscale("log")
    ax.set_xlabel("ticker lateness (ms, log scale)")
    ax.set_ylabel("fraction of ticks")
    ax.set_title(f"{cfg.tick_s * 1e3:g} ms ticker beside {cfg.hogs} CPU hogs of "
                 f"~{cfg.hog_cpu_s:g} s, one P / the GIL ({sys.version.split()[0]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# --------------------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short run (under a minute)")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--plot", metavar="PATH", help="write the fairness lateness CDF as PNG")
    p.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--pin", type=int, metavar="CPU",
                   help="pin every case to this one CPU (helper threads then share it too)")
    args = p.parse_args()
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def main():
    args = parse_args()
    cfg = Config.quick() if args.quick else Config()
    cpu = args.pin
    info = machine_info(cpu)
    print("# goroutines benchmarks\n")
    for k, v in info.items():
        print(f"- {k}: {v}")
    started = time.perf_counter()
    iters_per_s, _ = run_child("common", "calibrate", {}, {}, cpu, cfg.timeout_s)
    results = {}
    for name in args.only:
        build, _ = SECTIONS[name]
        results[name] = build(cfg, iters_per_s)
        run_section(name, results[name], cpu, cfg.timeout_s)
    for name, cases in results.items():
        _, report = SECTIONS[name]
        report(cases, cfg)
    print(f"\nspin() calibration: {iters_per_s:,} iterations/s; total bench time "
          f"{time.perf_counter() - started:.0f} s; load average at end: {load_average()}")
    if args.json:
        write_json(args.json, info, cfg, iters_per_s, results)
    if args.plot and "fairness" in results:
        try:
            plot_fairness(results["fairness"], cfg, args.plot)
            print(f"plot written to {args.plot}")
        except ImportError:
            print("no plot: matplotlib is not installed (pip install -r bench/requirements.txt)")


def write_json(path, info, cfg, iters_per_s, results):
    doc = {
        "machine": info,
        "config": vars(cfg),
        "spin_iters_per_s": iters_per_s,
        "sections": {name: [{"key": c.key, "label": c.label, "func": f"{c.module}.{c.func}",
                             "kwargs": c.kwargs, "env": c.env, "median": c.medians,
                             "runs": c.runs, "error": c.error, "warnings": c.warnings}
                            for c in cases]
                     for name, cases in results.items()},
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
