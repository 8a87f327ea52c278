"""Run one benchmark workload in this (fresh) process and print its result as JSON.

Usage: python child.py '{"module": "fairness", "func": "threads", "kwargs": {...}, "cpu": 0}'
With "cpu" set, the process is pinned to that CPU before any thread starts, so every
runtime gets exactly one core. The result is printed on one line prefixed "RESULT ",
leaving the rest of stdout and stderr free for the runtime's own messages.
"""

import importlib
import json
import os
import sys

RESULT_PREFIX = "RESULT "


def main(spec):
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    module = importlib.import_module(spec["module"])
    result = getattr(module, spec["func"])(**spec["kwargs"])
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
