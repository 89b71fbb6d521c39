#!/usr/bin/env bash
# FarmLokal load benchmark (a script, not a test). Brings up MariaDB and Redis like scripts/test.sh, builds the
# release binary (CARGO_TARGET_DIR=target/bench), seeds BENCH_PRODUCTS products into `farmlokal_bench`, starts
# the service on 127.0.0.1 and drives it with wrk. Targets are ratios to limits measured in the same run (issue
# 15); absolute rates are printed for reference with the machine's CPU model and never pass or fail a row:
#   (e) /health/live, the framework ceiling        (a) one hot listing URL (cached)
#   (b) thousands of distinct listings (misses)     (c) page 1 versus page BENCH_DEEP_PAGE reached by cursor
#   (d) `q` searches                                (f) the (b) URLs with include=total,facets (misses)
#   (g) searches in Hindi and romanised Hindi        (h) the estimate's error of totals and facets vs COUNT(*)
#   (a-br) and (b-br): (a) and (b) again with `Accept-Encoding: br, gzip`, right after their identity rows, and
#   the bytes of listing pages without and with that header (issue 12's targets: >= 90% of (a)'s req/s, pages
#   >= 4x smaller, a compressed miss <= 1.15x the cost of an identity miss)
# The limits (bench/limits.sh; each a BENCH_ONLY word):
#   bare   examples/bare_page.rs, a bare poem handler serving the hot page's exact bytes and Content-Type (fetched
#          from the service first), measured with (a)'s wrk options in ABBA order beside (a): target (a) >= 85%
#   db     MariaDB alone on the statements the service issued for (b), (c) and (d): a capture pass asks every URL
#          of the row (or the first BENCH_CAPTURE; 4 connections, one request at a time each) with the general log
#          on (mysql.general_log, switched back and emptied again afterwards), keeping the service's connections
#          only; mariadb-slap then runs them at the row's concurrency c for BENCH_DURATION s, the statements
#          dealt out to its clients like cards (client i runs statements i, i + c, ...). MariaDB's req/s =
#          statements/s / statements per request. Target (b) >= 60% of it; (c) and (d) are figures. Fewer
#          statements make a kinder limit (a smaller working set, each statement run again and again): MariaDB
#          ran 1,000 of (b)'s statements 13% faster than 20,000, so the capture takes them all
#   seed   `farmlokal seed --products N` into an empty `<BENCH_DATABASE>_seed` vs LOAD DATA of a dump of the same
#          rows into an empty table plus the same indexes in one ALTER (and ANALYZE, as the seeder): the ratio
#   fresh  BENCH_FRESH_CHANGES signed price changes (POST /webhooks/partner-b) spread over BENCH_FRESH_SPREAD s, each
#          polled every 50 ms on GET /products/{id} and on a cached listing holding the product, until it shows
#          (at most BENCH_FRESH_TIMEOUT s); on one instance, then on two sharing Redis and MySQL; cache TTL default
# Writes the Markdown table to bench/results/latest.md and bench/results/YYYY-MM-DD-HHMM.md.
# Knobs (environment): BENCH_DURATION (s, 25), BENCH_WARMUP (s, 5), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
# BENCH_SEARCH_CONNECTIONS (8), BENCH_PRODUCTS (1000000), BENCH_DEEP_PAGE (5000), BENCH_B_RATE (2000: the steady
# rate of (b)'s latency row, sent by oha, installed into target/bench/tools when missing; 0: no such row, no oha),
# BENCH_ONLY (e.g. "e a"; the rows: e a bare a-br b b-br c d f g h db seed fresh; all by default),
# BENCH_DATABASE (farmlokal_bench: the database seeded and measured), BENCH_RATE (1; 0 skips the oha rows
# b_rate and f_rate and the oha install), BENCH_ESTIMATES (200: queries of row (h)), BENCH_BUFFER_POOL (1G: InnoDB's buffer pool sized for the 1M-row data set during the run, as production would
# size it; the server's own value is restored at exit; "default" leaves the server as it is), BENCH_CAPTURE (all:
# URLs per capture pass of db, all of the row's or a number; (b) walks 66,799), BENCH_BARE_BIN (a built bare_page instead of building it), BENCH_FRESH_CHANGES
# (20, at most 50), BENCH_FRESH_SPREAD (60), BENCH_FRESH_TIMEOUT (90), BENCH_MYSQL_TRANSPORT (tcp: the service and
# mariadb-slap both reach MariaDB over TCP on loopback, as across a network; socket: both over the server's Unix
# socket, as on one box. The same for both sides either way: mysql_async on its own moves a loopback connection to
# the socket, which once made (b) cheaper than the limit it was compared with), BENCH_ROUNDS (1: how many ABBA
# blocks (a) and bare, and (b) and db, run; each row's req/s is over all its rounds, which the table lists).
# Exit status: 0 when every selected row was measured (whatever its verdict), 1 when a row could not be measured
# or the run stopped early; the report says which and why, and is written either way.
# The servers: FARMLOKAL_TEST_MYSQL_URL / FARMLOKAL_TEST_REDIS_URL or the *_PORT variables, as in scripts/test.sh.
# Knobs for bench/compare.sh (unset: the behaviour above): BENCH_BIN (measure this binary, skip the build),
# BENCH_RESULTS (directory for the report instead of bench/results; results.jsonl and meta.json are kept there
# too), BENCH_DATA (directory keeping the walks and URL sets: filled on the first run, reused by later ones, whose
# service is first asked a sample of the walked cursor URLs: if it rejects them as invalid_cursor, (b) is not
# measured and the report says so), BENCH_RUN_ID (part of the Redis prefixes; default the Unix time) and
# BENCH_ONLY=prepare (with BENCH_DATA: seed and walk, measure nothing).
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
COMMAND="bench/run.sh${*:+ $*}"
for var in BENCH_DURATION BENCH_WARMUP BENCH_THREADS BENCH_CONNECTIONS BENCH_SEARCH_CONNECTIONS BENCH_PRODUCTS \
    BENCH_DEEP_PAGE BENCH_B_RATE BENCH_ONLY BENCH_BIN BENCH_DATA BENCH_DATABASE BENCH_RATE BENCH_ESTIMATES \
    BENCH_BUFFER_POOL BENCH_CAPTURE BENCH_BARE_BIN BENCH_FRESH_CHANGES BENCH_FRESH_SPREAD BENCH_FRESH_TIMEOUT \
    BENCH_MYSQL_TRANSPORT BENCH_ROUNDS; do
    if [ -n "${!var:-}" ]; then COMMAND="$var=${!var} $COMMAND"; fi
