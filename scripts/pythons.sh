# Sourced by the scripts: sets PYTHONS to every CPython >= 3.12 on this
# machine (on PATH or under pyenv), one per minor version, newest last.
find_pythons() {
    local candidates=() seen=" " py ver
    for py in python3.12 python3.13 python3.14 python3; do
        command -v "$py" >/dev/null 2>&1 && candidates+=("$(command -v "$py")")
    done
    for py in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        [ -x "$py" ] && candidates+=("$py")
    done
    PYTHONS=()
    for py in "${candidates[@]}"; do
        ver=$("$py" -c 'import sys; ok = sys.version_info >= (3, 12) and sys.implementation.name == "cpython"; print("%d.%d" % sys.version_info[:2] if ok else "")' 2>/dev/null) || continue
        [ -n "$ver" ] || continue
        case "$seen" in *" $ver "*) continue ;; esac
        seen="$seen$ver "
        PYTHONS+=("$py")
    done
    if [ ${#PYTHONS[@]} -eq 0 ]; then
        echo "no CPython >= 3.12 found (looked on PATH and in pyenv's versions)" >&2
        return 1
    fi
}

# venv_for PY: a virtualenv for interpreter PY with the project and EXTRAS installed.
venv_for() {
    local py=$1 extras=$2 ver dir
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    dir=".venv-$ver"
    [ -x "$dir/bin/python" ] || "$py" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" >&2
    echo "$dir/bin/python"
}
