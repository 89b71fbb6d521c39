#!/usr/bin/env python3
"""Helpers of bench/run.sh: walking cursor pages, generating URL sets, and rendering the results table.

  tool.py walk BASE PATH PAGES OUT        follow next_cursor from PATH for PAGES pages; OUT gets one path per
                                           line: the URL of page 2, 3, ..., PAGES+1 (line k = page k+1)
  tool.py misses OUT WALK...              URL set of scenario (b): random filters/sorts/limits + walked cursors
  tool.py search OUT                      URL set of scenario (d): realistic `q` terms across sorts and limits
  tool.py search_hindi OUT                the same for scenario (g): the same produce in Hindi and romanised Hindi
  tool.py facets OUT URLS_B               URL set of scenario (f): every URL of (b) with include=total,facets
  tool.py side BASE N                     N distinct (b)-style listings, each asked plain and with
                                           include=total,facets alternately, one at a time: p50/p95/p99 of each
  tool.py estimates BASE N MYSQL_CMD RESULTS_JSONL   scenario (h): N listing filters of (b)'s mix, each asked
                                           with include=total,facets; every count compared with the true count
                                           from MySQL (MYSQL_CMD runs a query given as its last argument)
  tool.py oha NAME RATE REPORT BEFORE AFTER   results line from an oha JSON report and /metrics before/after
  tool.py loadcpu JSON USER_S SYS_S       a wrk BENCH_JSON payload with wrk's own CPU per request added
  tool.py counted JSON BEFORE AFTER       a wrk BENCH_JSON payload with the cache results the service counted
                                           between two /metrics texts (hit, miss, stale), marked tracked
  tool.py cold BASE RESULTS_JSONL          scenario (d) cold: the first search of each term on a fresh instance
  tool.py deep OUT_FIRST OUT_DEEP WALK N  URL sets of scenario (c): page 1 and page N, each with limits 1..100
  tool.py table RESULTS_JSONL META_JSON   the Markdown report on stdout (bench/report.py; never a crash: a report
                                           that cannot be rendered says so and quotes the raw records); exit
                                           status 1 when a selected row was not measured or the run stopped
  tool.py sizes BASE OFFER N PATH|FILE    bytes of listing pages without and with `Accept-Encoding: OFFER`
  tool.py record NAME JSON RESULTS_JSONL  append one results line (NAME added to the JSON object) in one write
  tool.py cursors BASE N FILE...          ask BASE up to N of the cursor URLs in FILEs (spread evenly); prints
                                           "sampled rejected other": 400 invalid_cursor answers, other non-200
  tool.py compare OUT_MD META_JSON SIDE:ROUND_DIR...   the before/after report of bench/compare.sh: each
                                           ROUND_DIR holds a round's results.jsonl; SIDE is before or after
"""

import http.client
import json
import os
import random
import re
import statistics
import sys
import time
import urllib.parse

import report

SORTS = ["-created_at", "created_at", "price", "-price", "name", "-name"]
# Category slug, weight and price range in rupees, as in src/adapters/sample.rs.
CATEGORIES = [
    ("vegetables", 30, 20, 160),
    ("fruits", 20, 40, 400),
    ("dairy", 15, 30, 900),
    ("grains", 10, 40, 250),
    ("spices", 7, 30, 300),
    ("eggs", 5, 80, 600),
    ("honey", 4, 80, 700),
    ("bakery", 4, 30, 250),
    ("oils", 3, 150, 800),
    ("pickles", 2, 60, 300),
]
# Terms a shopper would type, from the names, villages and descriptions in src/adapters/sample.rs.
SEARCH_TERMS = [
    "tomato", "organic", "honey", "ragi", "fresh mango", "paneer", "ghee", "millet", "cow milk", "jaggery",
    "mango pickle", "brown rice", "turmeric", "coconut oil", "hoskote", "country eggs", "forest honey", "a2 milk",
    "banana", "spinach", "organic tomatoes", "kolar", "curd", "groundnut oil",
]

