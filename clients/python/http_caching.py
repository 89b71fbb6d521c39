"""Python `requests` (with brotli and backports.zstd installed) against the listing, as DESIGN.md §6 promises it.

For br, zstd and gzip: the service answers in that coding when asked, requests decodes it to the same JSON as the
identity answer, the answer says `Vary: Accept-Encoding` and a listing `Cache-Control`, and sending its `ETag`
back as `If-None-Match` (same coding) gives 304 with no body and the same validators. requests' own default
`Accept-Encoding` gets a compressed answer too. Prints one PASS or FAIL line per check; exits 1 when any failed.

Usage: FARMLOKAL_URL=http://127.0.0.1:8080 python http_caching.py
"""

import os
import re
import sys

import requests
import urllib3

URL = os.environ.get("FARMLOKAL_URL", "http://127.0.0.1:8080")
LISTING = f"{URL}/products?sort=price&limit=50"
CODINGS = ["br", "zstd", "gzip"]
LISTING_CACHE_CONTROL = re.compile(r"public, max-age=(\d+), stale-while-revalidate=\d+, stale-if-error=\d+")


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def vary_names(answer):
    return {name.strip().lower() for name in answer.headers.get("Vary", "").split(",")}


def get(accept_encoding, **headers):
    return requests.get(LISTING, headers={"Accept-Encoding": accept_encoding, **headers}, timeout=10)


def identity_json():
    answer = get("identity")
    expect(answer.status_code == 200, f"identity answer {answer.status_code}")
    return answer.json()


def check_coding(coding):
    def check():
        # The bytes on the wire, undecoded, to see that compression happened.
        with requests.get(LISTING, headers={"Accept-Encoding": coding}, timeout=10, stream=True) as raw:
            wire = raw.raw.read(decode_content=False)
        answer = get(coding)
        expect(answer.status_code == 200, f"answered {answer.status_code}")
        encoding = answer.headers.get("Content-Encoding")
        expect(encoding == coding, f"Content-Encoding is {encoding!r}, asked for {coding}")
        expect("accept-encoding" in vary_names(answer), f"Vary is {answer.headers.get('Vary')!r}")
        expect(answer.json() == identity_json(), "the decoded page differs from the identity page")
        cache_control = answer.headers.get("Cache-Control", "")
        fresh = LISTING_CACHE_CONTROL.fullmatch(cache_control)
        expect(fresh is not None, f"Cache-Control is {cache_control!r}")
        expect(int(fresh.group(1)) <= 60, f"max-age {fresh.group(1)} exceeds the 60 s cache TTL")
        etag = answer.headers.get("ETag")
        expect(etag, "no ETag")

        again = get(coding, **{"If-None-Match": etag})
        expect(again.status_code == 304, f"If-None-Match with its own ETag answered {again.status_code}")
        expect(again.content == b"", f"the 304 has a {len(again.content)}-byte body")
        expect(again.headers.get("ETag") == etag, f"the 304's ETag {again.headers.get('ETag')!r} != {etag!r}")
        expect("accept-encoding" in vary_names(again), f"the 304's Vary is {again.headers.get('Vary')!r}")
        expect(again.headers.get("Cache-Control") is not None, "the 304 has no Cache-Control")
        return f"{len(wire)} bytes on the wire for {len(answer.content)} decoded, 304 on revalidation"

    return check


def check_default():
    offered = requests.utils.default_headers()["Accept-Encoding"]
    for coding in ("br", "zstd"):
        expect(coding in offered, f"requests offers {offered!r}: is the {coding} decoder installed?")
    answer = requests.get(LISTING, timeout=10)
    expect(answer.status_code == 200, f"answered {answer.status_code}")
    encoding = answer.headers.get("Content-Encoding")
    expect(encoding in CODINGS, f"offered {offered!r}, got Content-Encoding {encoding!r}")
    expect(answer.json() == identity_json(), "the decoded page differs from the identity page")
    return f"offered {offered!r}, got {encoding}"


def check_identity():
    answer = get("identity")
    expect(answer.status_code == 200, f"answered {answer.status_code}")
    expect("Content-Encoding" not in answer.headers, f"Content-Encoding {answer.headers.get('Content-Encoding')!r}")
    expect("accept-encoding" in vary_names(answer), f"Vary is {answer.headers.get('Vary')!r}")
    etag = answer.headers.get("ETag")
    again = get("identity", **{"If-None-Match": etag or '"none"'})
    expect(again.status_code == 304, f"If-None-Match with its own ETag answered {again.status_code}")
    return f"{len(answer.content)} bytes, 304 on revalidation"


CHECKS = [(f"{coding} decoded and revalidated", check_coding(coding)) for coding in CODINGS] + [
    ("requests' default Accept-Encoding gets a compressed page", check_default),
    ("identity: no Content-Encoding, Vary: Accept-Encoding", check_identity),
]


def main():
    print(f"requests {requests.__version__}, urllib3 {urllib3.__version__}, listing {LISTING}")
    failed = 0
    for title, check in CHECKS:
        try:
            print(f"PASS python requests: {title}: {check()}")
        except (CheckFailed, requests.RequestException, ValueError) as error:
            failed += 1
            print(f"FAIL python requests: {title}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
