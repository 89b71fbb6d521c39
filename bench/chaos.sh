#!/usr/bin/env bash
# FarmLokal chaos run (a script, not a test; issue 13). One command:
#   nice -n 10 bench/chaos.sh
# Two release instances of the service on a MariaDB and a Redis that the run owns (its own mariadbd and
# redis-server on free loopback ports with throw-away data under a temporary directory; never the machine's shared
# servers) and a fake partner A (bench/chaos_partner.py), with CHAOS_PRODUCTS products, under steady mixed traffic
# (cached and uncached listings, searches, product reads, delivery estimates, signed webhooks fixed in advance with
# duplicates, clients above the rate limit) while a schedule of about six minutes kills and restarts Redis, kills
# and restarts MariaDB, freezes Redis with SIGSTOP then SIGCONT, makes the partner slow, failing and rate limiting,
# and cuts one instance with SIGKILL and restarts it (bench/chaos.py has the schedule, bench/chaos_load.py the load).
# Then it audits: every touched product's stock and price in MariaDB against what the distinct webhook ids imply,
# and every client's admitted requests per rolling minute against the limit. Writes
# bench/results/chaos-YYYY-MM-DD-HHMM.md and bench/results/chaos-latest.md; exits 1 when the verdict is FAIL.
#
# The seeded data directory is made once per product count and source of the schema, kept in CHAOS_CACHE_DIR
# (/tmp/farmlokal-chaos-cache) and copied for each run, so every run starts from the same data. The logs of the
# last run (instances, MariaDB, Redis, partner, and requests.csv: every request) are kept in CHAOS_CACHE_DIR/last-run-logs.
# Knobs: CHAOS_PRODUCTS (1000000), CHAOS_SCALE (1: multiplies every phase's length; 0.3 for a quick try),
# CHAOS_READ_RATE (120 reads/s), CHAOS_CLIENTS (200), CHAOS_GREEDY_CLIENTS (4), CHAOS_BIN (use this binary,
# skip the build), CHAOS_CACHE_DIR.
set -euo pipefail

# Everything runs inside main, which bash reads whole before running it, so editing this file during a run
# cannot make bash resume at a shifted offset and run steps again.
main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    COMMAND="bench/chaos.sh"
    for var in CHAOS_PRODUCTS CHAOS_SCALE CHAOS_READ_RATE CHAOS_CLIENTS CHAOS_GREEDY_CLIENTS CHAOS_BIN; do
        if [ -n "${!var:-}" ]; then COMMAND="$var=${!var} $COMMAND"; fi
    done
    export CHAOS_PRODUCTS="${CHAOS_PRODUCTS:-1000000}"
    CACHE_DIR="${CHAOS_CACHE_DIR:-/tmp/farmlokal-chaos-cache}"
    mkdir -p "$CACHE_DIR"
    export CARGO_TARGET_DIR="$PWD/target/bench"
    BIN="${CHAOS_BIN:-$CARGO_TARGET_DIR/release/farmlokal}"

    WORK_DIR="$(mktemp -d /tmp/farmlokal-chaos.XXXXXX)"
    # shellcheck source=scripts/lib/servers.sh
    source scripts/lib/servers.sh
    LOGS_DIR="$CACHE_DIR/last-run-logs"
    keep_logs_and_clean_up() {
        rm -rf "$LOGS_DIR" && mkdir -p "$LOGS_DIR" && cp "$WORK_DIR"/*.log "$WORK_DIR"/*.err "$WORK_DIR"/*.csv "$LOGS_DIR"/ 2>/dev/null || true
        cleanup
    }
    trap keep_logs_and_clean_up EXIT
    trap 'exit 130' INT TERM

    section "tools"
    find_binary mariadbd >/dev/null || apt_install mariadb-server mariadb-client
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || apt_install redis-server redis-tools
    command -v python3 >/dev/null 2>&1 || apt_install python3
    note "$(mariadbd --version 2>/dev/null || /usr/sbin/mariadbd --version); $(redis-server --version | cut -d' ' -f1-3)"
    export PATH="$PATH:/usr/sbin"

    if [ -z "${CHAOS_BIN:-}" ]; then
        section "release build ($CARGO_TARGET_DIR)"
        cargo build --release --quiet
        export CHAOS_BINARY_NOTE="release build of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' with local changes')"
    else
        export CHAOS_BINARY_NOTE="given: $BIN"
    fi

    # The seeded data is valid for one product count and one version of the migrations and seeder.
    SCHEMA="$(git rev-parse --short HEAD:src/adapters/mysql 2>/dev/null || echo unknown)"
    TEMPLATE="$CACHE_DIR/mariadb-$CHAOS_PRODUCTS-$SCHEMA"
    mkdir -p "$CACHE_DIR"
    section "run ($CHAOS_PRODUCTS products; data template $TEMPLATE; work dir $WORK_DIR)"
    python3 bench/chaos.py "$BIN" "$WORK_DIR" "$TEMPLATE" bench/results "$COMMAND"
}
main "$@"
