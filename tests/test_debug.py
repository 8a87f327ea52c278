"""GOROUTINES_DEBUG: parsing, and schedtrace/scheddetail in Go's format."""

from __future__ import annotations

import re

import pytest

import goroutines as gr
from goroutines import _debug
from _util import run_isolated, spin, subprocess_env

pytestmark = pytest.mark.timeout(60)


def test_parse():
    d = _debug.parse("asyncpreemptoff=1, schedtrace=100,scheddetail=1,unknown=3")
    assert d == _debug.Debug(asyncpreemptoff=True, schedtrace_ms=100, scheddetail=True)
    assert _debug.parse("") == _debug.Debug()
    with pytest.raises(ValueError, match="schedtrace"):
        _debug.parse("schedtrace=fast")
    with pytest.raises(ValueError, match="key=value"):
        _debug.parse("asyncpreemptoff")


def _scn_schedtrace():
    import contextlib
    import io
    import sys

    err = io.StringIO()

    def main():
        hogs = [gr.go(spin, 3_000_000) for _ in range(2)]
        for h in hogs:
            h.join()

    with contextlib.redirect_stderr(err):
        sys.stderr = err
        gr.run(main)
    return err.getvalue()


SCHED = (r"SCHED \d+ms: gomaxprocs=1 idleprocs=\d+ threads=\d+ spinningthreads=0 "
         r"needspinning=0 idlethreads=\d+ runqueue=\d+")


def test_schedtrace_prints_go_format():
    out = run_isolated(_scn_schedtrace, env=subprocess_env(GOROUTINES_DEBUG="schedtrace=20"))
    lines = [ln for ln in out.splitlines() if ln.startswith("SCHED")]
    assert len(lines) >= 2, out
    assert all(re.fullmatch(SCHED + r" \[ \d+ \] schedticks=\[ \d+ \]", ln) for ln in lines), lines


def test_scheddetail_prints_p_m_g_lines():
    env = subprocess_env(GOROUTINES_DEBUG="schedtrace=20,scheddetail=1")
    out = run_isolated(_scn_schedtrace, env=env)
    assert re.search(SCHED + r" gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0", out), out
    assert re.search(r"^  P0: status=\d schedtick=\d+ syscalltick=0 m=0 runqsize=\d+ gfreecnt=\d+ "
                     r"timerslen=\d+$", out, re.M), out
    assert re.search(r"^  M0: p=0 curg=(\d+|nil) mallocing=0 throwing=0 preemptoff= locks=0 "
                     r"dying=0 spinning=false blocked=(true|false) lockedg=nil$", out, re.M), out
    assert re.search(r"^  G1: status=\d+\(.*\) m=0 lockedm=nil$", out, re.M), out


def test_bad_debug_value_is_a_clear_error():
    def bad():
        return gr.run(lambda: None)

    import os
    old = os.environ.get("GOROUTINES_DEBUG")
    os.environ["GOROUTINES_DEBUG"] = "schedtrace=often"
    try:
        with pytest.raises(ValueError, match="GOROUTINES_DEBUG: schedtrace"):
            bad()
    finally:
        if old is None:
            del os.environ["GOROUTINES_DEBUG"]
        else:
            os.environ["GOROUTINES_DEBUG"] = old
