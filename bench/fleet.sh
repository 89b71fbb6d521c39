#!/usr/bin/env bash
# FarmLokal fleet benchmark (a script, not a test): three instances behind nginx against one instance, on the same
# MariaDB + Redis data, with the mixed traffic of bench/run.sh's scenarios. Run it under nice on a shared machine:
#   nice -n 10 bench/fleet.sh
# It brings up MariaDB and Redis like scripts/test.sh, installs wrk and nginx with apt-get when missing, builds the
# release binary (CARGO_TARGET_DIR=target/bench, shared with bench/run.sh), seeds BENCH_PRODUCTS products into its
# own database `farmlokal_fleet` (kept for the next run), and measures with wrk, one row after the other:
#   1. one instance, direct;   2. nginx -> one instance;   3. nginx -> FLEET_SIZE instances (one Redis prefix)
# then checks correctness on a fleet with the rate limit on: every client's limit is exact when its requests go
# round robin to every instance, and cursor walks through nginx (each page on another instance) return exactly
# the pages of the same walk on one instance. nginx runs on loopback with its config, pid and logs under a
# throw-away directory. Writes bench/results/fleet-latest.md and bench/results/fleet-YYYY-MM-DD-HHMM.md.
# Knobs: BENCH_DURATION (s, 20), BENCH_WARMUP (s, 5), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
# BENCH_PRODUCTS (200000), FLEET_SIZE (3), BENCH_BIN (measure this binary, skip the build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
COMMAND="bench/fleet.sh"
for var in BENCH_DURATION BENCH_WARMUP BENCH_THREADS BENCH_CONNECTIONS BENCH_PRODUCTS FLEET_SIZE BENCH_BIN; do
    if [ -n "${!var:-}" ]; then COMMAND="$var=${!var} $COMMAND"; fi
done
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
PRODUCTS="${BENCH_PRODUCTS:-200000}"
FLEET_SIZE="${FLEET_SIZE:-3}"
DATABASE=farmlokal_fleet
CURSOR_SECRET="farmlokal-bench-cursor-secret-0123456789"
RUN_ID="fleet-$(date +%s)"
STAMP="$(date +%Y-%m-%d-%H%M)"
export CARGO_TARGET_DIR="$PWD/target/bench"
BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/farmlokal}"

WORK_DIR="$(mktemp -d /tmp/farmlokal-fleet.XXXXXX)"
# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

section "tools"
command -v wrk >/dev/null 2>&1 || apt_install wrk
NGINX="$(find_binary nginx || true)"
if [ -z "$NGINX" ]; then apt_install nginx-light || apt_install nginx; NGINX="$(find_binary nginx)"; fi
command -v curl >/dev/null 2>&1 || apt_install curl
note "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $("$NGINX" -v 2>&1)"

section "servers"
servers_up
MYSQL_BASE="$(sed -E 's#^(mysql://[^/?]+).*#\1#' <<<"$FARMLOKAL_TEST_MYSQL_URL")"
export FARMLOKAL_MYSQL_URL="$MYSQL_BASE/$DATABASE"
export FARMLOKAL_REDIS_URL="$FARMLOKAL_TEST_REDIS_URL"

if [ -z "${BENCH_BIN:-}" ]; then
    section "release build ($CARGO_TARGET_DIR)"
    cargo build --release --quiet
fi
section "data: $PRODUCTS products in $DATABASE"
"$BIN" migrate >"$WORK_DIR/migrate.log" 2>&1 || { cat "$WORK_DIR/migrate.log"; exit 1; }
"$BIN" seed --products "$PRODUCTS" 2>"$WORK_DIR/seed.err" | tail -1 || { cat "$WORK_DIR/seed.err"; exit 1; }

