#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes schemas (kubernetes-validate from PyPI, which bundles
# them: no cluster and no network at check time), renders the kustomization when kubectl is there, and checks that
# compose.yaml parses and has what users rely on (health checks, the drain-aware stop grace), without Docker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
# shellcheck source=scripts/lib/python-env.sh
source scripts/lib/python-env.sh
python_tools kubernetes-validate pyyaml

manifests=()
for file in deploy/kubernetes/*.yaml; do
    [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done
# --strict: a field the schema does not know (a typo) is an error, not ignored.
kubernetes-validate --strict --kubernetes-version 1.33.0 "${manifests[@]}"

if command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize deploy/kubernetes >/dev/null
    echo "deploy/kubernetes: kustomization renders"
fi

python3 - <<'PY'
import re, sys, yaml

def fail(message):
    sys.exit(f"deploy check: {message}")

docs = {}
for name in ["configmap", "secret", "deployment", "service", "poddisruptionbudget", "horizontalpodautoscaler"]:
    with open(f"deploy/kubernetes/{name}.yaml") as f:
        docs[name] = yaml.safe_load(f)
config = docs["configmap"]["data"]
pod = docs["deployment"]["spec"]["template"]["spec"]
container = pod["containers"][0]
drain = int(config["FARMLOKAL_SHUTDOWN_DRAIN_SECS"])
request = int(config["FARMLOKAL_REQUEST_TIMEOUT_MS"]) / 1000
if pod["terminationGracePeriodSeconds"] <= drain + request + 1:
    fail(f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= drain {drain} + request {request} + 1")
if container["readinessProbe"]["httpGet"]["path"] != "/health/ready":
    fail("the readiness probe is not on /health/ready")
if container["livenessProbe"]["httpGet"]["path"] != "/health/live":
    fail("the liveness probe is not on /health/live")
security = container["securityContext"]
if not (pod["securityContext"].get("runAsNonRoot") and security.get("readOnlyRootFilesystem")
        and security.get("capabilities", {}).get("drop") == ["ALL"] and security.get("allowPrivilegeEscalation") is False):
    fail("the container must run as non-root, read-only, with every capability dropped and no privilege escalation")
secret_keys = set(docs["secret"]["stringData"])
for key in ["FARMLOKAL_MYSQL_URL", "FARMLOKAL_REDIS_URL", "FARMLOKAL_CURSOR_SECRET", "FARMLOKAL_WEBHOOK_SECRETS"]:
    if key not in secret_keys:
        fail(f"{key} belongs in the Secret")
    if key in config:
        fail(f"{key} is a secret but sits in the ConfigMap")
if docs["horizontalpodautoscaler"]["spec"]["minReplicas"] < 2:
    fail("the autoscaler must keep at least 2 pods for the disruption budget to allow a drain")

with open("compose.yaml") as f:
    compose = yaml.safe_load(f)
services = compose.get("services") or fail("compose.yaml has no services")
apps = [name for name, s in services.items() if "build" in s]
if not apps:
    fail("compose.yaml has no FarmLokal service")
for name in apps:
    service = services[name]
    test = " ".join(service.get("healthcheck", {}).get("test", []))
    if "/health/ready" not in test:
        fail(f"compose service {name} has no health check on /health/ready")
    grace = service.get("stop_grace_period", "10s")
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1))
    env = service.get("environment", {})
    drain = int(env.get("FARMLOKAL_SHUTDOWN_DRAIN_SECS", 5))
    request = int(env.get("FARMLOKAL_REQUEST_TIMEOUT_MS", 10000)) / 1000
    if seconds <= drain + request + 1:
        fail(f"compose service {name}: stop_grace_period {grace} <= drain {drain} + request {request} + 1")
for name, service in services.items():
    if "healthcheck" not in service:
        fail(f"compose service {name} has no health check")
print(f"deploy/kubernetes and compose.yaml ({', '.join(services)}): consistent")
PY