done

DURATION="${BENCH_DURATION:-25}"
ROUNDS="${BENCH_ROUNDS:-1}"
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "BENCH_ROUNDS=$ROUNDS: a number of ABBA blocks, 1 to 99" >&2; exit 2; }
WARMUP="${BENCH_WARMUP:-5}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
SEARCH_CONNECTIONS="${BENCH_SEARCH_CONNECTIONS:-8}"
PRODUCTS="${BENCH_PRODUCTS:-1000000}"
DEEP_PAGE="${BENCH_DEEP_PAGE:-5000}"
ONLY="${BENCH_ONLY:-e a bare a-br b b-br c d f g h db seed fresh}"
B_RATE="${BENCH_B_RATE:-2000}"
ESTIMATES="${BENCH_ESTIMATES:-200}"
CAPTURE="${BENCH_CAPTURE:-all}"
CAPTURE="${CAPTURE,,}"
[[ "$CAPTURE" =~ ^(all|[1-9][0-9]*)$ ]] || { echo "BENCH_CAPTURE must be all or a positive number" >&2; exit 2; }
FRESH_CHANGES="${BENCH_FRESH_CHANGES:-20}"
if [ "$FRESH_CHANGES" -gt 50 ]; then FRESH_CHANGES=50; fi # one listing URL per change, limits 1..100 in two runs
FRESH_SPREAD="${BENCH_FRESH_SPREAD:-60}"
FRESH_TIMEOUT="${BENCH_FRESH_TIMEOUT:-90}"
# whsec_ + base64 of 32 fixed bytes: the secret the fresh rows sign their webhooks with.
WEBHOOK_SECRET="whsec_$(printf farmlokal-bench-webhook-secret-0 | base64)"
OHA_VERSION=1.16.0
C_CONNECTIONS=4
C_DELAY_MS=60
HOT_PATH="/products?category=vegetables&sort=price&limit=20"
BR_OFFER="br, gzip" # the same string as BR_OFFER in bench/tool.py
DATABASE="${BENCH_DATABASE:-farmlokal_bench}"
CURSOR_SECRET="farmlokal-bench-cursor-secret-0123456789"
RUN_ID="${BENCH_RUN_ID:-$(date +%s)}"
STAMP="$(date +%Y-%m-%d-%H%M)"
RESULTS_DIR="${BENCH_RESULTS:-bench/results}"
export CARGO_TARGET_DIR="$PWD/target/bench"
BIN="$CARGO_TARGET_DIR/release/farmlokal"
if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$(realpath "$BENCH_BIN")"
    if [ ! -f "$BIN" ] || [ ! -x "$BIN" ]; then echo "BENCH_BIN=$BENCH_BIN is not an executable file" >&2; exit 1; fi
