#!/usr/bin/env bash
# TypeScript client (clients/typescript): regenerates the types from openapi/openapi.yaml with openapi-typescript,
# type-checks the typed client and example (strict tsc), then runs the example against the running service:
# page walk by price, one product, a delivery estimate and problem+json errors. A spec change that breaks the
# typed client fails at the typecheck step; a service that breaks the contract fails the example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source scripts/lib/ensure.sh
ensure_command npm nodejs npm
ensure_command curl curl

(
    cd clients/typescript
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    npm run --silent generate
    npm run --silent typecheck
    npm run --silent check-breaking >/dev/null
)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=18800
while port_open "$port"; do port=$((port + 1)); done

cargo build --quiet --bin farmlokal
log="$(mktemp)"
# The rate limit is off: the example's requests are not what is tested here, and the rate limit has its own tests.
FARMLOKAL_BIND="127.0.0.1:$port" FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 FARMLOKAL_SAMPLE_PRODUCTS=2000 RUST_LOG=warn \
    target/debug/farmlokal serve >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
up=0
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
done
if [ "$up" != 1 ]; then
    echo "farmlokal did not come up on 127.0.0.1:$port; its log:" >&2
    cat "$log" >&2
    exit 1
fi

if ! (cd clients/typescript && FARMLOKAL_URL="http://127.0.0.1:$port" npm run --silent example); then
    echo "--- farmlokal log (last 40 lines) ---" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
