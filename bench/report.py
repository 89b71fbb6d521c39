"""The Markdown report of bench/run.sh (`tool.py table`): ratios to the limits measured in the same run.

Targets are ratios only (issue 15); absolute rates are there for reference, with the machine's CPU model. Each row
is rendered on its own: a record that is missing, skipped or malformed becomes a "not measured: why" row instead of
failing the report, and `render` returns status 1 when any selected row was not measured or the run stopped.
"""

BR_OFFER = "br, gzip"  # the same string as BR_OFFER in bench/run.sh

# BENCH_ONLY word -> the records it produces (rows of a word the run did not select are not expected).
EXPECTED = {
    "e": ["e"], "a": ["a"], "bare": ["bare"], "a-br": ["a_br", "bytes"], "b": ["b"], "b-br": ["b_br", "bytes_b"],
    "c": ["c1", "c2"], "d": ["d", "d_cold"], "f": ["f"], "g": ["g"], "h": ["h"], "seed": ["seed"],
    "fresh": ["fresh_1", "fresh_2"],
}


def fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def errors(r):
    return sum(r.get(k) or 0 for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx_3xx"))


def verdict(ok):
    return "PASS" if ok else "FAIL"


def expected_records(meta):
    only = meta.get("only", "").split()
    names = [n for word in only for n in EXPECTED.get(word, [])]
    if "b" in only and meta.get("rate_rows"):
        names.append("b_rate")
    if "db" in only:
        names += [f"db_{row}" for row in ("b", "c", "d") if row in only]
    return names


def render(runs, meta):
    """(text, status): the report of RUNS (records by name, rounds merged) with META (the run's settings)."""
    skipped = {name: r["skipped"] for name, r in runs.items() if "skipped" in r}
    runs = {name: r for name, r in runs.items() if "skipped" not in r}
    rows, broken = [], []

    def line(label, rps="-", p50="-", p95="-", p99="-", errs="-", cache="-", target="-", result="-"):
        rows.append(f"| {label} | {rps} | {p50} | {p95} | {p99} | {errs} | {cache} | {target} | {result} |")

    def cache(r):
        total = sum(r.get(k) or 0 for k in ("hit", "miss", "stale"))
        return f"{100.0 * r['miss'] / total:.1f}% MISS" if r.get("tracked") and total else "-"

    def row(label, r, target="reference", result="-", p95=False):
        if r.get("rounds"):
            label += "; req/s per round " + " · ".join(fmt(v, 0) for v in r["rounds"])
        line(label, fmt(r["rps"]), fmt(r["p50_ms"], 2), fmt(r["p95_ms"], 2) if p95 else "-", fmt(r["p99_ms"], 2),
             errors(r), cache(r), target, result)

    def ratio(top, bottom, key="rps"):
        return top[key] / bottom[key] if top and bottom and bottom.get(key) else None

    def safe(name, render_row):
        try:
            render_row()
        except Exception as e:  # one malformed record must not cost the others their rows
            broken.append(name)
            line(f"({name}) not measured: its record could not be read ({type(e).__name__}: {e})")

    live, hot, bare, hot_br = runs.get("e"), runs.get("a"), runs.get("bare"), runs.get("a_br")
    miss, steady, miss_br = runs.get("b"), runs.get("b_rate"), runs.get("b_br")
    first, deep, srch = runs.get("c1"), runs.get("c2"), runs.get("d")
    db_b, db_c, db_d = runs.get("db_b"), runs.get("db_c"), runs.get("db_d")

    def e_row():
        row("(e) framework ceiling: `GET /health/live`", live)

    def a_row():
        share = ratio(hot, live)
        of_bare = ratio(hot, bare)
        label = "(a) hot listing, cached" + (f" ({pct(share)} of e)" if share else "")
        if of_bare is None:
            row(label, hot, ">= 85% of bare", "- (no bare row)")
        else:
            row(f"{label}: **{pct(of_bare)} of bare**", hot, ">= 85% of bare", verdict(of_bare >= 0.85 and not errors(hot)))

    def bare_row():
        row(f"limit of (a): bare poem handler, the hot page's exact bytes, same wrk options, ABBA", bare, "limit")

    def a_br_row():
        share = ratio(hot_br, hot)
        if share is None:
            row(f"(a-br) the same hot listing, `Accept-Encoding: {BR_OFFER}`", hot_br, ">= 90% of (a)", "- (no (a) row)")
        else:
            row(f"(a-br) the same hot listing, `Accept-Encoding: {BR_OFFER}` ({pct(share)} of a)", hot_br,
                ">= 90% of (a)", verdict(share >= 0.90 and not errors(hot_br)))

    def bytes_row(sizes):
        ok = sizes["ratio"] is not None and sizes["ratio"] >= 4 and sizes["bad"] == 0
        line(f"bytes per listing page: identity {sizes['identity']:,} vs {sizes['coded']:,} in `{sizes['coding']}` "
             f"({fmt(sizes['ratio'], 2)}x smaller; {sizes['what']})", errs=sizes["bad"], target=">= 4x smaller",
             result=verdict(ok))

    def b_row():
        label = f"(b) {meta['b_urls']:,} distinct listings (misses): capacity, {meta['connections']} conns"
        if miss.get("load_cpu_us_per_request") is not None:
            label += f" (wrk's own CPU: {fmt(miss['load_cpu_us_per_request'], 0)} µs per request)"
        limit = db_b.get("db_rps") if db_b else None
        if limit:
            share = miss["rps"] / limit
            row(f"{label}: **{pct(share)} of MariaDB alone**", miss, ">= 60% of MariaDB",
                verdict(share >= 0.60 and not errors(miss)))
        else:
            row(label, miss, ">= 60% of MariaDB", "- (no db row)")

    def db_row(name, r, what, service):
        c = r["capture"]
        other = sum(c.get("other_commands", {}).values())
        label = (f"limit of {what}: MariaDB alone, {r['concurrency']} mariadb-slap clients spread over the {c['statements']:,} "
                 f"statements {c['requests']:,} requests issued ({fmt(c['per_request'], 2)} per request, "
                 f"{c.get('MISS', 0):,} MISS; {other:,} other commands), {fmt(r['statements_per_s'], 0)} statements/s")
        if r.get("client_cpu_us_per_statement") is not None:
            label += f" (the slap clients' own CPU: {fmt(r['client_cpu_us_per_statement'], 0)} µs per statement)"
        if r.get("rounds"):
            label += "; statements/s per round " + " · ".join(fmt(v, 0) for v in r["rounds"])
        if name == "db_c" and service:
            per_request_ms = 1000 * r["concurrency"] / r["db_rps"] if r["db_rps"] else None
            label += (f" = {fmt(per_request_ms, 2)} ms per request at {r['concurrency']} clients; (c)'s deep page "
                      f"p50 {fmt(service['p50_ms'], 2)} ms is x{fmt(service['p50_ms'] / per_request_ms, 2)} of it"
                      if per_request_ms else "")
        elif service:
            label += f"; the service's {what} is **{pct(service['rps'] / r['db_rps'])}** of it" if r["db_rps"] else ""
        line(label, fmt(r["db_rps"]), target="limit" if name == "db_b" else "figure")

    def b_br_row():
        if miss and miss_br["rps"] and miss["p50_ms"]:
            cost, p50 = miss["rps"] / miss_br["rps"], miss_br["p50_ms"] / miss["p50_ms"]
            coded = f", {100 * miss_br['coded'] / miss_br['ok']:.0f}% of answers coded" if miss_br.get("ok") else ""
            row(f"(b-br) the same misses, `Accept-Encoding: {BR_OFFER}`{coded}: cost per miss x{cost:.2f} of (b) by "
                f"req/s (p50 x{p50:.2f})", miss_br, "<= 1.15x (b)", verdict(cost <= 1.15 and not errors(miss_br)))
        else:
            row(f"(b-br) the same misses, `Accept-Encoding: {BR_OFFER}`", miss_br, "<= 1.15x (b)", "- (no (b) row)")

    def rate_row():
        row(f"(b) the same URLs offered at a steady {steady['rate']:,} req/s (oha -q, latency corrected)", steady,
            "reference", "-", p95=True)

    def c_rows():
        row("(c) page 1 (no cursor), limits 1-100", first)
        r50 = deep["p50_ms"] / first["p50_ms"] if first["p50_ms"] else 0
        r99 = deep["p99_ms"] / first["p99_ms"] if first["p99_ms"] else 0
        row(f"(c) page {meta['deep_page']:,} by cursor; p50 x{r50:.2f}, p99 x{r99:.2f} of page 1", deep,
            "p50 and p99 <= 1.5x page 1", verdict(r50 <= 1.5 and r99 <= 1.5 and not errors(deep)))

    def d_row():
        row(f"(d) `q` search, {meta['d_urls']:,} URLs, {meta['d_connections']} conns", srch, "reference", p95=True)

    # A row compared with another that this run did not measure says so instead of passing or failing.
    def f_row():
        if not miss:
            row("(f) the (b) URLs with `include=total,facets` (misses)", runs["f"], ">= 50% of (b)'s req/s",
                "- (no (b) row)")
            return
        share = ratio(runs["f"], miss)
        row(f"(f) the (b) URLs with `include=total,facets` (misses), {pct(share)} of (b)", runs["f"],
            ">= 50% of (b)'s req/s", verdict(share is not None and share >= 0.5 and not errors(runs["f"])))

    def f_rate_row():
        r = runs["f_rate"]
        if not (steady and steady["p99_ms"]):
            row(f"(f) the same at a steady {r['rate']:,} req/s (oha)", r, "p99 <= 1.5x (b) at the same rate",
                "- (no steady (b) row)", p95=True)
            return
        r99 = r["p99_ms"] / steady["p99_ms"]
        ok = r99 <= 1.5 and r["rps"] >= 0.98 * r["rate"] and not errors(r)
        row(f"(f) the same at a steady {r['rate']:,} req/s (oha); p99 x{r99:.2f} of (b)'s", r,
            "p99 <= 1.5x (b) at the same rate", verdict(ok), p95=True)

    def g_row():
        if not (srch and srch["p95_ms"]):
            row("(g) Hindi and romanised-Hindi `q`, same shapes as (d)", runs["g"], "p95 <= 1.5x (d)",
                "- (no (d) row)", p95=True)
            return
        r95 = runs["g"]["p95_ms"] / srch["p95_ms"]
        row(f"(g) Hindi and romanised-Hindi `q`, same shapes as (d); p95 x{r95:.2f} of (d)", runs["g"],
            "p95 <= 1.5x (d)", verdict(r95 <= 1.5 and not errors(runs["g"])), p95=True)

    def h_row():
        est = runs["h"]
        ok = est["broken"] == 0 and (est["max_ratio"] or 1) <= 1.5
        line(f"(h) estimate error over {est['queries']} queries of (b)'s mix with `include=total,facets`: "
             f"{est['counts']:,} counts, {est['estimated']:,} estimated; median ratio {fmt(est['median_ratio'], 3)}, "
             f"max {fmt(est['max_ratio'], 3)}; {est['broken']} broke the rule", target="every estimate within 1.5x, "
             "never <= 10,000", result=verdict(ok))

    def cold_row():
        r = runs["d_cold"]
        row(f"(d) first search of each of {r['requests']} terms on a fresh instance (database warm), one at a time "
            f"(p99 = max)", r, "reference", p95=True)

    def seed_row():
        s = runs["seed"]
        share = s["limit_s"] / s["seed_s"]
        line(f"seed {s['products']:,} products: `farmlokal seed` {fmt(s['seed_s'])} s vs LOAD DATA + one ALTER "
             f"{fmt(s['limit_s'])} s ({s['rows']:,} rows): **{share:.2f}** of the limit's speed"
             + (" (at the limit)" if share >= 0.9 else ""), target=">= 0.9 (at the limit)", result=verdict(share >= 0.9))

    def fresh_rows(name, instances):
        r = runs[name]
        for what, path in (("product", "`GET /products/{id}`"), ("listing", "a cached listing holding it")):
            d = r[what]
            line(f"freshness, {instances}: webhook 200 to the new price in {path}, {d['seen']} of {r['changes']} "
                 f"seen within {fmt(r['timeout_s'], 0)} s; max {fmt(d['max_s'] and 1000 * d['max_s'], 0)} ms",
                 p50=fmt(d["p50_s"] and 1000 * d["p50_s"], 0), p99=fmt(d["p99_s"] and 1000 * d["p99_s"], 0),
                 errs=r["errors"], target="figure")

    plan = [
        ("e", live, e_row), ("a", hot, a_row), ("bare", bare, bare_row), ("a_br", hot_br, a_br_row),
        ("bytes", runs.get("bytes"), lambda: bytes_row(runs["bytes"])),
        ("bytes_b", runs.get("bytes_b"), lambda: bytes_row(runs["bytes_b"])),
        ("b", miss, b_row), ("db_b", db_b, lambda: db_row("db_b", db_b, "(b)", miss)),
        ("b_br", miss_br, b_br_row), ("b_rate", steady, rate_row),
        ("c2", first and deep, c_rows), ("db_c", db_c, lambda: db_row("db_c", db_c, "(c)", deep)),
        ("d", srch, d_row), ("db_d", db_d, lambda: db_row("db_d", db_d, "(d)", srch)),
        ("f", runs.get("f"), f_row), ("f_rate", runs.get("f_rate"), f_rate_row), ("g", runs.get("g"), g_row),
        ("h", runs.get("h"), h_row), ("d_cold", runs.get("d_cold"), cold_row), ("seed", runs.get("seed"), seed_row),
        ("fresh_1", runs.get("fresh_1"), lambda: fresh_rows("fresh_1", "one instance")),
        ("fresh_2", runs.get("fresh_2"), lambda: fresh_rows("fresh_2", "two instances (webhook to one, reads from "
                                                             "the other)")),
    ]
    for name, present, render_row in plan:
        if present:
            safe(name, render_row)
    missing = []
    for name in expected_records(meta):
        if name in skipped:
            missing.append(name)
            line(f"({name}) {skipped[name]}")
        elif name not in runs:
            missing.append(name)
            line(f"({name}) not measured: no record (the run stopped before this row, or its step failed)")
    missing += [n for n in broken if n not in missing]
    stopped = meta.get("stopped")
    status = 1 if stopped or missing else 0

    out = [f"# FarmLokal benchmark, {meta['date']}", ""]
    if stopped:
        out.append(f"**The run stopped early** ({stopped}): the rows below are what it measured before.")
    if missing:
        out.append(f"**Not measured**: {', '.join(missing)} (see their rows).")
    if stopped or missing:
        out.append("")
    out.append(f"- Command: `{meta['command']}`")
    out.append(f"- Commit: `{meta['commit']}`; release binary built with `{meta['build']}`")
    out.append(f"- Machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['memory']}; {meta['kernel']}")
    out.append(f"- MariaDB {meta['mysql_version']} (innodb_buffer_pool_size {meta['buffer_pool']}); "
               f"Redis {meta['redis_version']}; {meta['wrk_version']}")
    out.append(f"- Data: {meta['products']:,} products in `{meta['database']}`")
    if meta.get("mysql_transport") == "socket":
        out.append("- MariaDB reached over its Unix socket by the service, mariadb-slap and the seeding row's "
                   "LOAD DATA (`BENCH_MYSQL_TRANSPORT=socket`)")
    elif meta.get("mysql_transport") == "tcp":
        out.append("- MariaDB reached over TCP on loopback by the service (`prefer_socket=false`), mariadb-slap and "
                   "the seeding row's LOAD DATA alike")
    out.append(f"- Load: wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}s --timeout 10s --latency "
               f"after a {meta['warmup']}s warm-up, on 127.0.0.1; wrk, the service, MariaDB and Redis share the CPUs")
    out.append("- Targets are ratios to limits measured in this run, side by side; the req/s and latencies are for "
               "reference on this machine and pass or fail nothing")
    out.append("- Service: rate limit off, log level warn; (a) and (e) with the default cache TTL (60 s); (b), (c), "
               "(d) with `FARMLOKAL_CACHE_TTL_SECS=1`, a fresh Redis prefix, and more distinct URLs per wrk thread than "
               "it sends per second, so each URL is revisited only after its page expired; the cache column of (b), (b-br) "
               "and (f) is the service's own count (/metrics before and after), of the other rows wrk's response hook")
    if "db" in meta.get("only", "").split():
        capture = meta.get("capture", "?")
        asked = "every URL of the row" if capture == "all" else f"the first {capture} URLs of the row"
        out.append(f"- db: a capture pass asks {asked} (4 connections, one "
                   "request at a time each) with MariaDB's general log on and keeps the statements (Query, and Execute with its values) of the "
                   "service's own connections; mariadb-slap runs them (text protocol; one process per connection, the "
                   "statements dealt out to them like cards) at the row's concurrency for the row's duration (calibration "
                   "runs size it, so starting 64 clients is a small part of it) with the service stopped; beside (b), in "
                   "ABBA rounds with (b)'s (b, db, db, b). MariaDB's "
                   "req/s = statements/s / statements per request")
    out.append(f"- (c) is paced (-c{meta['c_connections']}, {meta['c_delay_ms']} ms between requests per connection) "
               "to keep every request a miss: it compares latency, not throughput")
    if "fresh" in meta.get("only", "").split():
        out.append(f"- freshness: {meta.get('fresh_changes')} signed price changes spread over "
                   f"{meta.get('fresh_spread')} s, each on a product of its own listing (cached first), polled every "
                   "50 ms; default cache TTL")
    out += ["", "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | cache | target | result |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    out.extend(rows)
    out += ["", "errors = socket errors (connect, read, write, timeout) + responses other than 2xx/3xx."]
    return "\n".join(out), status
