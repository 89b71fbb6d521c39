# Sourced by checks: starts the debug binary on the embedded default on a free loopback port, for checks that
# exercise a running service. Sets SERVICE_URL and SERVICE_LOG; the service stops when the script exits.
# The rate limit is off: these checks send far more than 100 requests a minute, and the limit has its own tests.
start_service() {
    local port=18700
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    cargo build --quiet --bin farmlokal
    SERVICE_LOG="$(mktemp)"
    SERVICE_URL="http://127.0.0.1:$port"
    FARMLOKAL_BIND="127.0.0.1:$port" FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 FARMLOKAL_SAMPLE_PRODUCTS=2000 RUST_LOG=warn \
        target/debug/farmlokal serve >"$SERVICE_LOG" 2>&1 &
    SERVICE_PID=$!
    trap 'kill $SERVICE_PID 2>/dev/null || true; wait $SERVICE_PID 2>/dev/null || true; rm -f "$SERVICE_LOG"' EXIT
    for _ in $(seq 1 100); do
        curl -fsS "$SERVICE_URL/health/live" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "farmlokal did not come up at $SERVICE_URL; its log:" >&2
    cat "$SERVICE_LOG" >&2
    return 1
}