fi
DATA_DIR="${BENCH_DATA:-}"
if [ -n "$DATA_DIR" ]; then mkdir -p "$DATA_DIR"; DATA_DIR="$(realpath "$DATA_DIR")"; fi

WORK_DIR="$(mktemp -d /tmp/farmlokal-bench.XXXXXX)"
# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
RESULTS="$WORK_DIR/results.jsonl"
: >"$RESULTS"
CURRENT_SECTION="start"
section() { CURRENT_SECTION="$*"; printf '\n========== %s ==========\n' "$*"; }
STOPPED=""
trap 'STOPPED="${STOPPED:-stopped in section \"$CURRENT_SECTION\": line $LINENO: \`$BASH_COMMAND\` exited $?}"' ERR
REPORTED=0
RESTORE_POOL=""
# shellcheck source=bench/report.sh
source bench/report.sh
trap finish EXIT
trap 'exit 130' INT TERM
# shellcheck source=bench/limits.sh
source bench/limits.sh

wants() { [[ " $ONLY " == *" $1 "* ]]; }
MYSQL_CMD=""
SLAP_CMD=""

section "tools"
command -v wrk >/dev/null 2>&1 || apt_install wrk
OHA="$(command -v oha || echo "$CARGO_TARGET_DIR/tools/bin/oha")"
RATE_ROWS="${BENCH_RATE:-1}"
if [ "$B_RATE" = 0 ]; then RATE_ROWS=0; fi
if [ "$RATE_ROWS" = 1 ] && wants b && [ ! -x "$OHA" ]; then
    note "installing oha $OHA_VERSION into $CARGO_TARGET_DIR/tools (about 3 minutes, once)"
    cargo install oha --locked --quiet --version "$OHA_VERSION" --root "$CARGO_TARGET_DIR/tools"
fi
command -v python3 >/dev/null 2>&1 || apt_install python3
command -v curl >/dev/null 2>&1 || apt_install curl
note "$(wrk --version 2>&1 | head -1)"

section "servers"
servers_up
MYSQL_BASE="$(sed -E 's#^(mysql://[^/?]+).*#\1#' <<<"$FARMLOKAL_TEST_MYSQL_URL")"
export FARMLOKAL_REDIS_URL="$FARMLOKAL_TEST_REDIS_URL"
MYSQL_HOST_PORT="$(sed -E 's#^mysql://([^@/]*@)?([^/?]+).*#\2#' <<<"$MYSQL_BASE")"
# The client's options for the server over TCP: the bench's own queries go this way whatever the transport.
MYSQL_TCP=(--protocol=TCP -h"${MYSQL_HOST_PORT%:*}" -P"${MYSQL_HOST_PORT##*:}")
MYSQL_CMD="$(find_binary mariadb mysql) ${MYSQL_TCP[*]} -uroot -N -B -e"
# How the service, mariadb-slap and the seeding row's LOAD DATA reach MariaDB: the same way for all (see
# BENCH_MYSQL_TRANSPORT above).
MYSQL_TRANSPORT="${BENCH_MYSQL_TRANSPORT:-tcp}"
case "$MYSQL_TRANSPORT" in
    tcp)
        MYSQL_URL_QUERY="?prefer_socket=false"
        MYSQL_LINK=("${MYSQL_TCP[@]}")
        ;;
    socket)
        # The driver's own choice on loopback: it asks the server for its socket and reconnects there.
        MYSQL_URL_QUERY="?prefer_socket=true"
        MYSQL_LINK=(--protocol=SOCKET --socket="$($MYSQL_CMD 'SELECT @@socket')")
        ;;
    *) echo "BENCH_MYSQL_TRANSPORT=$MYSQL_TRANSPORT: tcp or socket" >&2; exit 2 ;;
