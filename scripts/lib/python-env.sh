# Sourced by checks: a Python virtualenv under target/ (rebuildable, never committed) with the given tools.
python_tools() {
    local venv="target/py"
    if [ ! -x "$venv/bin/pip" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
    fi
    "$venv/bin/pip" install --quiet "$@"
    export PATH="$PWD/$venv/bin:$PATH"
}
