#!/usr/bin/env bash
# Validates the committed spec with an independent validator (openapi-spec-validator, from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
source scripts/lib/python-env.sh
python_tools openapi-spec-validator==0.7.2
openapi-spec-validator openapi/openapi.yaml