esac
export FARMLOKAL_MYSQL_URL="$MYSQL_BASE/$DATABASE$MYSQL_URL_QUERY"
SLAP_CMD="$(find_binary mariadb-slap mysqlslap || echo mariadb-slap) ${MYSQL_LINK[*]} -uroot --create-schema=$DATABASE"
REDIS_HOST_PORT="$(sed -E 's#^redis://([^@/]*@)?([^/?]+).*#\2#' <<<"$FARMLOKAL_REDIS_URL")"
mysql_client() { "$(find_binary mariadb mysql)" "${MYSQL_TCP[@]}" -uroot -N -B "$@"; }
# mysql_link_client ARGS: the client over the run's transport, for the seeding row's LOAD DATA.
mysql_link_client() { "$(find_binary mariadb mysql)" "${MYSQL_LINK[@]}" -uroot -N -B "$@"; }
BUFFER_POOL="${BENCH_BUFFER_POOL:-1G}"
if [ "$BUFFER_POOL" != default ]; then
    ORIGINAL_POOL="$(mysql_client -e 'SELECT @@innodb_buffer_pool_size')"
    RESTORE_POOL="$ORIGINAL_POOL"
    bytes="$(numfmt --from=iec "$BUFFER_POOL")"
    mysql_client -e "SET GLOBAL innodb_buffer_pool_size = $bytes"
    note "innodb_buffer_pool_size $ORIGINAL_POOL -> $(mysql_client -e 'SELECT @@innodb_buffer_pool_size') for this run"
fi

if [ -n "${BENCH_BIN:-}" ]; then
    section "release binary (BENCH_BIN, not built here)"
    BUILD="given binary $BIN"
else
    section "release build ($CARGO_TARGET_DIR)"
    cargo build --release --quiet
    BUILD="CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release"
fi
note "$BIN"

section "data: $PRODUCTS products in $DATABASE"
"$BIN" migrate >"$WORK_DIR/migrate.log" 2>&1 || { cat "$WORK_DIR/migrate.log"; exit 1; }
"$BIN" seed --products "$PRODUCTS" 2>"$WORK_DIR/seed.err" | tail -1 || { cat "$WORK_DIR/seed.err"; exit 1; }
if [ "$BUFFER_POOL" != default ]; then
    # InnoDB resizes the pool in the background and stalls reads while it does (a 3 s stall failed one (b)
    # request): wait for it, then read the table and every index once, so no scenario starts on a cold pool.
    for _ in $(seq 1 120); do
        case "$(mysql_client -e "SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'" | cut -f2)" in
            "" | Completed* | *completed*) break ;;
        esac
        sleep 0.5
    done
    started=$SECONDS
    for index in PRIMARY ix_created ix_price ix_name ix_cat_created ix_cat_price ix_cat_name; do
        mysql_client "$DATABASE" -e "SELECT COUNT(*), SUM(price_paise) FROM products FORCE INDEX ($index)" >/dev/null
    done
    note "buffer pool warmed: the table and its indexes read once ($((SECONDS - started)) s)"
fi

APP_PID=""
APP_URL=""
# start_app NAME TTL_SECS: the release binary on a free loopback port with a fresh Redis prefix.
start_app() {
    local name="$1" ttl="$2" port
    stop_app
    port="$(free_port 18080)"
    APP_URL="http://127.0.0.1:$port"
    local ttl_env=(FARMLOKAL_CACHE_TTL_SECS="$ttl")
    if [ "$ttl" = default ]; then ttl_env=(); fi # the service's own default
    env "${ttl_env[@]}" FARMLOKAL_BIND="127.0.0.1:$port" FARMLOKAL_REDIS_PREFIX="bench:$RUN_ID:$name:" \
        FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 FARMLOKAL_CURSOR_SECRET="$CURSOR_SECRET" \
        FARMLOKAL_WEBHOOK_SECRETS="$WEBHOOK_SECRET" RUST_LOG=warn "$BIN" serve >"$WORK_DIR/app-$name.log" 2>&1 &
    APP_PID=$!
    STARTED_PIDS+=("$APP_PID")
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$APP_URL/health/ready" 2>/dev/null; then
            note "service $name up on $APP_URL (prefix bench:$RUN_ID:$name:, cache TTL $([ "$ttl" = default ] && echo default || echo "$ttl s"), pid $APP_PID)"
            return 0
        fi
        kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK_DIR/app-$name.log"; exit 1; }
        sleep 0.1
    done
    echo "the service did not become ready:" >&2
    curl -sS "$APP_URL/health/ready" >&2 || true
    exit 1
}
stop_app() {
    if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
        kill "$APP_PID"
        for _ in $(seq 1 100); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$APP_PID" 2>/dev/null || true
    fi
    APP_PID=""
}

