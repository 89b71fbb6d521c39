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
# latency, the service's own misses per request (its cache counter: 1.00 when every request was a miss), MariaDB's
# statements per miss (Com_select), the CPU per miss (user + system, from /proc/<pid>/stat) of the service and of
# MariaDB and Redis when they run on this machine, all per wrk request, and req/s as a ratio to the first value's.
#
# Needs the database and URL set bench/run.sh prepares (see bench/miss_path.sh): `BENCH_ONLY=prepare BENCH_DATA=DIR
# bench/run.sh`, then BENCH_DATA=DIR here (and BENCH_DATABASE, default farmlokal_bench, as there); the mariadb
# (or mysql) client reads Com_select. SWEEP_CONNECTIONS (64) and SWEEP_DELAY_MS (unset: none) pace the load
# instead: each connection pauses that long between a response and its next request, so the rows compare
# latency at an offered load below capacity. Writes the table to stdout and to
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
CONNECTIONS="${SWEEP_CONNECTIONS:-64}"
DELAY_MS="${SWEEP_DELAY_MS:-}"
[ -z "$DELAY_MS" ] || [[ "$DELAY_MS" =~ ^[1-9][0-9]*$ ]] || { echo "SWEEP_DELAY_MS: milliseconds, not '$DELAY_MS'" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ && "$CONNECTIONS" -ge 2 ]] || { echo "SWEEP_CONNECTIONS: 2 or more, not '$CONNECTIONS'" >&2; exit 2; }
for knob in ROUNDS SECONDS_EACH; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || { echo "SWEEP_${knob%_EACH}: a positive whole number, not '${!knob}'" >&2; exit 2; }
done
RUN="sweep$(date +%s)"
# shellcheck source=bench/miss_path.sh
. bench/miss_path.sh
PORT=18193
# The client options of the MySQL URL, one per line (user, password, host, port), for Com_select.
mapfile -t DB < <(python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.unquote(u.username or "root"), urllib.parse.unquote(u.password or ""), u.hostname or "127.0.0.1",
      u.port or 3306, sep="\n")
' "$MYSQL_BASE")
SQL_CLIENT="$(command -v mariadb || command -v mysql)" || { echo "needs the mariadb or mysql client" >&2; exit 2; }
# The processes listening on MariaDB's and Redis's ports, when they run on this machine (their CPU per miss is
# then reported too; "-" otherwise).
listener() {
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -nE 's/.*pid=([0-9]+).*/\1/p' | head -1
}
MARIADB_PID="$(listener "${DB[3]}")"
REDIS_PORT="$(sed -E 's#^redis://([^@/]*@)?[^:/]+:?([0-9]*).*#\2#' <<<"$REDIS_URL")"
REDIS_PID="$(listener "${REDIS_PORT:-6379}")"

# load SECONDS OUT: (b)'s load; wrk's BENCH_JSON line in OUT (empty when wrk failed: the turn is reported so).
load() {
    { BENCH_URLS="$URLS" BENCH_THREADS=2 BENCH_DELAY_MS="$DELAY_MS" wrk -t2 -c"$CONNECTIONS" -d"$1s" --timeout 10s \
        -s bench/lua/bench.lua "http://127.0.0.1:$PORT/" 2>&1 || true; } | sed -n 's/^BENCH_JSON //p' >"$2"
}
# usage: the service's user and system CPU seconds and its misses (its own counter), the server's Com_select, and
# MariaDB's and Redis's CPU seconds ("-" when not on this machine), so far; nothing when one of the first four
# cannot be read (the turn is then reported as failed).
usage() {
    local selects misses
    selects="$(MYSQL_PWD="${DB[1]}" "$SQL_CLIENT" --protocol=TCP -u"${DB[0]}" -h"${DB[2]}" -P"${DB[3]}" -N -B \
        -e "SHOW GLOBAL STATUS LIKE 'Com_select'" 2>/dev/null | cut -f2)" || return 0
    misses="$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
        awk '/^farmlokal_cache_requests_total\{result="miss"\}/ {print $2}')" || return 0
    [[ "$selects" =~ ^[0-9]+$ && -n "$misses" ]] || return 0
    awk -v c="$CLK" -v s="$selects" -v m="$misses" -v db="$(cpu_seconds "$MARIADB_PID")" \
        -v redis="$(cpu_seconds "$REDIS_PID")" '{print $14 / c, $15 / c, s, m, db, redis}' "/proc/${PIDS[0]}/stat" \
        2>/dev/null || true
}
# cpu_seconds PID: its user + system CPU seconds, or "-".
cpu_seconds() {
    { [ -n "$1" ] && awk -v c="$CLK" '{print ($14 + $15) / c}' "/proc/$1/stat" 2>/dev/null; } || echo -
}

