#!/usr/bin/env python3
"""The limits bench/run.sh measures the service against, in the same run (issue 15), and the freshness figure.

  limits.py capture BASE URLS_FILE N MYSQL_CMD DATABASE OUT_SQL SINCE
      asks BASE (a service started after MariaDB's general log was switched on at SINCE; bench/limits.sh turns
      it on and off) the first N paths of URLS_FILE (N `all`: every one), a few connections asking one at a
      time each, twice (see capture()), keeps the second pass's log lines of the service's connections to
      DATABASE, writes their Query and Execute statements to OUT_SQL
      separated by \\x01 (mariadb-slap's --delimiter), and prints a JSON summary: requests, X-Cache counts,
      statements, other commands (prepare, close, ...), statements per request
  limits.py slap NAME SQL_FILE CONCURRENCY SECONDS SLAP_CMD CAPTURE_JSON
      runs SQL_FILE on CONCURRENCY connections (one mariadb-slap client each, each with its own share of the
      list: run_slap) for about SECONDS (calibration runs size --number-of-queries) and prints a
      results record: statements/s, and requests/s = statements/s divided by
      the statements per request of CAPTURE_JSON
  limits.py fresh NAME WRITE_BASE READ_BASE SECRET N SPREAD TIMEOUT FIRST_LIMIT
      N price changes sent to WRITE_BASE's signed webhook, spread over SPREAD seconds, each on a product of its
      own listing (limit FIRST_LIMIT + i, cached on READ_BASE first); after each 200 the product and the listing
      are polled on
      READ_BASE every 50 ms until they show the new price (at most TIMEOUT seconds): a results record of p50,
      p99 and max of the delays
MYSQL_CMD and SLAP_CMD are command lines (split with shlex); MYSQL_CMD runs the query given as its last argument.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone

CATEGORIES = ["vegetables", "fruits", "dairy", "grains", "spices", "eggs", "honey", "bakery", "oils", "pickles"]
# Connections of each capture pass: few enough that every request is a miss the service answers alone.
CAPTURE_CONNECTIONS = 4
SETUP = re.compile(r"\s*(SELECT VERSION\(\)|SET SESSION max_(statement|execution)_time\b)", re.IGNORECASE)
BATCH_ESCAPES = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def mysql(mysql_cmd, sql):
    out = subprocess.run(shlex.split(mysql_cmd) + [sql], capture_output=True, text=True, check=True)
    return out.stdout


def unescape(value):
    """A value as `mariadb --batch` prints it, back to its text (\\n, \\t, \\0 and \\\\ are escaped)."""
    return re.sub(r"\\(.)", lambda m: BATCH_ESCAPES.get(m.group(1), m.group(0)), value)


def ask_all(base, paths, connections=1):
    """Asks BASE each path once, over `connections` connections each asking its share one at a time:
    {ok, bad, HIT, MISS, STALE} counts."""
    url = urllib.parse.urlsplit(base)
    counts = {"ok": 0, "bad": 0, "HIT": 0, "MISS": 0, "STALE": 0}
    lock = threading.Lock()
    failures = []

    def ask(share):
        mine = dict.fromkeys(counts, 0)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            for path in share:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                mine["ok" if resp.status == 200 else "bad"] += 1
                cache = resp.getheader("X-Cache")
                if cache in mine:
                    mine[cache] += 1
        except (OSError, http.client.HTTPException) as e:
            failures.append(e)
        finally:
            conn.close()
        with lock:
            for k, v in mine.items():
                counts[k] += v

    threads = [threading.Thread(target=ask, args=(paths[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"asking the service failed: {failures[0]}")
    return counts


def capture(base, urls_file, n, mysql_cmd, database, out_sql, since):
    """The service at BASE was started after the general log was switched on (at SINCE, server time), so its
    connections are the ones whose Connect line since then names DATABASE, and every statement it prepares is
    logged with its values (MariaDB decides that when a statement is prepared). A first pass over the URLs warms
    its pool, its prepared statements and in-process state as the measured row had them; after 2 s (the pages'
    1 s TTL has passed) the same URLs are asked again, and that pass's statements are kept. Each pass asks over
    CAPTURE_CONNECTIONS connections, one request at a time on each: a pass over (b)'s 66,799 URLs takes a
    minute or two with the general log on."""
    with open(urls_file) as f:
        paths = [line.strip() for line in f if line.strip()][:n]
    ask_all(base, paths, CAPTURE_CONNECTIONS)
    time.sleep(2)
    start = mysql(mysql_cmd, "SELECT NOW(6)").strip()
    counts = ask_all(base, paths, CAPTURE_CONNECTIONS)
    time.sleep(0.5)  # a write to the log table lands after the answer that needed it
    ids = mysql(mysql_cmd, "SELECT DISTINCT thread_id FROM mysql.general_log WHERE command_type = 'Connect' AND "
                           f"event_time >= '{since}' AND argument LIKE '% on {database} using %'").split()
    statements, other = [], {}
    if ids:
        rows = mysql(mysql_cmd, "SELECT command_type, argument FROM mysql.general_log WHERE event_time >= "
                                f"'{start}' AND thread_id IN ({','.join(ids)})")
        for line in rows.splitlines():
            command, _, argument = line.partition("\t")
            statement = unescape(argument)
            if command in ("Query", "Execute") and SETUP.match(statement):
                # A new pooled connection's set-up (build_pool's after_connect), not a request's work: more
                # connections open while 4 capture connections take turns than while (b) keeps 32 busy.
                other["connection set-up"] = other.get("connection set-up", 0) + 1
            elif command in ("Query", "Execute"):
                statements.append(statement)
            else:
                other[command] = other.get(command, 0) + 1
    with open(out_sql, "w") as f:
        f.write("\x01".join(s.replace("\x01", " ") for s in statements))
    print(json.dumps({
        "requests": len(paths), **counts, "statements": len(statements), "other_commands": other,
        "connections": len(ids), "per_request": len(statements) / len(paths) if paths else None,
    }))


def client_files(sql_file, concurrency):
    """The statement files of `concurrency` clients, dealt like cards: client i gets statements i, i + c,
    i + 2c, ... in order (c = concurrency; a list shorter than c is repeated until each client has one), so at
    any moment the clients run different statements, each client its own share. Written once per SQL file and
    concurrency (the calibration runs and the rounds of a limit reuse them). A share is run more than once: a
    20 s run at MariaDB's pace (4,010 statements/s for (b)'s) goes past the end of (b)'s 66,804."""
    paths = [f"{sql_file}.{concurrency}.client{i}" for i in range(concurrency)]
    written = f"{sql_file}.{concurrency}.written"
    try:
        fresh = os.path.getmtime(written) >= os.path.getmtime(sql_file)
    except OSError:
        fresh = False
    if fresh:
        return paths
    with open(sql_file) as f:
        statements = [s for s in f.read().split("\x01") if s.strip()]
    if not statements:
        raise RuntimeError("no statements to run")
    statements *= -(-concurrency // len(statements))
    for i, path in enumerate(paths):
        with open(path, "w") as f:
            f.write("\x01".join(statements[i::concurrency]))
    with open(written, "w") as f:
        f.write(str(len(statements)))
    return paths


def run_slap(slap_cmd, sql_file, concurrency, queries):
    """Runs about `queries` statements of `sql_file` on `concurrency` connections; returns (statements, seconds,
    CPU seconds the mariadb-slap clients used: the load tool's share of the two cores).

    One mariadb-slap process per connection, each with its own share of the list (`client_files`), so the
    connections run different statements at the same moment, as the service's requests do. A single
    `mariadb-slap --concurrency=N` starts every client at the top of the list: N copies of the same statement
    in lockstep, the same rows hot in every core's cache, a kinder load than the service's. A client that
    reaches the end of its share starts it again.
    """
    per_client = max(1, queries // concurrency)
    procs = []
    for share in client_files(sql_file, concurrency):
        cmd = shlex.split(slap_cmd) + ["--concurrency=1", f"--query={share}", "--delimiter=\x01",
                                       f"--number-of-queries={per_client}", "--iterations=1", "--no-drop"]
        procs.append(cmd)
    began = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in procs]
    outputs = [p.communicate() for p in running]
    took = time.monotonic() - began
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    total = 0
    for (out, err), p in zip(outputs, running):
        ran = re.search(r"Average number of queries per client: (\d+)", out)
        if p.returncode != 0 or not ran:
            raise RuntimeError(f"mariadb-slap failed ({p.returncode}): {(err or out).strip()[:300]}")
        total += int(ran.group(1))
    return total, took, client_cpu


def slap(name, sql_file, concurrency, seconds, slap_cmd, capture_json):
    record = {"name": name, "concurrency": concurrency}
    try:
        captured = json.loads(capture_json)
        record["capture"] = captured
        if not captured.get("statements"):
            raise RuntimeError("no statements were captured")
        # Calibration runs size the measured one. A short run is mostly the start of its 64 processes and their
        # connections, so its rate is too low; each calibration run is sized from the one before until one lasts
        # a quarter of the measured run, then the measured run lasts about SECONDS.
        queries = concurrency * 20
        while True:
            total, took, _ = run_slap(slap_cmd, sql_file, concurrency, queries)
            rate = total / max(took, 0.001)
            if took >= seconds / 4:
                break
            queries = max(queries * 2, int(rate * seconds / 3))
        total, took, client_cpu = run_slap(slap_cmd, sql_file, concurrency, max(queries, int(rate * seconds)))
        record.update({"statements_run": total, "seconds": took, "statements_per_s": total / took if took else None,
                       "client_cpu_us_per_statement": client_cpu * 1e6 / total if total else None})
        per_request = captured["per_request"]
        record["db_rps"] = record["statements_per_s"] / per_request if per_request else None
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        record["skipped"] = f"not measured: {e}"
    print(json.dumps(record))


def sign(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.strip().removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def get_json(conn, path):
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{path} answered {resp.status}")
    return json.loads(body)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


def fresh(name, write_base, read_base, secret, n, spread, timeout, first_limit):
    write, read = urllib.parse.urlsplit(write_base), urllib.parse.urlsplit(read_base)
    run_id = int(time.time())
    setup = http.client.HTTPConnection(read.hostname, read.port, timeout=30)
    changes, seen_ids = [], set()
    for i in range(n):
        # A listing URL of its own per change (the limit differs), so no change shows through another's expiry.
        listing = f"/products?category={CATEGORIES[i % len(CATEGORIES)]}&sort=-created_at&limit={first_limit + i}"
        rows = get_json(setup, listing)["data"]  # caches the listing on the reading instance
        product = next((p for p in rows if p["id"] not in seen_ids), None)
        if product is None:
            continue
        seen_ids.add(product["id"])
        live = get_json(setup, f"/products/{product['id']}")["price_paise"]
        changes.append({"listing": listing, "id": product["id"], "price": live + 100 + i})
    setup.close()
    results, errors = [], []
    lock = threading.Lock()
    started = time.monotonic()

    def one(k, change):
        time.sleep(max(0.0, started + k * spread / max(1, len(changes)) - time.monotonic()))
        body = json.dumps({"type": "product.price_updated", "data": {
            "product_id": change["id"], "price_paise": change["price"],
            "effective_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}).encode()
        msg_id, stamp = f"fresh-{run_id}-{name}-{k}", int(time.time())
        try:
            post = http.client.HTTPConnection(write.hostname, write.port, timeout=30)
            post.request("POST", "/webhooks/partner-b", body=body, headers={
                "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(stamp),
                "webhook-signature": sign(secret, msg_id, stamp, body)})
            resp = post.getresponse()
            answer = resp.read()
            acked = time.monotonic()
            post.close()
            if resp.status != 200 or b"processed" not in answer:
                raise RuntimeError(f"webhook answered {resp.status}: {answer[:120]!r}")
            conn = http.client.HTTPConnection(read.hostname, read.port, timeout=30)
            delays = {}
            while len(delays) < 2 and time.monotonic() - acked < timeout:
                if "product" not in delays and get_json(conn, f"/products/{change['id']}")["price_paise"] == \
                        change["price"]:
                    delays["product"] = time.monotonic() - acked
                if "listing" not in delays and any(p["id"] == change["id"] and p["price_paise"] == change["price"]
                                                   for p in get_json(conn, change["listing"])["data"]):
                    delays["listing"] = time.monotonic() - acked
                time.sleep(0.05)
            conn.close()
            with lock:
                results.append(delays)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=(k, c)) for k, c in enumerate(changes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = {"name": name, "changes": len(changes), "errors": len(errors), "timeout_s": timeout}
    for what in ("product", "listing"):
        values = [r[what] for r in results if what in r]
        record[what] = {"seen": len(values), "p50_s": percentile(values, 0.5), "p99_s": percentile(values, 0.99),
                        "max_s": max(values) if values else None}
    for e in errors[:5]:
        print(f"fresh: {e}", file=sys.stderr)
    if not changes:
        record["skipped"] = "not measured: no product found on the listings"
    print(json.dumps(record))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "capture":
        capture(args[0], args[1], None if args[2].lower() == "all" else int(args[2]), args[3], args[4], args[5], args[6])
    elif cmd == "slap":
        slap(args[0], args[1], int(args[2]), float(args[3]), args[4], args[5])
    elif cmd == "fresh":
        fresh(args[0], args[1], args[2], args[3], int(args[4]), float(args[5]), float(args[6]), int(args[7]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
