#!/usr/bin/env bash
# Python client (clients/python): generates a client from openapi/openapi.yaml with openapi-python-client and fails
# on any warning (the generator drops what it cannot read instead of stopping), then with that client walks every
# page of a listing and of a filtered one against the running service and checks the typed models: Problem,
# DeliveryEstimate, Readiness, named sort orders. The tools live in their own venv, target/py-client.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
source scripts/lib/service.sh
source scripts/lib/python-env.sh
ensure_command curl curl
PYTHON_VENV=target/py-client python_tools -r clients/python/requirements.txt

generated=target/python-client
failed=0
python clients/python/generate.py openapi/openapi.yaml "$generated/farmlokal_client" || failed=1

# FARMLOKAL_CHECK_URL points the check at a service already running (e.g. a release build); else it starts one.
if [ -n "${FARMLOKAL_CHECK_URL:-}" ]; then SERVICE_URL="$FARMLOKAL_CHECK_URL"; SERVICE_PID=""; SERVICE_LOG=""; else start_service; fi

if ! FARMLOKAL_URL="$SERVICE_URL" PYTHONPATH="$PWD/$generated" python clients/python/walk.py; then
    failed=1
    if [ -n "$SERVICE_LOG" ] && [ -s "$SERVICE_LOG" ]; then
        echo "--- farmlokal log (last 40 lines) ---" >&2
        tail -n 40 "$SERVICE_LOG" >&2
    fi
fi
if [ "$failed" != 0 ]; then
    echo "FAIL scripts/checks/45-python-client.sh (the FAIL lines above say what)" >&2
    exit 1
fi
echo "PASS scripts/checks/45-python-client.sh"