ROWS="$WORK_DIR/rows.jsonl"
: >"$ROWS"
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
        before="$(usage)"
        load "$SECONDS_EACH" "$WORK_DIR/wrk"
        after="$(usage)"
        stop_services
        python3 - "$round" "$value" "$WORK_DIR/wrk" "$before" "$after" >>"$ROWS" <<'PY'
import json, sys
round_, value, wrk, before, after = sys.argv[1:]
with open(wrk) as f:
    text = f.read().strip()
r = json.loads(text) if text else {}
n = r.get("requests", 0)
row = {"round": int(round_), "value": value, "rps": r.get("rps") if n else None, "p50_ms": r.get("p50_ms"),
       "p99_ms": r.get("p99_ms"), "requests": n, "cpu_us": None, "statements": None, "misses": None,
       "db_cpu_us": None, "redis_cpu_us": None,
       "errors": sum(r.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                            "non_2xx_3xx"))}
if n and len(before.split()) == 6 and len(after.split()) == 6:
    b, a = before.split(), after.split()
    (u0, s0, q0, m0), (u1, s1, q1, m1) = ([float(x) for x in t[:4]] for t in (b, a))
    row.update(cpu_us=(u1 - u0 + s1 - s0) * 1e6 / n, statements=(q1 - q0) / n, misses=(m1 - m0) / n)
    for key, i in (("db_cpu_us", 4), ("redis_cpu_us", 5)):
        if "-" not in (b[i], a[i]):
            row[key] = (float(a[i]) - float(b[i])) * 1e6 / n
elif n:
    row["unread"] = True
print(json.dumps(row))
PY
        tail -1 "$ROWS"
    done
done

mkdir -p bench/results
REPORT="bench/results/sweep-$(date -u +%Y-%m-%d-%H%M).md"
python3 - "$ROWS" "$BIN" "$VAR" "$ROUNDS" "$SECONDS_EACH" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
    "$(nproc)" "$DATABASE" "$(wc -l <"$URLS")" "$CONNECTIONS" "$DELAY_MS" "${VALUES[@]}" >"$REPORT" <<'PY'
import json, statistics, sys
rows_file, binary, var, rounds, seconds, cpu_model, cpus, database, urls, connections, delay_ms, *values = sys.argv[1:]
rows = [json.loads(line) for line in open(rows_file) if line.strip()]
fmt = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
med = lambda xs: statistics.median(xs) if xs else None
print(f"# FarmLokal on (b)'s misses by `{var}`, {rounds} rounds of {seconds} s per value\n")
print(f"- Binary: `{binary}`")
print(f"- Machine: {cpus} CPUs ({cpu_model.strip()}); the service, MariaDB, Redis and wrk share them")
print(f"- Data: database `{database}`, {int(urls):,} distinct listing URLs")
paced = f", each connection pausing {delay_ms} ms between a response and its next request" if delay_ms else ""
print(f"- Each turn: `wrk -t2 -c{connections}` over (b)'s distinct listing URLs{paced}, cache TTL 1 s; the values take turns, the")
print("  order reversed every other round; CPU from /proc/<pid>/stat, statements from MariaDB's Com_select\n")
print(f"| {var} | req/s median | req/s range | x {values[0]} | p50 ms | p99 ms | misses/request | "
      "statements/miss | service CPU µs/miss | MariaDB CPU µs/miss | Redis CPU µs/miss | errors |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
measured = lambda value: [r for r in rows if r["value"] == value and r["rps"]]
base = med([r["rps"] for r in measured(values[0])])
for value in values:
    mine = measured(value)
    rps = [r["rps"] for r in mine]
    m = med(rps)
    ratio = m / base if m and base else None
    spread = f"{min(rps):,.0f}-{max(rps):,.0f}" if rps else "-"
    known = lambda key: [r[key] for r in mine if r[key] is not None]
    print(f"| {value} | {fmt(m, 0)} | {spread} | {fmt(ratio, 2)} | {fmt(med(known('p50_ms')))} | "
          f"{fmt(med(known('p99_ms')))} | {fmt(med(known('misses')), 2)} | {fmt(med(known('statements')), 2)} | "
          f"{fmt(med(known('cpu_us')), 0)} | {fmt(med(known('db_cpu_us')), 0)} | {fmt(med(known('redis_cpu_us')), 0)} | "
          f"{sum(r['errors'] for r in rows if r['value'] == value)} |")
print("\nstatements/miss and CPU µs/miss are per wrk request (every one a miss when misses/request reads 1.00);"
      " statements are the server's Com_select, and MariaDB's and Redis's CPU their whole process's: other clients"
      " of the servers count too.")
missing = len(values) * int(rounds) - sum(1 for r in rows if r["rps"])
if missing:
    print(f"\n**{missing} turn(s) printed no wrk results** (see the rows above in the run's output).")
unread = sum(1 for r in rows if r.get("unread"))
if unread:
    print(f"\n**{unread} turn(s) could not read the service's CPU, its counters or Com_select**: those columns leave them out.")
PY
cat "$REPORT"
echo "written to $REPORT"
