# Sourced by checks: installs a missing tool with apt-get (as root on Debian), so a fresh machine needs nothing
# beyond the Rust toolchain.
ensure_command() {
    local command="$1"
    shift
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$command is missing; install it (Debian packages: $*)" >&2
        return 1
    fi
    echo "installing $* with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
