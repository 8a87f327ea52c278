"""GOROUTINES_DEBUG: Go's GODEBUG knobs for this runtime, and what they print.

    asyncpreemptoff=1  no asynchronous preemption; the cooperative request
                       (checked at every runtime call) stays on
    schedtrace=MS      sysmon prints Go's `SCHED` line to stderr every MS ms
    scheddetail=1      with schedtrace: Go's per-P, per-M and per-G lines
    preemptstress=1    request preemption at every (re)start of a goroutine,
                       with the cheap events armed on its stack: it is
                       preempted at the next jump, branch or call of any frame
                       it resumes in (callees entered later only at the end of
                       their slice), so every loop iteration and runtime call
                       is a preemption

The variable is read when `run()` starts.  The formats follow proc.go
§schedtrace (go-preemption-spec §4) so Go tooling habits carry over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Debug:
    asyncpreemptoff: bool = False
    schedtrace_ms: int = 0
    scheddetail: bool = False
    preemptstress: bool = False


def parse(text: str | None = None) -> Debug:
    """Parse `GOROUTINES_DEBUG` (or `text`).  Unknown keys are ignored, as
    GODEBUG does; a malformed value raises ValueError naming the key."""
    if text is None:
        text = os.environ.get("GOROUTINES_DEBUG", "")
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"GOROUTINES_DEBUG: {item!r} is not key=value")
        try:
            values[key.strip()] = int(value)
        except ValueError:
            raise ValueError(f"GOROUTINES_DEBUG: {key.strip()}={value!r} is not an integer") from None
    return Debug(
        asyncpreemptoff=values.get("asyncpreemptoff", 0) != 0,
        schedtrace_ms=max(0, values.get("schedtrace", 0)),
        scheddetail=values.get("scheddetail", 0) != 0,
        preemptstress=values.get("preemptstress", 0) != 0,
    )
