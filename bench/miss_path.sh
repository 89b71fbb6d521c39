# Sourced by bench/pair.sh and bench/sweep.sh, not run alone: (b)'s URL set and the servers, the service started
# with (b)'s settings, and the clean-up at exit. RUN (this run's part of the Redis prefix) is set before sourcing.
#
# The database and URL set are those bench/run.sh prepares (`BENCH_ONLY=prepare BENCH_DATA=DIR bench/run.sh`):
# BENCH_DATA=DIR, and BENCH_DATABASE (default farmlokal_bench) as there. The servers: FARMLOKAL_TEST_MYSQL_URL
# (mysql://root@127.0.0.1:3306) and FARMLOKAL_TEST_REDIS_URL (redis://127.0.0.1:6379).

DATA_DIR="${BENCH_DATA:?BENCH_DATA: the directory bench/run.sh BENCH_ONLY=prepare filled}"
URLS="$DATA_DIR/urls-b.txt"
[ -s "$URLS" ] || { echo "no (b) URL set in $URLS: run BENCH_ONLY=prepare BENCH_DATA=$DATA_DIR bench/run.sh" >&2; exit 2; }
MYSQL_BASE="$(sed -E 's#^(mysql://[^/?]+).*#\1#' <<<"${FARMLOKAL_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}")"
# Over TCP, as bench/run.sh's (b) and its limit (BENCH_MYSQL_TRANSPORT there): left alone, the driver moves a
# loopback connection to the server's Unix socket.
DATABASE="${BENCH_DATABASE:-farmlokal_bench}"
MYSQL_URL="$MYSQL_BASE/$DATABASE?prefer_socket=false"
REDIS_URL="${FARMLOKAL_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
# bench/run.sh's secrets: the walked cursors in the URL set are signed with this one.
CURSOR_SECRET="farmlokal-bench-cursor-secret-0123456789"
WEBHOOK_SECRET="whsec_$(printf farmlokal-bench-webhook-secret-0 | base64)"
WORK_DIR="$(mktemp -d)"
PIDS=()
CLK="$(getconf CLK_TCK)"

stop_services() {
    if [ "${#PIDS[@]}" -gt 0 ]; then
        kill "${PIDS[@]}" 2>/dev/null || true
        for pid in "${PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
    fi
    PIDS=()
}
cleanup() {
    stop_services
    redis-cli -u "$REDIS_URL" --scan --pattern "bench:$RUN:*" 2>/dev/null |
        xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT

# start BINARY PORT NAME [VAR=VALUE ...]: the service on PORT with (b)'s settings (cache TTL 1 s, a Redis prefix
# of its own, no rate limit) and then the given environment, its pid added to PIDS; waits until it is ready.
start() {
    local bin="$1" port="$2" name="$3" pid
    shift 3
    env FARMLOKAL_CACHE_TTL_SECS=1 FARMLOKAL_BIND="127.0.0.1:$port" FARMLOKAL_REDIS_PREFIX="bench:$RUN:$name:" \
        FARMLOKAL_MYSQL_URL="$MYSQL_URL" FARMLOKAL_REDIS_URL="$REDIS_URL" FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 \
        FARMLOKAL_CURSOR_SECRET="$CURSOR_SECRET" FARMLOKAL_WEBHOOK_SECRETS="$WEBHOOK_SECRET" RUST_LOG=warn \
        "$@" "$bin" serve >"$WORK_DIR/$name.log" 2>&1 &
    pid="$!"
    PIDS+=("$pid")
    for _ in $(seq 100); do
        if curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the service $bin $* did not become ready on port $port: $(tail -2 "$WORK_DIR/$name.log")" >&2
    exit 1
}
