# Sourced by checks: a Python virtualenv under target/ (rebuildable, never committed) with the given tools.
# PYTHON_VENV picks another one (default target/py), for tools whose dependencies must not meet the others'.
python_tools() {
    local venv="${PYTHON_VENV:-target/py}"
    ensure_command python3 python3 python3-venv
    python3 -c 'import venv, ensurepip' 2>/dev/null || ensure_command __venv__ python3-venv
    if [ ! -x "$venv/bin/pip" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
    fi
    "$venv/bin/pip" install --quiet "$@"
    export PATH="$PWD/$venv/bin:$PATH"
}
