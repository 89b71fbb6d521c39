#!/usr/bin/env python3
"""Helpers of bench/fleet.sh: the mixed URL set, the fleet's correctness checks, and the report.

  fleet.py mix OUT PRODUCTS                          mixed traffic of bench/run.sh's scenarios: hot listings (a), distinct
                                             listings (b), deep pages by cursor are checked apart (c), searches (d),
                                             plus single products
  fleet.py ratelimit LIMIT CLIENTS BASE...  every client (its own X-Forwarded-For) sends LIMIT + 30 requests,
                                             request k to BASE[k % n]: prints JSON with how many each got admitted
  fleet.py walks LB_BASE SINGLE_BASE        walks listings to the end through the balancer (consecutive pages on
                                             different instances) and on one instance: prints JSON
  fleet.py report RESULTS_JSON META_JSON    the Markdown report on stdout
"""

import http.client
import json
import random
import sys
import threading
import urllib.parse

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import tool  # noqa: E402  (bench/tool.py: the URL generators of bench/run.sh)

HOT = [
    "/products?category=vegetables&sort=price&limit=20",
    "/products?limit=20",
    "/products?category=fruits&sort=-created_at&limit=20",
    "/products?category=dairy&sort=price&limit=20",
    "/categories",
]


def mix(out, products):
    rng = random.Random(11)
    searches = []
    for term in tool.SEARCH_TERMS:
        for sort in tool.SORTS:
            searches.append("/products?" + urllib.parse.urlencode([("q", term), ("sort", sort), ("limit", 20)]))
    urls = []
    for _ in range(60000):
        roll = rng.random()
        if roll < 0.45:
            urls.append(rng.choice(HOT))
        elif roll < 0.80:
            urls.append(tool.random_listing(rng))
        elif roll < 0.90:
            urls.append(rng.choice(searches))
        else:
            urls.append(f"/products/{rng.randint(1, products)}")
    with open(out, "w") as f:
        f.writelines(u + "\n" for u in urls)
    print(len(urls))


def connection(base):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def ratelimit(limit, clients, bases):
    admitted, refused, other = {}, {}, {}

    def client(i):
        ip = f"198.51.100.{i + 1}"
        conns = [connection(b) for b in bases]
        ok = no = odd = 0
        for k in range(limit + 30):
            conn = conns[k % len(conns)]
            conn.request("GET", "/products?limit=1", headers={"X-Forwarded-For": ip})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                ok += 1
            elif resp.status == 429:
                no += 1
            else:
                odd += 1
        admitted[ip], refused[ip], other[ip] = ok, no, odd

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    exact = sum(1 for ip in admitted if admitted[ip] == limit and other[ip] == 0)
    print(json.dumps({"clients": clients, "instances": len(bases), "sent_each": limit + 30, "limit": limit,
                      "exact": exact, "admitted_min": min(admitted.values()), "admitted_max": max(admitted.values()),
                      "other": sum(other.values())}))


WALKS = [
    "/products?category=pickles&sort=price&limit=100",
    "/products?category=honey&sort=-name&limit=100",
    "/products?category=oils&sort=created_at&limit=100",
    "/products?category=eggs&min_price=20000&sort=-price&limit=100",
]


def walk_all(base, path):
    conn = connection(base)
    ids, current, pages = [], path, 0
    while True:
        conn.request("GET", current)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return {"error": f"{current} answered {resp.status}"}
        page = json.loads(body)
        ids += [p["id"] for p in page["data"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            return {"ids": ids, "pages": pages}
        # A new connection per page: nginx then balances every page on its own, round robin.
        conn.close()
        conn = connection(base)
        current = path + "&cursor=" + urllib.parse.quote(cursor, safe="")


def walks(lb, single):
    results = []
    for path in WALKS:
        fleet, one = walk_all(lb, path), walk_all(single, path)
        exact = "error" not in fleet and "error" not in one and fleet["ids"] == one["ids"] \
            and len(set(fleet["ids"])) == len(fleet["ids"])
        results.append({"path": path, "pages": fleet.get("pages"), "products": len(fleet.get("ids", [])),
                        "exact": exact, "error": fleet.get("error") or one.get("error")})
    print(json.dumps(results))


def report(results_file, meta_file):
    results = json.load(open(results_file))
    meta = json.load(open(meta_file))
    print(f"# FarmLokal fleet benchmark, {meta['date']}\n")
    print(f"`{meta['command']}` at {meta['commit']}; {meta['nproc']} cores ({meta['cpu']}), {meta['products']:,} "
          f"products on {meta['mysql_version']}, Redis {meta['redis_version']}, {meta['nginx_version']}. "
          f"Load: wrk, {meta['threads']} threads, {meta['connections']} connections, {meta['duration']} s per row "
          f"after a {meta['warmup']} s warm-up, over {meta['urls']:,} mixed URLs (45% five hot listings, 35% "
          f"random listings, 10% searches, 10% single products), cache TTL 60 s, rate limit off. Everything "
          f"(wrk, nginx, the instances, MariaDB, Redis) shares the same cores, so the fleet cannot be faster: "
          f"the figure is its overhead.\n")
    print("| setup | req/s | p50 ms | p99 ms | non-2xx/3xx | errors | X-Cache HIT |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = results["throughput"]
    for row in rows:
        total = max(row.get("hit", 0) + row.get("miss", 0) + row.get("stale", 0), 1)
        errors = row["connect_errors"] + row["read_errors"] + row["write_errors"] + row["timeouts"]
        print(f"| {row['setup']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['non_2xx_3xx']} | "
              f"{errors} | {100 * row.get('hit', 0) / total:.1f}% |")
    one, fleet = rows[0], rows[-1]
    print(f"\nFleet / one instance: x{fleet['rps'] / one['rps']:.2f} req/s, x{fleet['p99_ms'] / one['p99_ms']:.2f} p99.")
    if len(rows) == 3:
        lb_one = rows[1]
        print(f"nginx alone (nginx -> 1 instance / direct): x{lb_one['rps'] / one['rps']:.2f} req/s; three instances "
              f"behind it / one behind it: x{fleet['rps'] / lb_one['rps']:.2f} req/s.")
    rl = results["ratelimit"]
    print(f"\n**Rate limit across instances**: {rl['clients']} clients (distinct X-Forwarded-For), each sending "
          f"{rl['sent_each']} requests round robin to {rl['instances']} instances (limit {rl['limit']}/min): "
          f"{rl['exact']} of {rl['clients']} admitted exactly {rl['limit']} (min {rl['admitted_min']}, max "
          f"{rl['admitted_max']}), {rl['other']} answers other than 200/429.\n")
    print("**Cursor walks through the balancer** (a new connection per page, so nginx sends consecutive pages to "
          "different instances), compared with the same walk on one instance:\n")
    print("| walk | pages | products | exact |")
    print("| --- | ---: | ---: | --- |")
    for w in results["walks"]:
        verdict = "yes" if w["exact"] else f"NO {w.get('error') or ''}"
        print(f"| `{w['path']}` | {w['pages']} | {w['products']:,} | {verdict} |")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "mix":
        mix(args[0], int(args[1]))
    elif command == "ratelimit":
        ratelimit(int(args[0]), int(args[1]), args[2:])
    elif command == "walks":
        walks(args[0], args[1])
    elif command == "report":
        report(args[0], args[1])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
