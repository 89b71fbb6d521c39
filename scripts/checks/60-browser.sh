#!/usr/bin/env bash
# Headless Chromium against the running service (scripts/checks/browser.mjs says what it checks): Swagger UI's
# "Try it out" + "Execute" on every GET operation with the page's defaults, a listing decoded in every coding and
# revalidated with 304 on reload, and no request to a non-loopback host. Chromium is the Debian package (installed
# with apt-get when /usr/bin/chromium is missing); playwright-core comes from npm, pinned, cached under target/
# (never `npx playwright install`: no browser download).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
source scripts/lib/service.sh
ensure_command npm nodejs npm
ensure_command curl curl
[ -x /usr/bin/chromium ] || ensure_command __chromium__ chromium

playwright_version=1.65.1
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    echo "FAIL scripts/checks/60-browser.sh: playwright-core $playwright_version needs Node >= 20, this is $(node --version)" >&2
    exit 1
fi
playwright_dir="$PWD/target/playwright-core-$playwright_version"
if [ ! -f "$playwright_dir/node_modules/playwright-core/package.json" ]; then
    mkdir -p "$playwright_dir"
    npm install --prefix "$playwright_dir" --no-save --no-audit --no-fund --loglevel=error \
        "playwright-core@$playwright_version" >/dev/null
fi

# FARMLOKAL_CHECK_URL points the check at a service already running (e.g. a release build); else it starts one.
if [ -n "${FARMLOKAL_CHECK_URL:-}" ]; then SERVICE_URL="$FARMLOKAL_CHECK_URL"; SERVICE_PID=""; SERVICE_LOG=""; else start_service; fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"; if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; rm -f "$SERVICE_LOG"; fi' EXIT

if ! FARMLOKAL_URL="$SERVICE_URL" PLAYWRIGHT_CORE_DIR="$playwright_dir" BROWSER_PROFILE="$profile" \
    CHROMIUM=/usr/bin/chromium node scripts/checks/browser.mjs; then
    echo "FAIL scripts/checks/60-browser.sh (the FAIL lines above say what)" >&2
    exit 1
fi
echo "PASS scripts/checks/60-browser.sh"