# measure NAME PATH [ENV=VALUE ...] [-- WRK_OPTIONS]: warm-up, then the measured run against MEASURE_BASE
# (default: the service); appends to $RESULTS (a "not measured" record when wrk printed no results). With
# COUNT_CACHE=1 among the ENVs, the cache column comes from the service's own counters (/metrics before and
# after the measured run) instead of bench.lua's response hook, which costs wrk CPU the service then lacks.
measure() {
    local name="$1" path="$2"
    shift 2
    local envs=() wrk_opts=() count_cache=0 before=""
    while [ "$#" -gt 0 ]; do
        if [ "$1" = -- ]; then shift; wrk_opts=("$@"); break; fi
        if [ "$1" = COUNT_CACHE=1 ]; then count_cache=1; else envs+=("$1"); fi
        shift
    done
    [ "${#wrk_opts[@]}" -gt 0 ] || wrk_opts=(-t"$THREADS" -c"$CONNECTIONS")
    local base="${MEASURE_BASE:-$APP_URL}"
    if [ "$WARMUP" -gt 0 ]; then
        env "${envs[@]}" BENCH_THREADS="$THREADS" wrk "${wrk_opts[@]}" -d"${WARMUP}s" -s bench/lua/bench.lua \
            "$base$path" >"$WORK_DIR/wrk-$name-warmup.txt" 2>&1 || true
        sleep 2 # with a 1 s cache TTL, what the warm-up cached has expired before the measured run
    fi
    if [ "$count_cache" = 1 ]; then before="$(curl -fsS "$base/metrics" || true)"; fi
    local TIMEFORMAT="%U %S" load_cpu # wrk's own user and system CPU seconds, from bash's time keyword
    load_cpu="$({ time env "${envs[@]}" BENCH_THREADS="$THREADS" wrk "${wrk_opts[@]}" -d"${DURATION}s" --timeout 10s \
        --latency -s bench/lua/bench.lua "$base$path" >"$WORK_DIR/wrk-$name.txt" 2>&1; } 2>&1)" || true
    local json
    json="$(sed -n 's/^BENCH_JSON //p' "$WORK_DIR/wrk-$name.txt")"
    if [ -z "$json" ]; then
        tail -5 "$WORK_DIR/wrk-$name.txt"
        skip "$name" "wrk printed no results: $(tail -1 "$WORK_DIR/wrk-$name.txt" | tr -d '"\\')"
        return 0
    fi
    if [ "$count_cache" = 1 ]; then
        json="$(python3 bench/tool.py counted "$json" "$before" "$(curl -fsS "$base/metrics" || true)")"
    fi
    # shellcheck disable=SC2086 # two numbers, split on purpose
    json="$(python3 bench/tool.py loadcpu "$json" $load_cpu)"
    python3 bench/tool.py record "$name" "$json" "$RESULTS" >/dev/null
    note "$name: $json"
}

# The rate row of (b): URLs offered at a steady rate (open loop) by oha, its latency corrected for coordinated
# omission, so p99 is what a user sees at that rate rather than the queue a closed-loop tool builds once the
# service is saturated. The cache column comes from the service's own counters (/metrics) before and after.
measure_rate() {
    local name="$1" rate="$2" urls="$3" before after
    sed "s#^#$APP_URL#" "$urls" >"$WORK_DIR/oha-$name-urls.txt"
    oha_run() {
        "$OHA" --no-tui --output-format json -q "$rate" --latency-correction -c "$CONNECTIONS" -z "${1}s" \
            --urls-from-file "$WORK_DIR/oha-$name-urls.txt"
    }
    if [ "$WARMUP" -gt 0 ]; then
        oha_run "$WARMUP" >"$WORK_DIR/oha-$name-warmup.json"
        sleep 2
    fi
    before="$(curl -fsS "$APP_URL/metrics" | grep '^farmlokal_cache_requests_total' || true)"
    oha_run "$DURATION" >"$WORK_DIR/oha-$name.json"
    after="$(curl -fsS "$APP_URL/metrics" | grep '^farmlokal_cache_requests_total' || true)"
    python3 bench/tool.py record "$name" \
        "$(python3 bench/tool.py oha "$name" "$rate" "$WORK_DIR/oha-$name.json" "$before" "$after")" "$RESULTS" >/dev/null
    note "$name: $(tail -1 "$RESULTS")"
}

