#!/usr/bin/env bash
# The demo: a 1 ms ticker beside CPU-bound tasks, cooperative vs goroutines.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pythons.sh
find_pythons
vpy=$(venv_for "${PYTHONS[-1]}" demo)
exec "$vpy" examples/demo.py "$@"
