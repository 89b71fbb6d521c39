#!/usr/bin/env bash
# TypeScript client (clients/typescript): regenerates the types from openapi/openapi.yaml with openapi-typescript,
# type-checks the typed client and example (strict tsc), then runs the example against the running service:
# page walk by price, one product, a delivery estimate and problem+json errors. A spec change that breaks the
# typed client fails at the typecheck step; a service that breaks the contract fails the example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source scripts/lib/ensure.sh
source scripts/lib/service.sh
ensure_command npm nodejs npm
ensure_command curl curl

(
    cd clients/typescript
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    npm run --silent generate
    npm run --silent typecheck
    npm run --silent check-breaking >/dev/null
)

start_service

if ! (cd clients/typescript && FARMLOKAL_URL="$SERVICE_URL" npm run --silent example); then
    echo "--- farmlokal log (last 40 lines) ---" >&2
    tail -n 40 "$SERVICE_LOG" >&2
    exit 1
fi