if wants e || wants a || wants a-br || wants bare; then
    section "(e), (a), (a-br) and bare: cache TTL 60 s"
    start_app hot 60
    curl -fsS -o /dev/null -D - "$APP_URL$HOT_PATH" | grep -i '^x-cache' | sed 's/^/  first request: /'
    if wants e; then measure e /health/live; fi
    measure_a() { measure "$1" "$HOT_PATH"; }
    measure_a_br() { measure "$1" "$HOT_PATH" -- -t"$THREADS" -c"$CONNECTIONS" -H "Accept-Encoding: $BR_OFFER"; }
    if wants a-br; then
        curl -fsS -o /dev/null -D - -H "Accept-Encoding: $BR_OFFER" "$APP_URL$HOT_PATH" | grep -i '^content-encoding' \
            | sed 's/^/  (a-br) first request: /'
    fi
    # bare: the same path and wrk options against a bare poem handler serving the same bytes (no cache, no
    # middleware): the limit of (a).
    measure_bare() { MEASURE_BASE="$BARE_URL" measure "$1" "$HOT_PATH"; }
    bare_up=0
    if wants bare; then
        if start_bare; then bare_up=1; else skip bare "$BARE_WHY"; fi
    fi
    order=()
    for row in a bare a-br; do
        if wants "$row" && { [ "$row" != bare ] || [ "$bare_up" = 1 ]; }; then order+=("$row"); fi
    done
    if [ "${#order[@]}" -gt 1 ]; then
        # Side by side in ABBA (ABCCBA) order, BENCH_ROUNDS times, so a drift of the shared machine's speed hits
        # every row alike (the table merges the rounds: req/s over all of them, latencies their mean).
        rounds=()
        for ((k = 1; k <= ROUNDS; k++)); do
            rounds+=("${order[@]/%/@$((2 * k - 1))}")
            for ((i = ${#order[@]} - 1; i >= 0; i--)); do rounds+=("${order[i]}@$((2 * k))"); done
        done
    else
        rounds=(${order[@]+"${order[@]}"})
    fi
    for round in ${rounds[@]+"${rounds[@]}"}; do
        case "$round" in
            a | a@*) measure_a "$round" ;;
            bare*) measure_bare "$round" ;;
            a-br*) measure_a_br "${round/a-br/a_br}" ;;
        esac
    done
    stop_bare
    if wants a-br; then
        python3 bench/tool.py record bytes "$(python3 bench/tool.py sizes "$APP_URL" "$BR_OFFER" 1 "$HOT_PATH")" \
            "$RESULTS" >/dev/null
        note "bytes: $(tail -1 "$RESULTS")"
    fi
fi