INSTANCE_PIDS=()
INSTANCE_URLS=()
# start_fleet N PREFIX RATE_LIMIT: N instances on free loopback ports sharing one Redis prefix and cursor secret,
# trusting X-Forwarded-For from loopback (nginx and the rate-limit check).
start_fleet() {
    local n="$1" prefix="$2" limit="$3" i port url
    stop_fleet
    port=18180
    for i in $(seq 1 "$n"); do
        port="$(free_port "$port")"
        url="http://127.0.0.1:$port"
        FARMLOKAL_BIND="127.0.0.1:$port" FARMLOKAL_REDIS_PREFIX="$prefix" FARMLOKAL_RATE_LIMIT_PER_MINUTE="$limit" \
            FARMLOKAL_CURSOR_SECRET="$CURSOR_SECRET" FARMLOKAL_TRUSTED_PROXIES=127.0.0.1/32 \
            FARMLOKAL_SHUTDOWN_DRAIN_SECS=0 RUST_LOG=warn "$BIN" serve >"$WORK_DIR/app-$prefix$i.log" 2>&1 &
        INSTANCE_PIDS+=("$!")
        STARTED_PIDS+=("$!")
        INSTANCE_URLS+=("$url")
        port=$((port + 1))
    done
    for url in "${INSTANCE_URLS[@]}"; do
        for _ in $(seq 1 300); do
            curl -fsS -o /dev/null "$url/health/ready" 2>/dev/null && break
            sleep 0.1
        done
        curl -fsS -o /dev/null "$url/health/ready" || { echo "instance $url not ready" >&2; exit 1; }
    done
    note "$n instance(s): ${INSTANCE_URLS[*]} (prefix $prefix, rate limit $limit)"
}
stop_fleet() {
    local pid
    for pid in "${INSTANCE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    INSTANCE_PIDS=()
    INSTANCE_URLS=()
}

NGINX_PID=""
LB_URL=""
# start_nginx: round robin over INSTANCE_URLS, on a free loopback port, everything under $WORK_DIR/nginx.
start_nginx() {
    local dir="$WORK_DIR/nginx" port servers="" url
    stop_nginx
    mkdir -p "$dir/tmp"
    port="$(free_port 18280)"
    for url in "${INSTANCE_URLS[@]}"; do servers+="        server ${url#http://};"$'\n'; done
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
user $(id -un);
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream fleet {
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://fleet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_max_temp_file_size 0;
        }
    }
}
CONF
    "$NGINX" -c "$dir/nginx.conf" -p "$dir" &
    NGINX_PID=$!
    STARTED_PIDS+=("$NGINX_PID")
    LB_URL="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "$LB_URL/health/live" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null "$LB_URL/health/live" || { cat "$dir/error.log"; exit 1; }
    note "nginx on $LB_URL -> ${#INSTANCE_URLS[@]} instance(s)"
}
stop_nginx() {
    if [ -n "$NGINX_PID" ]; then
        kill "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    NGINX_PID=""
}

URLS="$WORK_DIR/urls.txt"
URL_COUNT="$(python3 bench/fleet.py mix "$URLS" "$PRODUCTS")"
ROWS="$WORK_DIR/rows.jsonl"
: >"$ROWS"
# measure SETUP BASE_URL: warm-up, then the measured run of the mixed URLs; appends one JSON line to $ROWS.
measure() {
    local setup="$1" base="$2" json
    BENCH_URLS="$URLS" BENCH_THREADS="$THREADS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        -s bench/lua/bench.lua "$base" >"$WORK_DIR/wrk-warmup.txt" 2>&1
    BENCH_URLS="$URLS" BENCH_THREADS="$THREADS" BENCH_TRACK=1 \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s bench/lua/bench.lua "$base" \
        >"$WORK_DIR/wrk-$setup.txt" 2>&1
    json="$(sed -n 's/^BENCH_JSON //p' "$WORK_DIR/wrk-$setup.txt")"
    [ -n "$json" ] || { cat "$WORK_DIR/wrk-$setup.txt"; exit 1; }
    python3 -c 'import json,sys; r=json.loads(sys.argv[2]); r["setup"]=sys.argv[1]; print(json.dumps(r))' \
        "$setup" "$json" >>"$ROWS"
    note "$setup: $json"
}