# The same produce as a shopper types it in Hindi (Devanagari) and romanised Hindi: scenario (g) against (d).
HINDI_TERMS = [
    "टमाटर", "jaivik", "शहद", "रागी", "taaza aam", "पनीर", "घी", "मिलेट", "गाय का दूध", "gud",
    "aam ka achar", "भूरा चावल", "haldi", "nariyal tel", "tamatar", "desi ande", "jangli shahad", "doodh",
    "kela", "palak", "जैविक टमाटर", "pyaaz", "dahi", "मूंगफली तेल",
]


def with_limit(path, limit):
    return re.sub(r"([?&])limit=\d+", r"\g<1>limit=%d" % limit, path)


def walk(base, path, pages, out):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    current = path
    with open(out, "w") as f:
        for page in range(1, pages + 1):
            conn.request("GET", current)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                sys.exit(f"walk: {current} answered {resp.status}: {body[:200]!r}")
            cursor = json.loads(body).get("next_cursor")
            if not cursor:
                sys.exit(f"walk: {path} ended at page {page}, before {pages} pages")
            base_path = re.sub(r"&cursor=[^&]*", "", current)
            current = base_path + "&cursor=" + urllib.parse.quote(cursor, safe="")
            f.write(current + "\n")
    conn.close()


def random_listing(rng):
    params = []
    category = None
    if rng.random() < 0.7:
        category = rng.choices(CATEGORIES, weights=[c[1] for c in CATEGORIES])[0]
        params.append(("category", category[0]))
    low, high = (category[2], category[3]) if category else (20, 900)
    roll = rng.random()
    if roll < 0.25:
        a, b = sorted(rng.randint(low, high) for _ in range(2))
        params += [("min_price", a * 100), ("max_price", max(b, a + 10) * 100)]
    elif roll < 0.35:
        params.append(("min_price", rng.randint(low, (low + high) // 2) * 100))
    elif roll < 0.45:
        params.append(("max_price", rng.randint((low + high) // 2, high) * 100))
    params.append(("sort", rng.choice(SORTS)))
    params.append(("limit", rng.randint(5, 50)))
    return "/products?" + urllib.parse.urlencode(params)


def misses(out, walks):
    rng = random.Random(42)
    urls = set()
    while len(urls) < 60000:
        urls.add(random_listing(rng))
    for walk_file in walks:
        with open(walk_file) as f:
            for line in f:
                urls.add(with_limit(line.strip(), rng.randint(5, 50)))
    urls = sorted(urls)
    rng.shuffle(urls)
    with open(out, "w") as f:
        f.writelines(u + "\n" for u in urls)
    print(len(urls))


def search(out, terms=None):
    """Every term with every sort, limits 5-100, alone, in its likeliest category and under a price cap: enough
    distinct URLs that each is revisited only after its 1 s cached page expired, even at 10,000 req/s."""
    rng = random.Random(7)
    urls = []
    for term in terms or SEARCH_TERMS:
        for sort in SORTS:
            for limit in range(5, 101):
                base = [("q", term), ("sort", sort), ("limit", limit)]
                category = rng.choices(CATEGORIES, weights=[c[1] for c in CATEGORIES])[0]
                for extra in ([], [("category", category[0])], [("max_price", 30000)]):
                    urls.append("/products?" + urllib.parse.urlencode(base + extra))
    rng.shuffle(urls)
    with open(out, "w") as f:
        f.writelines(u + "\n" for u in urls)
    print(len(urls))


def facets(out, urls_b):
    """Scenario (f): the URLs of (b), each asking for totals and facets as well (so each is a miss of its own)."""
    with open(urls_b) as f:
        urls = [line.strip() for line in f if line.strip()]
    with open(out, "w") as f:
        f.writelines(u + "&include=total,facets\n" for u in urls)
    print(len(urls))


def estimates(base, n, mysql_cmd, out_json):
    """Scenario (h): the estimate's error on (b)'s query mix (category, price range) with and without in_stock.
    Every count the service gives (total, each category, each price bucket) is compared with COUNT(*) from
    MySQL; the record holds the median and max ratio (larger / smaller) over the estimated counts, the number of
    counts, how many were estimates, and any count breaking the rule (exact above 10,000, estimate at or below
    10,000 or off by more than 1.5x)."""
    import shlex
    import subprocess
    rng = random.Random(11)
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    truths = {}

    def true_count(where):
        if where not in truths:
            sql = "SELECT COUNT(*) FROM products" + (" WHERE " + " AND ".join(where) if where else "")
            out = subprocess.run(shlex.split(mysql_cmd) + [sql], capture_output=True, text=True, check=True)
            truths[where] = int(out.stdout.strip())
        return truths[where]

    ratios, counts, estimated, broken = [], 0, 0, []
    for _ in range(n):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(random_listing(rng)).query))
        stock = rng.choice([None, "true", "false"])
        where = []
        if "category" in params:
            where.append(f"category = '{params['category']}'")
        if "min_price" in params:
            where.append(f"price_paise >= {int(params['min_price'])}")
        if "max_price" in params:
            where.append(f"price_paise <= {int(params['max_price'])}")
        if stock:
            where.append("stock > 0" if stock == "true" else "stock = 0")
        query = [(k, v) for k, v in params.items() if k in ("category", "min_price", "max_price")]
        if stock:
            query.append(("in_stock", stock))
        conn.request("GET", "/products?" + urllib.parse.urlencode(query + [("limit", 1), ("include", "total,facets")]))
        resp = conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            sys.exit(f"estimates: {query} answered {resp.status}: {body}")
        checks = [(body["total"], tuple(where))]
        others = [w for w in where if not w.startswith("category")]
        for c in body["facets"]["category"]:
            checks.append(({"value": c["count"], "exact": c["exact"]}, tuple(others + [f"category = '{c['value']}'"])))
        unpriced = [w for w in where if not w.startswith("price")]
        for b in body["facets"]["price"]:
            bounds = [f"price_paise >= {b['min']}"] + ([f"price_paise < {b['max']}"] if b["max"] is not None else [])
            checks.append(({"value": b["count"], "exact": b["exact"]}, tuple(unpriced + bounds)))
        for got, where_key in checks:
            truth = true_count(where_key)
            counts += 1
            if got["exact"]:
                if got["value"] != truth or truth > 10000:
                    broken.append((where_key, got, truth))
                continue
            estimated += 1
            ratio = max(got["value"], truth) / max(1, min(got["value"], truth))
            ratios.append(ratio)
            if truth <= 10000 or got["value"] <= 10000 or ratio > 1.5:
                broken.append((where_key, got, truth))
    conn.close()
    for b in broken[:10]:
        print(f"estimates: rule broken: {b}", file=sys.stderr)
    append_record(out_json, {
        "name": "h", "queries": n, "counts": counts, "estimated": estimated, "broken": len(broken),
        "median_ratio": statistics.median(ratios) if ratios else None, "max_ratio": max(ratios) if ratios else None,
    })


def side(base, n):
    """N distinct (b)-style listings (an unknown parameter makes each URL new), each asked plain and with
    include=total,facets, alternating which goes first; prints the latency percentiles of each."""
    rng = random.Random(5)
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def get(path):
        start = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"side: {path} answered {resp.status}")
        return (time.perf_counter() - start) * 1000

    plain, with_facets = [], []
    for i in range(n):
        path = random_listing(rng) + f"&x={i}"
        if i % 2:
            plain.append(get(path))
            with_facets.append(get(path + "&include=total,facets"))
        else:
            with_facets.append(get(path + "&include=total,facets"))
            plain.append(get(path))
    conn.close()
    for name, v in (("plain", plain), ("include=total,facets", with_facets)):
        v.sort()
        pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
        print(f"{name:22s} n={len(v)} p50={pick(0.5):.2f} ms p95={pick(0.95):.2f} ms p99={pick(0.99):.2f} ms")


def cold(base, out_json):
    """The first search of each term on a fresh instance, one at a time, sorted by price (the order in which
    most terms are clustered, so the walk gives up and the match set is read): a results line of latencies."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    times, bad = [], 0
    for term in SEARCH_TERMS:
        path = "/products?" + urllib.parse.urlencode([("q", term), ("sort", "price"), ("limit", 20)])
        start = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        times.append((time.perf_counter() - start) * 1000)
        bad += resp.status != 200
    conn.close()
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    append_record(out_json, {
        "name": "d_cold", "requests": len(times), "seconds": sum(times) / 1000, "rps": None,
        "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": times[-1], "max_ms": times[-1],
        "connect_errors": 0, "read_errors": 0, "write_errors": 0, "timeouts": 0, "non_2xx_3xx": bad,
        "tracked": False,
    })


def deep(out_first, out_deep, walk_file, page):
    with open(walk_file) as f:
        lines = [line.strip() for line in f if line.strip()]
    if len(lines) < page - 1:
        sys.exit(f"deep: the walk has {len(lines)} cursors, page {page} needs {page - 1}")
    deep_path = lines[page - 2]  # line k is the URL of page k+1
    first_path = re.sub(r"&cursor=[^&]*", "", deep_path)
    rng = random.Random(3)
    limits = list(range(1, 101))
    rng.shuffle(limits)
    with open(out_first, "w") as f:
        f.writelines(with_limit(first_path, n) + "\n" for n in limits)
    with open(out_deep, "w") as f:
        f.writelines(with_limit(deep_path, n) + "\n" for n in limits)


def cache_counts(metrics):
    """{result: count} from the farmlokal_cache_requests_total lines of /metrics."""
    counts = {}
    for line in metrics.splitlines():
        m = re.match(r'farmlokal_cache_requests_total\{result="(\w+)"\} (\d+)', line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def cache_delta(before, after):
    """{hit, miss, stale}: what the service counted between two /metrics texts."""
    start, end = cache_counts(before), cache_counts(after)
    return {k: end.get(k, 0) - start.get(k, 0) for k in ("hit", "miss", "stale")}


def oha(name, rate, report_file, before, after):
    """One results line, in the shape bench.lua prints, from oha's JSON report and the cache counters; req/s
    counts answered requests (2xx/3xx) only."""
    with open(report_file) as f:
        report = json.load(f)
    statuses = {int(k): v for k, v in (report.get("statusCodeDistribution") or {}).items()}
    # oha stops at the deadline by aborting requests still in flight: the end of the run, not a failure.
    failures = {k: v for k, v in (report.get("errorDistribution") or {}).items() if "deadline" not in k}
    percentiles = report["latencyPercentiles"]
    ms = lambda v: None if v is None else round(v * 1000, 3)
    delta = cache_delta(before, after)
    print(json.dumps({
        "name": name, "rate": int(rate), "requests": sum(statuses.values()), "seconds": report["summary"]["total"],
        "rps": sum(v for k, v in statuses.items() if 200 <= k < 400) / report["summary"]["total"], "p50_ms": ms(percentiles.get("p50")),
        "p95_ms": ms(percentiles.get("p95")), "p99_ms": ms(percentiles.get("p99")),
        "max_ms": ms(report["summary"].get("slowest")), "connect_errors": sum(failures.values()), "read_errors": 0,
        "write_errors": 0, "timeouts": 0, "non_2xx_3xx": sum(v for k, v in statuses.items() if k >= 400),
        "tracked": True, **delta,
    }))


def counted(text, before, after):
    """A wrk results payload with the cache results the service itself counted meanwhile (/metrics before and
    after): what bench.lua's response hook would tell, without that hook's cost to the load tool."""
    r, _ = json.JSONDecoder().raw_decode(text.strip())
    r.update({"tracked": True, **cache_delta(before, after)})
    print(json.dumps(r))


def loadcpu(text, user_s="", sys_s=""):
    """A wrk results payload with the CPU wrk itself used per request (the load tool's share of the cores)."""
    r, _ = json.JSONDecoder().raw_decode(text.strip())
    try:
        cpu = float(user_s) + float(sys_s)
    except ValueError:
        cpu = None
    r["load_cpu_us_per_request"] = cpu * 1e6 / r["requests"] if cpu is not None and r.get("requests") else None
    print(json.dumps(r))


def append_record(path, record):
    """Appends one results line in a single O_APPEND write, starting a new line first if the file does not end
    with one, so a record can never be glued to the end of another."""
    line = json.dumps(record) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record(name, text, path):
    """The first JSON object of TEXT (a wrk BENCH_JSON payload) with its name, appended to PATH."""
    r, _ = json.JSONDecoder().raw_decode(text.strip())
    r["name"] = name
    append_record(path, r)
    print(json.dumps(r))


def read_results(path):
    """The results of RESULTS_JSONL by name, the rounds of a row merged into one record (merge_rounds)."""
    return merge_rounds(read_records(path))


def merge_rounds(runs):
    """Records named NAME@1, NAME@2, ... (rounds of one row, run in ABBA order beside another row) become one
    record NAME: req/s over all rounds (requests / seconds), latencies the mean of the rounds', counts summed,
    and `rounds` listing each round's req/s."""
    groups, skipped = {}, {}
    for name, r in runs.items():
        base, sep, _ = name.partition("@")
        if sep and "skipped" in r:
            skipped.setdefault(base, {"name": base, "skipped": f"{r['skipped']} (round {name})"})
        elif sep:
            groups.setdefault(base, []).append(r)
    merged = {name: r for name, r in runs.items() if "@" not in name}
    merged.update(skipped)  # a row with a round not measured is not measured: its other rounds alone are not ABBA
    for base, rounds in groups.items():
        if base in skipped:
            continue
        m = dict(rounds[0])
        m["name"] = base
        if "statements_run" in m:  # rounds of a db limit (limits.py slap)
            merged[base] = merge_slap_rounds(m, rounds)
            continue
        m["load_cpu_us_per_request"] = weighted(rounds, "load_cpu_us_per_request", "requests")
        m["requests"] = sum(r["requests"] for r in rounds)
        m["seconds"] = sum(r["seconds"] for r in rounds)
        m["rps"] = m["requests"] / m["seconds"] if m["seconds"] else 0
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            values = [r.get(key) for r in rounds]
            m[key] = None if None in values else statistics.mean(values)
        m["max_ms"] = max((r.get("max_ms") or 0) for r in rounds)
        for key in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx_3xx", "ok", "bad", "hit",
                    "miss", "stale", "coded"):
            if key in m:
                m[key] = sum(r.get(key) or 0 for r in rounds)
        m["rounds"] = [r["rps"] for r in rounds]
        merged[base] = m
    return merged


def weighted(rounds, key, weight):
    """The mean of each round's `key` weighted by its `weight`, or None when a round lacks it."""
    pairs = [(r.get(key), r.get(weight) or 0) for r in rounds]
    total = sum(w for _, w in pairs)
    if not total or any(v is None for v, _ in pairs):
        return None
    return sum(v * w for v, w in pairs) / total


def merge_slap_rounds(m, rounds):
    """Rounds of a db limit as one record: statements/s over all rounds, requests/s from the capture's
    statements per request, the clients' CPU per statement weighted by statements."""
    m["statements_run"] = sum(r["statements_run"] for r in rounds)
    m["seconds"] = sum(r["seconds"] for r in rounds)
    m["statements_per_s"] = m["statements_run"] / m["seconds"] if m["seconds"] else None
    per_request = m.get("capture", {}).get("per_request")
    m["db_rps"] = m["statements_per_s"] / per_request if per_request and m["statements_per_s"] else None
    m["client_cpu_us_per_statement"] = weighted(rounds, "client_cpu_us_per_statement", "statements_run")
    m["rounds"] = [r["statements_per_s"] for r in rounds]
    return m


def read_records(path):
    """Every results object of RESULTS_JSONL by name (the last one wins), read as a stream of JSON objects rather
    than one per line: two records on one line (a writer that did not end its line) parse as two, and text that
    is not a record is reported on stderr and skipped instead of failing the report."""
    with open(path) as f:
        text = f.read()
    decoder = json.JSONDecoder()
    runs, pos = {}, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return runs
        try:
            r, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            resume = text.find("{", pos + 1)
            resume = len(text) if resume < 0 else resume
            print(f"{path}: skipped unreadable text at offset {pos} ({e.msg}): {text[pos:resume][:120]!r}",
                  file=sys.stderr)
            pos = resume
            continue
        if isinstance(r, dict) and "name" in r:
            runs[r["name"]] = r
        else:
            print(f"{path}: skipped a value that is not a results record: {str(r)[:120]}", file=sys.stderr)


def cursors(base, limit, files):
    """Asks BASE up to LIMIT of the walked cursor URLs in FILES, spread evenly over them; prints "sampled rejected
    other" (rejected: 400 with invalid_cursor in the body; other: any other answer but 200)."""
    paths = []
    for name in files:
        with open(name) as f:
            paths += [line.strip() for line in f if "cursor=" in line]
    paths = sorted(set(paths))
    if len(paths) > limit:
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    rejected = other = 0
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 400 and b"invalid_cursor" in body:
            rejected += 1
        elif resp.status != 200:
            other += 1
    conn.close()
    print(len(paths), rejected, other)


# What rows (a-br) and (b-br) and the bytes row send as Accept-Encoding (bench/run.sh passes the same string).
BR_OFFER = "br, gzip"


def sizes(base, offer, limit, target):
    """Bytes of listing pages as sent: TARGET is one path or a file of paths (up to LIMIT of them, spread evenly),
    each fetched without Accept-Encoding and with `Accept-Encoding: OFFER`. Prints one results line: the medians
    of both, the coding that came back, and the requests that did not answer 200 or came back without a coding."""
    if os.path.isfile(target):
        with open(target) as f:
            paths = [line.strip() for line in f if line.strip()]
        if len(paths) > limit:
            step = len(paths) / limit
            paths = [paths[int(i * step)] for i in range(limit)]
        what = f"medians of {len(paths)} (b) URLs"
    else:
        paths = [target]
        what = f"`{target}`"
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    identity, coded, codings, bad = [], [], {}, 0
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        plain = resp.read()
        conn.request("GET", path, headers={"Accept-Encoding": offer})
        resp2 = conn.getresponse()
        body = resp2.read()
        coding = resp2.getheader("Content-Encoding") or "identity"
        if resp.status != 200 or resp2.status != 200 or coding == "identity":
            bad += 1
            continue
        identity.append(len(plain))
        coded.append(len(body))
        codings[coding] = codings.get(coding, 0) + 1
    conn.close()
    mid_identity = int(statistics.median(identity)) if identity else 0
    mid_coded = int(statistics.median(coded)) if coded else 0
    print(json.dumps({
        "identity": mid_identity, "coded": mid_coded, "ratio": mid_identity / mid_coded if mid_coded else None,
        "coding": ",".join(sorted(codings)) or "none", "what": what, "bad": bad,
    }))


def table(results_file, meta_file):
    """The report (bench/report.py). It never crashes: a meta file or a record it cannot read gives a report that
    says so, with the raw records, instead of no report. Exits 1 when a selected row was not measured or the run
    stopped early."""
    try:
        with open(meta_file) as f:
            meta = json.load(f)
        text, status = report.render(read_results(results_file), meta)
        print(text)
    except Exception as e:  # any failure must still produce a report
        print(f"tool.py table: {type(e).__name__}: {e}", file=sys.stderr)
        try:
            with open(results_file) as f:
                raw = f.read()
        except OSError as read_error:
            raw = f"(unreadable: {read_error})"
        print("# FarmLokal benchmark: the table could not be rendered\n")
        print(f"The run's report step failed ({type(e).__name__}: {e}); the raw results follow, as recorded.\n")
        print("```\n" + raw.rstrip() + "\n```")
        status = 1
    sys.exit(status)


# The rows bench/compare.sh compares: (label, results name, metric, unit, digits, True when higher is better).
COMPARE_ROWS = [
    ("(e) ceiling `/health/live`", "e", "rps", "req/s", 0, True),
    ("(a) hot cached listing", "a", "rps", "req/s", 0, True),
    ("(a) as a share of its build's (e)", "a", "share", "%", 1, True),
    ("(a) hot cached listing", "a", "p99_ms", "p99 ms", 2, False),
    ("(b) misses, capacity (wrk)", "b", "rps", "req/s", 0, True),
    ("(b) misses, capacity (wrk)", "b", "miss", "% MISS", 1, None),
    ("(b_rate) misses at a steady rate (oha)", "b_rate", "rps", "req/s", 0, True),
    ("(b_rate) misses at a steady rate (oha)", "b_rate", "p50_ms", "p50 ms", 2, False),
    ("(b_rate) misses at a steady rate (oha)", "b_rate", "p99_ms", "p99 ms", 2, False),
]


def errors_of(r):
    return sum(r.get(k) or 0 for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx_3xx"))


def metric(runs, name, key):
    r = runs.get(name)
    if r is None or "skipped" in r:
        return None
    if key == "share":
        e = runs.get("e")
        return 100.0 * r["rps"] / e["rps"] if e and e.get("rps") else None
    if key == "miss":
        total = sum(r.get(k, 0) for k in ("hit", "miss", "stale"))
        return 100.0 * r["miss"] / total if r.get("tracked") and total else None
    return r.get(key)


def compare(out_md, meta_file, rounds_args):
    with open(meta_file) as f:
        meta = json.load(f)
    rounds = []
    for arg in rounds_args:
        side, directory = arg.split(":", 1)
        results = os.path.join(directory, "results.jsonl")
        rounds.append((side, read_results(results) if os.path.exists(results) else {}))
    sides = ("before", "after")
    per_side = {side: [runs for s, runs in rounds if s == side] for side in sides}

    def fmt_v(v, digits):
        return "-" if v is None else f"{v:,.{digits}f}"

    out = [f"# FarmLokal before/after benchmark, {meta['date']}", ""]
    out.append(f"- Command: `{meta['command']}`")
    out.append(f"- before: {meta['before']}")
    out.append(f"- after: {meta['after']}")
    out.append(f"- Machine: {meta.get('machine', '?')}; MariaDB, Redis, wrk/oha and the service share the CPUs")
    out.append(f"- Data: {meta['products']:,} products; rows (e) (a) (b) of bench/run.sh, wrk -t{meta['threads']} "
               f"-c{meta['connections']} -d{meta['duration']}s after a {meta['warmup']}s warm-up; (b_rate) oha "
               f"-q {meta['b_rate']}; the same seeded data and the same (b) URL set for every round and both "
               f"builds; each round starts its services with fresh Redis prefixes")
    out.append(f"- Rounds, in the order run (ABBA, so a drift of the machine's speed hits both sides alike): "
               + " ".join(f"{i + 1}:{side}" for i, (side, _) in enumerate(rounds)))
    out.append("")
    out.append("How to read: each side's value is the median of its rounds, `min-max` the range of its rounds "
               "(spread = (max - min) / median). after/before is the ratio of the medians. The verdict says "
               "`within noise` when the two ranges overlap (the difference is not larger than what the same "
               "build shows from round to round), otherwise which side is ahead. With 2 rounds a side the range "
               "is only a rough noise estimate: more rounds (COMPARE_ROUNDS) give a firmer one, and an A/A run (the "
               "same binary on both sides) shows how often this machine puts ranges apart on its own.")
    out.append("")
    out.append("| row | metric | before, per round | before median (range, spread) | after, per round | "
               "after median (range, spread) | after/before | verdict |")
    out.append("| --- | --- | --- | --- | --- | --- | ---: | --- |")
    for label, name, key, unit, digits, higher_better in COMPARE_ROWS:
        skipped = {side: next((runs[name]["skipped"] for runs in per_side[side]
                               if "skipped" in runs.get(name, {})), None) for side in sides}
        values = {side: [metric(runs, name, key) for runs in per_side[side]] for side in sides}
        if all(v is None for side in sides for v in values[side]) and not any(skipped.values()):
            continue
        cells, stats = [], {}
        for side in sides:
            vals = [v for v in values[side] if v is not None]
            listed = " · ".join(fmt_v(v, digits) for v in values[side])
            if skipped[side]:
                cells += [listed or "-", skipped[side]]
                continue
            if not vals:
                cells += [listed or "-", "-"]
                continue
            med, lo, hi = statistics.median(vals), min(vals), max(vals)
            stats[side] = (med, lo, hi)
            spread = f"{100 * (hi - lo) / med:.1f}%" if med else "-"
            cells += [listed, f"{fmt_v(med, digits)} ({fmt_v(lo, digits)}-{fmt_v(hi, digits)}, {spread})"]
        if len(stats) == 2 and stats["before"][0]:
            (bm, blo, bhi), (am, alo, ahi) = stats["before"], stats["after"]
            ratio = f"{am / bm:.3f}"
            if alo <= bhi and blo <= ahi:
                verdict = "within noise"
            else:
                higher = am > bm
                verdict = ("after higher" if higher else "after lower") + ", ranges apart"
                if higher_better is not None:
                    verdict += ": better" if higher == higher_better else ": WORSE"
        else:
            ratio, verdict = "-", "not compared"
        out.append(f"| {label} | {unit} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {ratio} | {verdict} |")
    out.append("")
    out.append("Per round, in the order run (a drift of the machine shows here as a trend shared by both sides):")
    out.append("")
    out.append("| round | side | (e) req/s | (a) req/s | (b) req/s | (b_rate) req/s | (b_rate) p50 ms | (b_rate) p99 ms "
               "| errors |")
    out.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, (side, runs) in enumerate(rounds):
        errs = sum(errors_of(r) for r in runs.values() if "skipped" not in r)
        out.append(f"| {i + 1} | {side} | {fmt_v(metric(runs, 'e', 'rps'), 0)} | {fmt_v(metric(runs, 'a', 'rps'), 0)} | "
                   f"{fmt_v(metric(runs, 'b', 'rps'), 0)} | {fmt_v(metric(runs, 'b_rate', 'rps'), 0)} | "
                   f"{fmt_v(metric(runs, 'b_rate', 'p50_ms'), 2)} | {fmt_v(metric(runs, 'b_rate', 'p99_ms'), 2)} | "
                   f"{errs if runs else 'no results'} |")
    out.append("")
    out.append("errors = socket errors (connect, read, write, timeout) + responses other than 2xx/3xx, all rows of "
               "the round; a round with errors measured something else than the service's normal answers.")
    text = "\n".join(out) + "\n"
    with open(out_md + ".tmp", "w") as f:
        f.write(text)
    os.replace(out_md + ".tmp", out_md)
    print(text, end="")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "walk":
        walk(args[0], args[1], int(args[2]), args[3])
    elif cmd == "misses":
        misses(args[0], args[1:])
    elif cmd == "search":
        search(args[0])
    elif cmd == "search_hindi":
        search(args[0], HINDI_TERMS)
    elif cmd == "facets":
        facets(args[0], args[1])
    elif cmd == "side":
        side(args[0], int(args[1]))
    elif cmd == "estimates":
        estimates(args[0], int(args[1]), args[2], args[3])
    elif cmd == "cold":
        cold(args[0], args[1])
    elif cmd == "deep":
        deep(args[0], args[1], args[2], int(args[3]))
    elif cmd == "oha":
        oha(*args)
    elif cmd == "loadcpu":
        loadcpu(*args)
    elif cmd == "counted":
        counted(*args)
    elif cmd == "sizes":
        sizes(args[0], args[1], int(args[2]), args[3])
    elif cmd == "table":
        table(args[0], args[1])
    elif cmd == "record":
        record(args[0], args[1], args[2])
    elif cmd == "cursors":
        cursors(args[0], int(args[1]), args[2:])
    elif cmd == "compare":
        compare(args[0], args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
