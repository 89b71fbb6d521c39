#!/usr/bin/env bash
# Two builds of FarmLokal on the miss path at the same moment: bench/pair.sh <binary-a> <binary-b>
# (release binaries, built beforehand; the same path twice makes an A/A run that shows this machine's noise).
#
# Each pair starts both services (cache TTL 1 s, a fresh Redis prefix each), warms both for 3 s, then gives each
# half of (b)'s load at once (`wrk -t1 -c32` over (b)'s distinct listing URLs) for PAIR_SECONDS (10), and reads
# each service's CPU from /proc/<pid>/stat: misses per second, the service's CPU per miss (user and system) and
# page faults per miss, and b/a. PAIR_ROUNDS pairs (6), the two swapping ports and start order each pair.
# Both share MariaDB, Redis and the two cores at every instant, so the machine's drift, which moved sequential
# runs of one binary by a quarter minutes apart, hits both alike (bench/compare.sh alternates whole rows in
# ABBA rounds instead). What a pair cannot show is a change to what MariaDB or Redis spend per miss: both
# sides share them.
#
# Needs the database and URL set bench/run.sh prepares (see bench/miss_path.sh): `BENCH_ONLY=prepare BENCH_DATA=DIR
# bench/run.sh`, then BENCH_DATA=DIR here (and BENCH_DATABASE, default farmlokal_bench, as there).
# Writes the table to stdout and to bench/results/pair-YYYY-MM-DD-HHMM.md; unlinks its Redis keys at exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$#" -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
A_BIN="$1"
B_BIN="$2"
ROUNDS="${PAIR_ROUNDS:-6}"
SECONDS_EACH="${PAIR_SECONDS:-10}"
RUN="pair$(date +%s)"
# shellcheck source=bench/miss_path.sh
. bench/miss_path.sh
PORTS=(18191 18192)

# load PORT SECONDS OUT: half of (b)'s load on PORT; wrk's BENCH_JSON line in OUT.
load() {
    BENCH_URLS="$URLS" BENCH_THREADS=1 wrk -t1 -c32 -d"$2s" --timeout 10s -s bench/lua/bench.lua \
        "http://127.0.0.1:$1/" 2>&1 | sed -n 's/^BENCH_JSON //p' >"$3"
}
# cpu PID: user and system CPU seconds and minor page faults so far.
cpu() { awk -v c="$CLK" '{print $14 / c, $15 / c, $10}' "/proc/$1/stat"; }

ROWS="$WORK_DIR/rows.jsonl"
for round in $(seq "$ROUNDS"); do
    # Odd pairs: a on the first port, started first; even pairs: b.
    if [ $((round % 2)) = 1 ]; then order=(a b); else order=(b a); fi
    for i in 0 1; do
        side="${order[$i]}"
        if [ "$side" = a ]; then bin="$A_BIN"; else bin="$B_BIN"; fi
        start "$bin" "${PORTS[$i]}" "$side$round"
    done
    # `wait` on the load alone: a bare `wait` would wait for the services too.
    load "${PORTS[0]}" 3 /dev/null &
    warming=$!
    load "${PORTS[1]}" 3 /dev/null
    wait "$warming"
    sleep 2 # every page the warm-up cached has expired
    read -r u0a s0a f0a < <(cpu "${PIDS[0]}"); read -r u0b s0b f0b < <(cpu "${PIDS[1]}")
    load "${PORTS[0]}" "$SECONDS_EACH" "$WORK_DIR/wrk0" &
    measuring=$!
    load "${PORTS[1]}" "$SECONDS_EACH" "$WORK_DIR/wrk1"
    wait "$measuring"
    read -r u1a s1a f1a < <(cpu "${PIDS[0]}"); read -r u1b s1b f1b < <(cpu "${PIDS[1]}")
    stop_services
    python3 - "$round" "${order[0]}" "$WORK_DIR/wrk0" "$u0a" "$u1a" "$s0a" "$s1a" "$f0a" "$f1a" \
        "${order[1]}" "$WORK_DIR/wrk1" "$u0b" "$u1b" "$s0b" "$s1b" "$f0b" "$f1b" >>"$ROWS" <<'PY'
import json, sys
round_, rest = sys.argv[1], sys.argv[2:]
out = {"round": int(round_)}
for side, wrk, u0, u1, s0, s1, f0, f1 in (rest[:8], rest[8:]):
    with open(wrk) as f:
        text = f.read().strip()
    r = json.loads(text) if text else {}
    n = r.get("requests", 0)
    errors = sum(r.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx_3xx"))
    per = lambda a, b: (float(b) - float(a)) * 1e6 / n if n else None
    out[side] = {"rps": r.get("rps"), "user_us": per(u0, u1), "sys_us": per(s0, s1),
                 "faults": (int(f1) - int(f0)) / n if n else None, "errors": errors}
print(json.dumps(out))
PY
    tail -1 "$ROWS"
done

mkdir -p bench/results
REPORT="bench/results/pair-$(date -u +%Y-%m-%d-%H%M).md"
python3 - "$ROWS" "$A_BIN" "$B_BIN" "$ROUNDS" "$SECONDS_EACH" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
    "$(nproc)" >"$REPORT" <<'PY'
import json, statistics, sys
rows_file, a_bin, b_bin, rounds, seconds, cpu_model, cpus = sys.argv[1:]
rows = [json.loads(line) for line in open(rows_file) if line.strip()]
fmt = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
print(f"# FarmLokal side by side on (b)'s misses, {len(rows)} pairs of {seconds} s\n")
print(f"- a: `{a_bin}`\n- b: `{b_bin}`")
print(f"- Machine: {cpus} CPUs ({cpu_model.strip()}); both services, MariaDB, Redis and the two wrk share them")
print("- Each side: `wrk -t1 -c32` over (b)'s distinct listing URLs at once, cache TTL 1 s; CPU from /proc/<pid>/stat\n")
print("| pair | a req/s | b req/s | b/a req/s | a CPU µs/miss (user + sys) | b CPU µs/miss (user + sys) | "
      "b/a CPU | a faults/miss | b faults/miss | errors |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
ratios, cpu_ratios = [], []
for r in rows:
    a, b = r["a"], r["b"]
    ca = None if a["user_us"] is None else a["user_us"] + a["sys_us"]
    cb = None if b["user_us"] is None else b["user_us"] + b["sys_us"]
    rr = b["rps"] / a["rps"] if a.get("rps") and b.get("rps") else None
    cr = cb / ca if ca and cb else None
    if rr is not None:
        ratios.append(rr)
    if cr is not None:
        cpu_ratios.append(cr)
    print(f"| {r['round']} | {fmt(a['rps'], 0)} | {fmt(b['rps'], 0)} | {fmt(rr, 3)} | {fmt(ca)} "
          f"({fmt(a['user_us'])} + {fmt(a['sys_us'])}) | {fmt(cb)} ({fmt(b['user_us'])} + {fmt(b['sys_us'])}) | "
          f"{fmt(cr, 3)} | {fmt(a['faults'], 3)} | {fmt(b['faults'], 3)} | {a['errors'] + b['errors']} |")
if ratios and cpu_ratios:
    print(f"\nb/a misses per second: median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}; "
          f"b/a service CPU per miss: median {statistics.median(cpu_ratios):.3f}, "
          f"range {min(cpu_ratios):.3f}-{max(cpu_ratios):.3f}. A range on one side of 1 in every pair is a "
          "difference; a range across 1 is within what an A/A run shows.")
else:
    print("\nNo pair was measured: wrk printed no results (see the services' logs).")
PY
cat "$REPORT"
echo "written: $REPORT"
