#!/usr/bin/env bash
# The test command: on every CPython >= 3.12 here, install the project with
# its test dependencies in a venv, run the whole suite, then run the
# preemption-sensitive subset again under GOROUTINES_DEBUG=preemptstress=1,
# and the channel and netpoller tests on the Python code alone (no C fast paths).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pythons.sh
find_pythons
export COVERAGE_CORE=sysmon  # coverage's default core misses lines after a preemption
export GOROUTINES_REQUIRE_SPEEDUPS=1  # the C accelerator must have been built (test_speedups)
status=0
for py in "${PYTHONS[@]}"; do
    vpy=$(venv_for "$py" test)
    echo "== $("$vpy" -VV | head -1)"
    "$vpy" -m pytest -q -p no:cacheprovider "$@" || status=1
    echo "== $("$vpy" -V): preemption-sensitive subset under preemptstress=1"
    GOROUTINES_DEBUG=preemptstress=1 "$vpy" -m pytest -q -p no:cacheprovider \
        tests/test_chan.py tests/test_sync.py tests/test_sync_more.py tests/test_select.py \
        tests/test_time.py tests/test_context.py tests/test_chan_model.py tests/test_net.py \
        tests/test_suspend_throw.py tests/test_excsafe_fuzz.py tests/test_syscall.py \
        tests/test_patch.py tests/test_tls.py tests/test_speedups.py || status=1
    echo "== $("$vpy" -V): channels and netpoller on the Python code alone (GOROUTINES_PURE_PYTHON=1)"
    GOROUTINES_PURE_PYTHON=1 "$vpy" -m pytest -q -p no:cacheprovider \
        tests/test_chan.py tests/test_chan_model.py tests/test_select.py tests/test_sync.py \
        tests/test_suspend_throw.py tests/test_net.py tests/test_speedups.py || status=1
done
exit $status
