#!/usr/bin/env bash
# Property-based API testing with schemathesis (PyPI) against the running service and its generated spec:
# no 5xx for any generated request, and every response conforms to the documented schema. Fails on any finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
source scripts/lib/service.sh
source scripts/lib/python-env.sh
ensure_command curl curl
python_tools schemathesis==4.32.5

start_service

schemathesis run "$SERVICE_URL/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
    --max-examples 40 --workers 2 --seed 20261125 --no-color --warnings off