B_URLS=0
D_URLS=0
if wants b || wants b-br || wants c || wants d || wants f || wants g || wants h || wants prepare; then
    section "walks, URL sets and (b) (c) (d): cache TTL 1 s"
    start_app miss 1
    DEEP_WALK="$WORK_DIR/walk-price.txt"
    CURSORS_OK=1
    DATA_KEY="products=$PRODUCTS deep_page=$DEEP_PAGE"
    if [ -n "$DATA_DIR" ] && [ "$(cat "$DATA_DIR/ready" 2>/dev/null)" = "$DATA_KEY" ]; then
        cp "$DATA_DIR/walk-price.txt" "$DEEP_WALK"
        cp "$DATA_DIR/urls-b.txt" "$WORK_DIR/urls-b.txt"
        B_URLS="$(wc -l <"$WORK_DIR/urls-b.txt")"
        note "walks and URL sets reused from $DATA_DIR ((b): $B_URLS distinct listing URLs)"
        if wants b || wants b-br || wants c; then
            # Cursors are signed with the fixed CURSOR_SECRET, so a walk made through one build is valid in
            # another unless the cursor format changed: ask this service a sample of the walked URLs first.
            read -r checked rejected other < <(python3 bench/tool.py cursors "$APP_URL" 200 "$WORK_DIR/urls-b.txt" "$DEEP_WALK")
            note "walked cursor URLs: $checked sampled, $rejected answered 400 invalid_cursor, $other other non-200"
            if [ "$rejected" -gt 0 ]; then CURSORS_OK=0; fi
        fi
    else
        if wants b || wants b-br || wants c || wants f || [ -n "$DATA_DIR" ]; then
            note "walking $((DEEP_PAGE - 1)) pages of /products?sort=price&limit=20"
            python3 bench/tool.py walk "$APP_URL" "/products?sort=price&limit=20" "$((DEEP_PAGE - 1))" "$DEEP_WALK"
        fi
        if wants b || wants b-br || wants f || [ -n "$DATA_DIR" ]; then
            walks=("$DEEP_WALK")
            for sort in -created_at created_at price -price name -name; do
                for category in "" "category=vegetables&" "category=dairy&"; do
                    out="$WORK_DIR/walk-$sort-${category%%&}.txt"
                    python3 bench/tool.py walk "$APP_URL" "/products?${category}sort=$sort&limit=20" 100 "$out"
                    walks+=("$out")
                done
            done
            B_URLS="$(python3 bench/tool.py misses "$WORK_DIR/urls-b.txt" "${walks[@]}")"
            note "(b): $B_URLS distinct listing URLs"
        fi
        if [ -n "$DATA_DIR" ]; then
            cp "$DEEP_WALK" "$WORK_DIR/urls-b.txt" "$DATA_DIR/"
            echo "$DATA_KEY" >"$DATA_DIR/ready"
            note "walks and URL sets kept in $DATA_DIR for later runs"
        fi
    fi
    if { wants b || wants b-br; } && [ "$CURSORS_OK" = 0 ]; then
        for name in b b_rate b_br; do
            python3 bench/tool.py record "$name" "{\"skipped\": \"not measured: $rejected of $checked sampled walked \
cursor URLs answered 400 invalid_cursor\"}" "$RESULTS" >/dev/null
        done
        note "(b): not measured, this build rejects the walked cursors"
    elif wants b || wants b-br; then
        sleep 2 # every page the walks cached has expired
        # Capacity rows: no response hook in wrk (COUNT_CACHE=1, see measure), so the load tool costs less.
        measure_b() { measure "$1" / BENCH_URLS="$WORK_DIR/urls-b.txt" COUNT_CACHE=1; }
        # (b-br): the same URLs; each is a miss again (every page expired in the pause before a row), now
        # rendered, compressed once in the coding asked for, and stored with that coding.
        measure_b_br() {
            measure "$1" / BENCH_URLS="$WORK_DIR/urls-b.txt" COUNT_CACHE=1 \
                -- -t"$THREADS" -c"$CONNECTIONS" -H "Accept-Encoding: $BR_OFFER"
        }
        # (b) and its limit side by side: the statements are captured first, then the rounds run in ABBA order
        # (b, b-br, db, db, b-br, b; the service stopped while mariadb-slap runs), so a drift of the shared
        # machine's speed, which moved single rows by a third between runs minutes apart, hits both alike.
        db_rounds=0
        if wants b && wants db; then
            capture_db b "$WORK_DIR/urls-b.txt" "$CAPTURE" "$CONNECTIONS"
            if [ "${#CAPTURED[@]}" -gt 0 ]; then db_rounds=1; SLAPPED+=(b); sleep 2; fi
        fi
        slap_b() {
            stop_app
            slap_row b "$CONNECTIONS" "db_b@$1"
            start_app miss 1
            sleep 2
        }
        for ((k = 1; k <= ROUNDS; k++)); do
            if [ "$k" -gt 1 ]; then sleep 2; fi
            if wants b; then measure_b "b@$((2 * k - 1))"; fi
            if wants b-br; then sleep 2; measure_b_br "b_br@$((2 * k - 1))"; fi
            if [ "$db_rounds" = 1 ]; then slap_b "$((2 * k - 1))"; slap_b "$((2 * k))"; fi
            if wants b-br; then sleep 2; measure_b_br "b_br@$((2 * k))"; fi
            if wants b; then sleep 2; measure_b "b@$((2 * k))"; fi
        done
        if wants b-br; then
            python3 bench/tool.py record bytes_b "$(python3 bench/tool.py sizes "$APP_URL" "$BR_OFFER" 200 \
                "$WORK_DIR/urls-b.txt")" "$RESULTS" >/dev/null
            note "bytes_b: $(tail -1 "$RESULTS")"
        fi
        if wants b && [ "$RATE_ROWS" = 1 ]; then
            sleep 2
            measure_rate b_rate "$B_RATE" "$WORK_DIR/urls-b.txt"
        fi
    fi
    if wants f && [ "$CURSORS_OK" = 1 ]; then
        # Side by side with (b): the same URLs, each asking for totals and facets too.
        python3 bench/tool.py facets "$WORK_DIR/urls-f.txt" "$WORK_DIR/urls-b.txt" >/dev/null
        sleep 2
        measure f / BENCH_URLS="$WORK_DIR/urls-f.txt" COUNT_CACHE=1
        if [ "$RATE_ROWS" = 1 ]; then
            sleep 2
            measure_rate f_rate "$B_RATE" "$WORK_DIR/urls-f.txt"
        fi
    fi
    if wants c; then
        python3 bench/tool.py deep "$WORK_DIR/urls-c1.txt" "$WORK_DIR/urls-c2.txt" "$DEEP_WALK" "$DEEP_PAGE"
        note "(c): page 1 = $(head -1 "$WORK_DIR/urls-c1.txt")"
        note "(c): page $DEEP_PAGE = $(head -1 "$WORK_DIR/urls-c2.txt")"
        sleep 2
        # Side by side, so both see the same machine: run one after the other, a change in what else the shared
        # cores were doing (seen here: the ceiling moving by 20% within the hour) shows up as a page ratio.
        measure c1 / BENCH_URLS="$WORK_DIR/urls-c1.txt" BENCH_TRACK=1 BENCH_DELAY_MS="$C_DELAY_MS" \
            -- -t"$THREADS" -c"$C_CONNECTIONS" &
        c1_pid=$!
        measure c2 / BENCH_URLS="$WORK_DIR/urls-c2.txt" BENCH_TRACK=1 BENCH_DELAY_MS="$C_DELAY_MS" \
            -- -t"$THREADS" -c"$C_CONNECTIONS" &
        c2_pid=$!
        wait "$c1_pid"
        wait "$c2_pid"
        if wants db; then capture_db c "$WORK_DIR/urls-c2.txt" "$CAPTURE" "$C_CONNECTIONS"; fi
    fi
    if wants d; then
        D_URLS="$(python3 bench/tool.py search "$WORK_DIR/urls-d.txt")"
        note "(d): $D_URLS search URLs"
        measure d / BENCH_URLS="$WORK_DIR/urls-d.txt" BENCH_TRACK=1 -- -t"$THREADS" -c"$SEARCH_CONNECTIONS"
        if wants db; then capture_db d "$WORK_DIR/urls-d.txt" "$CAPTURE" "$SEARCH_CONNECTIONS"; fi
    fi
    if wants g; then
        # Right after (d), with the same shapes and connections: the same produce typed in Hindi and romanised Hindi.
        python3 bench/tool.py search_hindi "$WORK_DIR/urls-g.txt" >/dev/null
        measure g / BENCH_URLS="$WORK_DIR/urls-g.txt" BENCH_TRACK=1 -- -t"$THREADS" -c"$SEARCH_CONNECTIONS"
    fi
    if wants h; then
        note "(h): estimate error of $ESTIMATES queries against COUNT(*) from MySQL"
        python3 bench/tool.py estimates "$APP_URL" "$ESTIMATES" \
            "$(find_binary mariadb mysql) ${MYSQL_TCP[*]} -uroot -N -B $DATABASE -e" \
            "$RESULTS"
        note "h: $(tail -1 "$RESULTS")"
    fi
    if wants d; then
        start_app cold 1
        python3 bench/tool.py cold "$APP_URL" "$RESULTS"
        note "d_cold: $(tail -1 "$RESULTS")"
    fi
fi
stop_app
if [ "$ONLY" = prepare ]; then
    note "prepared: $PRODUCTS products in $DATABASE, walks and URL sets in $DATA_DIR"
    exit 0
fi
if wants db; then
    section "db: MariaDB alone on the captured statements (mariadb-slap, the service stopped)"
    if ! wants b && ! wants c && ! wants d; then
        skip db_b "db measures the statements of b, c or d: select one of them too"
    else
        slap_rows
    fi
fi
if wants fresh; then
    section "fresh: price change to visible, default cache TTL"
    fresh_rows
    stop_app
fi
if wants seed; then
    section "seed: farmlokal seed vs LOAD DATA + ALTER, $PRODUCTS products"
    seed_row
fi

REPORTED=0
report
exit $?
