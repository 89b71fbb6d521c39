#!/usr/bin/env bash
# The read replica failing under load (a script, not a test): one instance reads a throw-away MariaDB replica
# (GTID, started here like scripts/test.sh does, with the max lag at 1 s) while wrk sends the mixed URLs of
# bench/fleet.sh for 34 s; meanwhile the replica's SQL thread stops (lag) and restarts, then the replica process is
# frozen with SIGSTOP for 8 s (connections hang: the worst case) and thawed. Prints wrk's totals (every non-2xx/3xx
# answer and socket error counts), the service's log lines about where reads go, and its replica metrics.
#   nice -n 10 bench/replica-faults.sh            (BENCH_BIN=path to use a built binary; default: a debug build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK_DIR="$(mktemp -d /tmp/farmlokal-replica-faults.XXXXXX)"
# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v wrk >/dev/null 2>&1 || apt_install wrk
servers_up
replication_up
if [ -z "${BENCH_BIN:-}" ]; then cargo build --quiet --bin farmlokal; fi
BIN="${BENCH_BIN:-target/debug/farmlokal}"
P="$FARMLOKAL_TEST_MYSQL_PRIMARY_URL"; R="$FARMLOKAL_TEST_MYSQL_REPLICA_URL"
PPORT="${P##*:}"; RPORT="${R##*:}"
DB=farmlokal_replica_faults
client="$(find_binary mariadb mysql)"
"$client" -h127.0.0.1 -P"$PPORT" -uroot -e "CREATE DATABASE IF NOT EXISTS $DB"
FARMLOKAL_MYSQL_URL="$P/$DB" "$BIN" seed --products 20000 >/dev/null 2>&1
PORT="$(free_port 18399)"
# prefer_socket=false: the driver would otherwise reach a loopback server through its Unix socket.
FARMLOKAL_BIND="127.0.0.1:$PORT" FARMLOKAL_MYSQL_URL="$P/$DB" FARMLOKAL_MYSQL_READ_URL="$R/$DB?prefer_socket=false" \
    FARMLOKAL_MYSQL_MAX_REPLICA_LAG_SECS=1 FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 FARMLOKAL_CACHE_TTL_SECS=1 \
    FARMLOKAL_SHUTDOWN_DRAIN_SECS=0 RUST_LOG=info FARMLOKAL_LOG_FORMAT=json "$BIN" serve >"$WORK_DIR/app.log" 2>&1 &
STARTED_PIDS+=("$!")
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health/ready" 2>/dev/null && break; sleep 0.1; done
python3 bench/fleet.py mix "$WORK_DIR/urls.txt" 20000 >/dev/null
sleep 3 # reads move to the replica
RPID="$(ss -ltnpH "sport = :$RPORT" | sed -E 's/.*pid=([0-9]+).*/\1/' | head -1)"
(
    sleep 6; note "$(date +%T) STOP SLAVE SQL_THREAD"; "$client" -h127.0.0.1 -P"$RPORT" -uroot -e "STOP SLAVE SQL_THREAD"
    sleep 6; note "$(date +%T) START SLAVE SQL_THREAD"; "$client" -h127.0.0.1 -P"$RPORT" -uroot -e "START SLAVE SQL_THREAD"
    sleep 6; note "$(date +%T) SIGSTOP the replica"; kill -STOP "$RPID"
    sleep 8; note "$(date +%T) SIGCONT the replica"; kill -CONT "$RPID"
) &
EVENTS=$!
BENCH_URLS="$WORK_DIR/urls.txt" BENCH_THREADS=2 BENCH_TRACK=1 wrk -t2 -c16 -d34s --timeout 10s --latency \
    -s bench/lua/bench.lua "http://127.0.0.1:$PORT" >"$WORK_DIR/wrk.txt" 2>&1
wait "$EVENTS" || true
kill -CONT "$RPID" 2>/dev/null || true
section "wrk"
sed -n 's/^BENCH_JSON //p' "$WORK_DIR/wrk.txt"
section "where reads went"
grep -E '"catalogue reads' "$WORK_DIR/app.log" | python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); print(r.get("timestamp", "")[11:23], r.get("message"), {k: v for k, v in r.items() if k.endswith("secs")})'
section "metrics"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^farmlokal_mysql_(read_source|replica)'
"$client" -h127.0.0.1 -P"$PPORT" -uroot -e "DROP DATABASE IF EXISTS $DB"