section "throughput: one instance, then nginx -> one, then nginx -> $FLEET_SIZE"
start_fleet 1 "bench:$RUN_ID:one:" 0
measure "one instance, direct" "${INSTANCE_URLS[0]}"
# Every row starts from a fresh instance and Redis prefix, so each gets the same warm-up and no row inherits a
# cache the one before it filled.
start_fleet 1 "bench:$RUN_ID:lb-one:" 0
start_nginx
measure "nginx -> one instance" "$LB_URL"
start_fleet "$FLEET_SIZE" "bench:$RUN_ID:fleet:" 0
start_nginx
measure "nginx -> $FLEET_SIZE instances" "$LB_URL"

section "correctness on a fleet with the rate limit on"
start_fleet "$FLEET_SIZE" "bench:$RUN_ID:limits:" 100
start_nginx
RATELIMIT="$(python3 bench/fleet.py ratelimit 100 20 "${INSTANCE_URLS[@]}")"
note "rate limit: $RATELIMIT"
# The walks send one request per page: a fresh prefix keeps them clear of the rate-limit check's clients.
start_fleet "$FLEET_SIZE" "bench:$RUN_ID:walks:" 0
start_nginx
WALKS="$(python3 bench/fleet.py walks "$LB_URL" "${INSTANCE_URLS[0]}")"
note "walks: $WALKS"
stop_nginx
stop_fleet

section "report"
mkdir -p bench/results
python3 - "$WORK_DIR/results.json" "$ROWS" "$RATELIMIT" "$WALKS" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
json.dump({"throughput": rows, "ratelimit": json.loads(sys.argv[3]), "walks": json.loads(sys.argv[4])},
          open(sys.argv[1], "w"))
PY
mysql_version="$("$(find_binary mariadb mysql)" --protocol=TCP -h127.0.0.1 \
    -P"$(sed -E 's#^mysql://([^@/]*@)?[^:/]+:([0-9]+).*#\2#' <<<"$MYSQL_BASE")" -uroot -N -B -e 'SELECT VERSION()')"
redis_hp="$(sed -E 's#^redis://([^@/]*@)?([^/?]+).*#\2#' <<<"$FARMLOKAL_REDIS_URL")"
python3 - "$WORK_DIR/meta.json" <<PY
import json, subprocess, sys
sh = lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
json.dump({
    "date": "$(date '+%Y-%m-%d %H:%M %Z')", "command": "$COMMAND",
    "commit": sh("git rev-parse --short HEAD") + (" + uncommitted changes" if sh("git status --porcelain -- src Cargo.toml Cargo.lock") else ""),
    "nproc": int(sh("nproc") or 0), "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
    "products": $PRODUCTS, "mysql_version": "$mysql_version",
    "redis_version": sh("redis-cli -h ${redis_hp%:*} -p ${redis_hp##*:} INFO server | sed -n 's/^redis_version:\\\\(.*\\\\)\\\\r*$/\\\\1/p'").strip(),
    "nginx_version": sh("$NGINX -v 2>&1").replace("nginx version: ", ""),
    "threads": $THREADS, "connections": $CONNECTIONS, "duration": $DURATION, "warmup": $WARMUP, "urls": $URL_COUNT,
}, open(sys.argv[1], "w"))
PY
python3 bench/fleet.py report "$WORK_DIR/results.json" "$WORK_DIR/meta.json" >"bench/results/fleet-$STAMP.md"
cp "bench/results/fleet-$STAMP.md" bench/results/fleet-latest.md
cat bench/results/fleet-latest.md
note "written: bench/results/fleet-latest.md and bench/results/fleet-$STAMP.md"
