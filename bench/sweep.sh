#!/usr/bin/env bash
# One build of FarmLokal on the miss path under each value of one setting: bench/sweep.sh <binary> VAR "V1 V2 ..."
# (a release binary; VAR any environment variable the service reads, e.g. FARMLOKAL_MYSQL_READ_CONNECTIONS or
# TOKIO_WORKER_THREADS).
#
# A value can change what MariaDB does (how many statements it runs at once), so the values cannot run side by
# side as in bench/pair.sh: they take turns instead, SWEEP_ROUNDS rounds (3) each running every value once, the
# order reversed every other round, so the machine's drift over minutes hits every value alike. Each turn starts
# the service with VAR=value (cache TTL 1 s, a fresh Redis prefix), warms it for 3 s, waits 2 s for the pages to
# expire, then runs (b)'s load (`wrk -t2 -c64` over (b)'s distinct listing URLs, as bench/run.sh's row) for
# SWEEP_SECONDS (10). Reports per value the median and range of misses per second, the medians of p50 and p99
# latency, MariaDB's statements per miss (Com_select) and the service's CPU per miss (user + system, from
# /proc/<pid>/stat), and req/s as a ratio to the first value's.
#
# Needs the database and URL set bench/run.sh prepares (see bench/miss_path.sh): `BENCH_ONLY=prepare BENCH_DATA=DIR
# bench/run.sh`, then BENCH_DATA=DIR here (and BENCH_DATABASE, default farmlokal_bench, as there); the mariadb
# (or mysql) client reads Com_select. Writes the table to stdout and to
# bench/results/sweep-YYYY-MM-DD-HHMM.md; unlinks its Redis keys at exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$#" -ne 3 ] || [ ! -x "$1" ] || ! [[ "$2" =~ ^[A-Z_][A-Z0-9_]*$ ]] || [ -z "${3// /}" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
BIN="$1"
VAR="$2"
read -r -a VALUES <<<"$3"
ROUNDS="${SWEEP_ROUNDS:-3}"
SECONDS_EACH="${SWEEP_SECONDS:-10}"
RUN="sweep$(date +%s)"
# shellcheck source=bench/miss_path.sh
. bench/miss_path.sh
PORT=18193
# The client options of the MySQL URL (user, password, host, port), for Com_select.
read -r DB_USER DB_PASS DB_HOST DB_PORT < <(python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.unquote(u.username or "root"), urllib.parse.unquote(u.password or "") or "-", u.hostname or "127.0.0.1", u.port or 3306)
' "$MYSQL_BASE")
SQL_CLIENT="$(command -v mariadb || command -v mysql)" || { echo "needs the mariadb or mysql client" >&2; exit 2; }

# load SECONDS OUT: (b)'s load; wrk's BENCH_JSON line in OUT.
load() {
    BENCH_URLS="$URLS" COUNT_CACHE=1 BENCH_THREADS=2 wrk -t2 -c64 -d"$1s" --timeout 10s -s bench/lua/bench.lua \
        "http://127.0.0.1:$PORT/" 2>&1 | sed -n 's/^BENCH_JSON //p' >"$2"
}
# usage: user and system CPU seconds of the service, and MariaDB's Com_select so far.
usage() {
    local selects
    selects="$(MYSQL_PWD="${DB_PASS#-}" "$SQL_CLIENT" -u"$DB_USER" -h"$DB_HOST" -P"$DB_PORT" -N -B \
        -e "SHOW GLOBAL STATUS LIKE 'Com_select'" | cut -f2)"
    awk -v c="$CLK" -v s="$selects" '{print $14 / c, $15 / c, s}' "/proc/${PIDS[0]}/stat"
}

ROWS="$WORK_DIR/rows.jsonl"
for round in $(seq "$ROUNDS"); do
    order=("${VALUES[@]}")
    if [ $((round % 2)) = 0 ]; then
        order=()
        for ((i = ${#VALUES[@]} - 1; i >= 0; i--)); do order+=("${VALUES[$i]}"); done
    fi
    for value in "${order[@]}"; do
        start "$BIN" "$PORT" "r$round-$value" "$VAR=$value"
        load 3 /dev/null
        sleep 2 # every page the warm-up cached has expired
        read -r u0 s0 q0 < <(usage)
        load "$SECONDS_EACH" "$WORK_DIR/wrk"
        read -r u1 s1 q1 < <(usage)
        stop_services
        python3 - "$round" "$value" "$WORK_DIR/wrk" "$u0" "$u1" "$s0" "$s1" "$q0" "$q1" >>"$ROWS" <<'PY'
import json, sys
round_, value, wrk, u0, u1, s0, s1, q0, q1 = sys.argv[1:]
with open(wrk) as f:
    text = f.read().strip()
r = json.loads(text) if text else {}
n = r.get("requests", 0)
errors = sum(r.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx_3xx"))
print(json.dumps({"round": int(round_), "value": value, "rps": r.get("rps"), "p50_ms": r.get("p50_ms"),
                  "p99_ms": r.get("p99_ms"), "requests": n, "errors": errors,
                  "cpu_us": (float(u1) - float(u0) + float(s1) - float(s0)) * 1e6 / n if n else None,
                  "statements": (int(q1) - int(q0)) / n if n else None}))
PY
        tail -1 "$ROWS"
    done
done

mkdir -p bench/results
REPORT="bench/results/sweep-$(date -u +%Y-%m-%d-%H%M).md"
python3 - "$ROWS" "$BIN" "$VAR" "$ROUNDS" "$SECONDS_EACH" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
    "$(nproc)" "${VALUES[@]}" >"$REPORT" <<'PY'
import json, statistics, sys
rows_file, binary, var, rounds, seconds, cpu_model, cpus, *values = sys.argv[1:]
rows = [json.loads(line) for line in open(rows_file) if line.strip()]
fmt = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
med = lambda xs: statistics.median(xs) if xs else None
print(f"# FarmLokal on (b)'s misses by `{var}`, {rounds} rounds of {seconds} s per value\n")
print(f"- Binary: `{binary}`")
print(f"- Machine: {cpus} CPUs ({cpu_model.strip()}); the service, MariaDB, Redis and wrk share them")
print("- Each turn: `wrk -t2 -c64` over (b)'s distinct listing URLs, cache TTL 1 s; the values take turns, the")
print("  order reversed every other round; CPU from /proc/<pid>/stat, statements from MariaDB's Com_select\n")
print(f"| {var} | req/s median | req/s range | x first | p50 ms | p99 ms | statements/miss | service CPU µs/miss | errors |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
base = None
for value in values:
    mine = [r for r in rows if r["value"] == value and r["rps"]]
    rps = [r["rps"] for r in mine]
    m = med(rps)
    if base is None:
        base = m
    ratio = m / base if m and base else None
    spread = f"{min(rps):,.0f}-{max(rps):,.0f}" if rps else "-"
    print(f"| {value} | {fmt(m, 0)} | {spread} | {fmt(ratio, 2)} | {fmt(med([r['p50_ms'] for r in mine]))} | "
          f"{fmt(med([r['p99_ms'] for r in mine]))} | {fmt(med([r['statements'] for r in mine]), 2)} | "
          f"{fmt(med([r['cpu_us'] for r in mine]), 0)} | {sum(r['errors'] for r in rows if r['value'] == value)} |")
missing = len(values) * int(rounds) - sum(1 for r in rows if r["rps"])
if missing:
    print(f"\n**{missing} turn(s) printed no wrk results** (see the rows above in the run's output).")
PY
cat "$REPORT"
echo "written to $REPORT"
