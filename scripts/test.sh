#!/usr/bin/env bash
# The one test command (README; `.ci/run` calls it). On a fresh Debian machine as root it sets up everything:
#   - MySQL/MariaDB: uses the server answering on 127.0.0.1:${FARMLOKAL_TEST_MYSQL_PORT:-3306}; otherwise starts
#     the installed mariadbd (or mysqld) on loopback with a throw-away data dir on a free port, installing
#     mariadb-server with apt-get first when it is missing.
#   - Redis: the same with ${FARMLOKAL_TEST_REDIS_PORT:-6379} and redis-server (no persistence).
#   - Redis Cluster: always its own, six redis-server (3 masters, 1 replica each) from port
#     ${FARMLOKAL_TEST_REDIS_CLUSTER_PORT:-7000} upwards, unless FARMLOKAL_TEST_REDIS_CLUSTER_NODES names one.
#   - a throw-away MariaDB primary with binary logging and a GTID replica of it, on free loopback ports
#     (FARMLOKAL_TEST_MYSQL_PRIMARY_URL / FARMLOKAL_TEST_MYSQL_REPLICA_URL; set both to use others as they are);
#   - exports FARMLOKAL_TEST_MYSQL_URL, FARMLOKAL_TEST_REDIS_URL, FARMLOKAL_TEST_REDIS_CLUSTER_NODES and FARMLOKAL_TEST_REQUIRE_SERVERS=1 (a missing
#     server fails the tests instead of skipping them), then runs fmt, clippy, the tests and the extra checks.
# With arguments (`scripts/test.sh cargo test --test it mysql`) it runs only that command with the servers up.
# Servers it started are stopped on exit. Set FARMLOKAL_TEST_MYSQL_URL / FARMLOKAL_TEST_REDIS_URL to use other
# servers as they are (no probing).
set -euo pipefail

# ---------------------------------------------------------------------------------------------------------------
# EXTRA STEPS: commands run after the tests, in order (e.g. spec validation). Every executable-or-not
# `scripts/checks/*.sh` also runs afterwards, in name order, with bash.
EXTRA_STEPS=(
)
# ---------------------------------------------------------------------------------------------------------------

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

section "servers"
servers_up
redis_cluster_up
replication_up
export FARMLOKAL_TEST_REQUIRE_SERVERS=1
note "FARMLOKAL_TEST_MYSQL_URL=$FARMLOKAL_TEST_MYSQL_URL"
note "FARMLOKAL_TEST_REDIS_URL=$FARMLOKAL_TEST_REDIS_URL"
note "FARMLOKAL_TEST_REDIS_CLUSTER_NODES=$FARMLOKAL_TEST_REDIS_CLUSTER_NODES"
note "FARMLOKAL_TEST_MYSQL_PRIMARY_URL=$FARMLOKAL_TEST_MYSQL_PRIMARY_URL"
note "FARMLOKAL_TEST_MYSQL_REPLICA_URL=$FARMLOKAL_TEST_MYSQL_REPLICA_URL"

if [ "$#" -gt 0 ]; then
    section "$*"
    "$@"
    exit 0
fi

command -v cargo >/dev/null 2>&1 || { echo "cargo is not installed (https://rustup.rs)" >&2; exit 1; }

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1 && [ "${FARMLOKAL_TEST_RUNNER:-nextest}" = nextest ]; then
    section "cargo nextest run --all-targets"
    cargo nextest run --all-targets --no-fail-fast
    section "cargo test --doc"
    cargo test --doc
else
    section "cargo test --all-targets"
    cargo test --all-targets --no-fail-fast
fi

for step in "${EXTRA_STEPS[@]}"; do
    section "$step"
    bash -c "$step"
done
shopt -s nullglob
for check in scripts/checks/*.sh; do
    section "$check"
    bash "$check"
done

section "all checks passed"
