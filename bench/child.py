"""Run one benchmark workload in this (fresh) process and print its result as JSON.

Usage: python child.py '{"module": "fairness", "func": "threads", "kwargs": {...}, "cpu": 0}'
With "cpu" set, the process is pinned to that CPU before any thread starts, so every
runtime gets exactly one core. The result is printed on one line prefixed "RESULT ",
leaving the rest of stdout and stderr free for the runtime's own messages. A workload
that raises ends stderr with a one-line "Type: message" summary after the traceback.
"""

import importlib
import json
import os
import sys
import traceback

RESULT_PREFIX = "RESULT "


def main(spec):
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    try:
        module = importlib.import_module(spec["module"])
        result = getattr(module, spec["func"])(**spec["kwargs"])
    except BaseException as exc:  # noqa: BLE001  (reported, then exit 1)
        # The parent shows the last stderr line; after a traceback that may be a note
        # (goroutines adds "(raised in goroutine N)"), so end with the exception itself.
        traceback.print_exc()
        summary = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(summary, file=sys.stderr, flush=True)
        sys.exit(1)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
