"""A fake partner A and its OAuth2 token endpoint (DESIGN §4) whose behaviour bench/chaos.py switches at run time.

    python3 bench/chaos_partner.py PORT CLIENT_ID CLIENT_SECRET

Routes:
  POST /oauth/token                 client credentials in HTTP Basic; tokens live TOKEN_LIFETIME seconds
  GET  /v1/serviceability?pincode=  Bearer token; answers by the current mode
  POST /_chaos/mode?mode=M          ok | slow | failing | rate_limited (not part of the partner contract)
  GET  /_chaos/stats                counters as JSON

Modes: `ok` answers in about 20 ms; `slow` answers after SLOW_SECONDS (past the service's 800 ms attempt timeout);
`failing` answers 500; `rate_limited` answers 429 with `Retry-After: 1`.
"""

import base64
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN_LIFETIME = 30
SLOW_SECONDS = 1.5

STATE = {"mode": "ok", "tokens": {}, "counts": {}}
LOCK = threading.Lock()


def count(name):
    with LOCK:
        STATE["counts"][name] = STATE["counts"].get(name, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path == "/_chaos/mode":
            mode = parse_qs(url.query).get("mode", ["ok"])[0]
            with LOCK:
                STATE["mode"] = mode
            return self.answer(200, {"mode": mode})
        if url.path != "/oauth/token":
            return self.answer(404, {"error": "not_found"})
        count("token")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization", "") != f"Basic {expected}":
            return self.answer(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with LOCK:
            STATE["tokens"][token] = time.time() + TOKEN_LIFETIME
        return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME})

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_chaos/stats":
            with LOCK:
                return self.answer(200, {"mode": STATE["mode"], "counts": dict(STATE["counts"])})
        if url.path != "/v1/serviceability":
            return self.answer(404, {"error": "not_found"})
        with LOCK:
            mode = STATE["mode"]
        count(f"estimate_{mode}")
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with LOCK:
            expires = STATE["tokens"].get(token, 0)
        if expires < time.time():
            count("estimate_401")
            return self.answer(401, {"error": "invalid_token"})
        if mode == "failing":
            return self.answer(500, {"error": "internal"})
        if mode == "rate_limited":
            return self.answer(429, {"error": "slow_down"}, [("Retry-After", "1")])
        time.sleep(SLOW_SECONDS if mode == "slow" else 0.02)
        pincode = parse_qs(url.query).get("pincode", ["000000"])[0]
        seed = int(pincode) if pincode.isdigit() else 0
        body = {"pincode": pincode, "serviceable": seed % 7 != 0, "eta_minutes": 20 + seed % 90,
                "fee_paise": 1500 + (seed % 20) * 100}
        return self.answer(200, body)


if __name__ == "__main__":
    PORT, CLIENT_ID, CLIENT_SECRET = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()
