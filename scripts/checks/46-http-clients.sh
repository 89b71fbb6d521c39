#!/usr/bin/env bash
# HTTP clients a user already has, against a listing (DESIGN.md §6): curl --compressed, Python requests with brotli
# and backports.zstd (clients/python/http_caching.py) and Node's fetch (node-fetch.mjs) decode br, zstd and gzip
# answers to the identity page and revalidate with If-None-Match -> 304 (no body, same ETag); HEAD has the GET's
# headers; /docs (1.6 MB) comes compressed. A curl or Node without zstd skips that coding and says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/ensure.sh
source scripts/lib/service.sh
source scripts/lib/python-env.sh
ensure_command curl curl
ensure_command node nodejs
PYTHON_VENV=target/py-client python_tools -r clients/python/requirements.txt

# FARMLOKAL_CHECK_URL points the check at a service already running (e.g. a release build); else it starts one.
if [ -n "${FARMLOKAL_CHECK_URL:-}" ]; then SERVICE_URL="$FARMLOKAL_CHECK_URL"; SERVICE_PID=""; SERVICE_LOG=""; else start_service; fi
listing="$SERVICE_URL/products?sort=price&limit=50"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"; if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; rm -f "$SERVICE_LOG"; fi' EXIT
failed=0
pass() { echo "PASS curl: $*"; }
fail() { echo "FAIL curl: $*"; failed=1; }
header() { tr -d '\r' <"$1" | awk -v name="$2" '!found && index(tolower($0), tolower(name) ":") == 1 { sub(/^[^:]*:[ \t]*/, ""); print; found = 1 }'; }

curl -sS -o "$scratch/identity" -H 'Accept-Encoding: identity' "$listing"
curl_version="$(curl --version)"
echo "${curl_version%%$'\n'*}"
codings=(br zstd gzip)
if ! grep -qiw zstd <<<"$curl_version"; then
    echo "SKIP curl: zstd: this curl was built without zstd (curl --version lists no zstd feature)"
    codings=(br gzip)
fi

# curl --compressed with its own Accept-Encoding, then each coding alone.
for offer in default "${codings[@]}"; do
    args=(--compressed -sS -D "$scratch/headers" -o "$scratch/body" -w '%{http_code}')
    [ "$offer" = default ] || args+=(-H "Accept-Encoding: $offer")
    status="$(curl "${args[@]}" "$listing")" || { fail "$offer: curl failed"; continue; }
    encoding="$(header "$scratch/headers" content-encoding)"
    etag="$(header "$scratch/headers" etag)"
    vary="$(header "$scratch/headers" vary)"
    if [ "$status" != 200 ]; then fail "$offer: answered $status"; continue; fi
    if [ "$offer" = default ] && [[ ! " ${codings[*]} " == *" $encoding "* ]]; then
        fail "default: curl --compressed got Content-Encoding '${encoding}', expected one of ${codings[*]}"; continue
    fi
    if [ "$offer" != default ] && [ "$encoding" != "$offer" ]; then
        fail "$offer: Content-Encoding is '${encoding}'"; continue
    fi
    if ! cmp -s "$scratch/body" "$scratch/identity"; then fail "$offer: the decoded body differs from the identity body"; continue; fi
    if [[ ",${vary,,}," != *accept-encoding* ]]; then fail "$offer: Vary is '${vary}'"; continue; fi
    if [ -z "$etag" ]; then fail "$offer: no ETag"; continue; fi
    args=(--compressed -sS -D "$scratch/headers304" -o "$scratch/body304" -w '%{http_code}' -H "If-None-Match: $etag")
    [ "$offer" = default ] || args+=(-H "Accept-Encoding: $offer")
    status="$(curl "${args[@]}" "$listing")" || status="(curl failed)"
    if [ "$status" != 304 ]; then fail "$offer: If-None-Match $etag answered $status"; continue; fi
    if [ -s "$scratch/body304" ]; then fail "$offer: the 304 has a body"; continue; fi
    if [ "$(header "$scratch/headers304" etag)" != "$etag" ]; then fail "$offer: the 304 has another ETag"; continue; fi
    pass "$offer: Content-Encoding ${encoding}, decoded to the identity body ($(wc -c <"$scratch/identity") bytes), 304 on revalidation"
done

# HEAD answers with the GET's headers and no body (curl -I reads no body, so only the headers are compared).
curl -sS --compressed -D "$scratch/get" -o /dev/null "$listing"
status="$(curl -sS -I --compressed -o "$scratch/head" -w '%{http_code}' "$listing")" || status="(curl failed)"
differ=""
for name in etag content-type content-encoding cache-control vary; do
    [ "$(header "$scratch/head" "$name")" = "$(header "$scratch/get" "$name")" ] || differ+=" $name"
done
for name in etag cache-control vary; do
    [ -n "$(header "$scratch/head" "$name")" ] || differ+=" (no $name)"
done
if [ "$status" = 200 ] && [ -z "$differ" ]; then
    pass "HEAD: 200 with the GET's ETag, Content-Type, Content-Encoding, Cache-Control and Vary"
else
    fail "HEAD: answered $status; against the GET:${differ:- no difference}"
fi

# /docs, the largest answer, as a browser or curl --compressed fetches it.
status="$(curl -sS --compressed -D "$scratch/docs-headers" -o "$scratch/docs" -w '%{http_code} %{size_download}' "$SERVICE_URL/docs")" || status="(curl failed) 0"
encoding="$(header "$scratch/docs-headers" content-encoding)"
if [ "${status%% *}" = 200 ] && [[ " ${codings[*]} " == *" $encoding "* ]]; then
    pass "/docs: Content-Encoding $encoding, ${status#* } bytes on the wire for $(wc -c <"$scratch/docs") decoded"
else
    fail "/docs: answered ${status%% *} with Content-Encoding '${encoding}', ${status#* } bytes on the wire"
fi

FARMLOKAL_URL="$SERVICE_URL" python clients/python/http_caching.py || failed=1
FARMLOKAL_URL="$SERVICE_URL" node scripts/checks/node-fetch.mjs || failed=1

if [ "$failed" != 0 ]; then
    echo "FAIL scripts/checks/46-http-clients.sh (the FAIL lines above say what)" >&2
    exit 1
fi
echo "PASS scripts/checks/46-http-clients.sh"
