"""The report of a chaos run (bench/chaos.py): per phase requests, 5xx by route, connection errors and latency;
recovery after each restart; the webhook audit against the truth in MariaDB; the rate-limit audit. Writes
bench/results/chaos-YYYY-MM-DD-HHMM.md and chaos-latest.md. A section that fails says so instead of crashing the
report; the verdict line says whether the run passed.
"""

import os
import time
import traceback
from bisect import bisect_left

REDIS_DOWN_PHASES = ("redis killed", "redis frozen (SIGSTOP)")
FALLBACK_AFTER = 2.0


def pct(values, p):
    if not values:
        return "-"
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(len(values) * p))]:.1f}"


def phases_table(data):
    rows = ["| phase | s | requests | 2xx | 429 | 5xx by route | conn errors | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    order = [p for p, _ in data["schedule"]] + ["webhook drain"]
    by_phase = {p: [] for p in order}
    for record in data["records"]:
        by_phase.setdefault(record[2], []).append(record)
    totals = [0, 0, 0, 0, 0]
    for phase in order:
        records = by_phase.get(phase, [])
        seconds = dict(data["schedule"]).get(phase)
        if not records and seconds is None:
            continue
        ok = sum(1 for r in records if 200 <= r[4] < 400)
        limited = sum(1 for r in records if r[4] == 429)
        conn = sum(1 for r in records if r[4] == 0)
        errors = {}
        for r in records:
            if r[4] >= 500:
                errors[r[3]] = errors.get(r[3], 0) + 1
        latencies = [(r[1] - r[0]) * 1000 for r in records if r[4] != 0]
        five = sum(errors.values())
        by_route = ", ".join(f"{route} {n}" for route, n in sorted(errors.items())) or "0"
        shown = f"{seconds:.0f}" if seconds is not None else "-"
        rows.append(f"| {phase} | {shown} | {len(records):,} | {ok:,} | {limited:,} | "
                    f"{five:,}{' (' + by_route + ')' if five else ''} | {conn:,} | {pct(latencies, 0.5)} | "
                    f"{pct(latencies, 0.99)} |")
        for i, n in enumerate([len(records), ok, limited, five, conn]):
            totals[i] += n
    rows.append(f"| **all** | | {totals[0]:,} | {totals[1]:,} | {totals[2]:,} | {totals[3]:,} | {totals[4]:,} | | |")
    return rows, totals


def first_after(records, since, pred):
    for record in records:
        if record[0] >= since and pred(record):
            return record[1] - since
    return None


def fmt(seconds):
    return "never" if seconds is None else f"{seconds:.1f} s"


def recovery_table(data):
    rows = ["| restart | back at | first success after it | readiness not ready or degraded until | last 5xx / "
            "conn error before the next fault |", "| --- | ---: | --- | --- | --- |"]
    records = sorted(data["records"])
    polls = sorted(data["ready_polls"])
    for phase, action, back in data["backs"]:
        if action == "start_mysql":
            what = "first 2xx of a product read (uncached, MariaDB), per instance"
            instances = range(data["instances"])
            firsts = [first_after(records, back, lambda r, i=i: r[3] == "product" and r[5] == i and r[4] == 200)
                      for i in instances]
        elif action == "start_instance":
            what = "first answer from instance 2"
            firsts = [first_after(records, back, lambda r: r[5] == 1 and r[4] != 0)]
        else:
            what = "first 2xx of a cached listing, per instance"
            firsts = [first_after(records, back, lambda r, i=i: r[3] == "listing_cached" and r[5] == i
                                  and r[4] == 200) for i in range(data["instances"])]
        # Until the next fault starts (or 60 s), so a later fault is not counted against this recovery.
        until = min([t for t, what in data["events"] if t > back + 0.5 and what.startswith("fault")] + [back + 60])
        clean = []
        for i in range(data["instances"]):
            # How long after `back` this instance's readiness still said not ready or degraded.
            bad = [t for t, index, status, degraded in polls
                   if index == i and back <= t < until and (status != 200 or degraded)]
            clean.append(max(bad) - back if bad else 0.0)
        errors = [r[1] for r in records if back <= r[0] < until and (r[4] == 0 or r[4] >= 500)]
        last = f"{max(errors) - back:.1f} s after ({len(errors)} in all)" if errors else "none"
        rows.append(f"| {phase} | {back:.1f} s | {what}: {', '.join(fmt(f) for f in firsts)} | "
                    f"{', '.join(f'{c:.1f} s' for c in clean)} | {last} |")
    return rows


def webhook_audit(data):
    expected, truth, answers = data["expected"], data["truth"], data["answers"]
    mismatched = [(p, expected[p], truth.get(p)) for p in expected if truth.get(p) != expected[p]]
    statuses = [s for outcomes in answers.values() for s, _ in outcomes]
    twice = [event for event, outcomes in answers.items() if sum(1 for _, o in outcomes if o == "processed") > 1]
    unacked = [event for event, outcomes in answers.items() if not any(s == 200 for s, _ in outcomes)]
    rejected = sum(1 for s in statuses if 400 <= s < 500 and s != 409)
    rows = [
        f"- Deliveries planned: {data['deliveries']:,} of {data['distinct']:,} distinct webhook ids "
        f"({data['deliveries'] - data['distinct']:,} duplicates) on {len(expected)} products; attempts sent "
        f"{len(statuses):,}: {sum(1 for s in statuses if s == 200):,} answered 200, "
        f"{sum(1 for s in statuses if s >= 500):,} 5xx, {sum(1 for s in statuses if s == 0):,} connection errors, "
        f"{sum(1 for s in statuses if s == 409):,} 409 (retried), {rejected} other 4xx.",
        f"- Ids never acknowledged: {len(unacked) + data['distinct'] - len(answers)}; ids answered `processed` more "
        f"than once: {len(twice)}; `processed_events` rows for the run's ids: {data['processed_rows']:,} "
        f"(distinct ids: {data['distinct']:,}).",
        f"- Products whose stock and price in MariaDB after the run equal what the distinct ids imply: "
        f"{len(expected) - len(mismatched)} of {len(expected)}.",
    ]
    for product, want, got in mismatched[:10]:
        rows.append(f"  - product {product}: expected (stock, price) {want}, found {got}")
    ok = (not mismatched and not twice and not unacked and rejected == 0 and data["webhooks_done"]
          and data["processed_rows"] == data["distinct"])
    return rows, ok


def windows(times, window=60.0):
    """(start, admissions certainly inside [start, start + window)) for every window starting at a request: those
    sent at or after its start and answered before its end (the service admitted each between the two)."""
    times = sorted(times)
    sends = [t[0] for t in times]
    for i, (start, _) in enumerate(times):
        end = bisect_left(sends, start + window)
        yield start, sum(1 for _, r in times[i:end] if r < start + window)


def rate_limit_audit(data):
    limit, n = data["limit"], data["instances"]
    rows = ["| client | requests | admitted | max in a rolling 60 s clear of Redis outages (allowed) | max in one "
            f"overlapping an outage or the {FALLBACK_AFTER:.0f} s after it (allowed) | ok |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    ok_all = True
    clients = {}
    for r in data["records"]:
        if r[3] != "webhook":
            clients.setdefault(r[6], []).append(r)
    normal_max = 0
    for client, records in sorted(clients.items()):
        admitted = [(r[0], r[1]) for r in records if r[4] not in (0, 429)]
        clear, during = 0, 0
        outages = redis_outages(data["schedule"])
        for start, count in windows(admitted):
            # While Redis is unreachable each instance limits on its own: N instances admit up to N x the limit.
            if any(start < end and start + 60 > begin for begin, end in outages):
                during = max(during, count)
            else:
                clear = max(clear, count)
        if client not in data["greedy"]:
            normal_max = max(normal_max, clear, during)
            continue
        ok = clear <= limit and during <= limit * n
        ok_all &= ok
        rows.append(f"| {client} | {len(records):,} | {len(admitted):,} | {clear} ({limit}) | {during} "
                    f"({limit * n}) | {'yes' if ok else '**NO**'} |")
    rows.append(f"\nThe {data['clients']} ordinary clients (about {data['read_rate'] * 60 / data['clients']:.0f} "
                f"requests a minute each) peaked at {normal_max} admitted in a rolling minute.")
    return rows, ok_all


def redis_outages(schedule, after=FALLBACK_AFTER):
    """(start, end) of each phase with Redis unreachable, extended by `after`: an instance keeps failing fast
    (on the per-process limiter) for up to a second after Redis answers again, until its probe succeeds."""
    t, out = 0.0, []
    for phase, seconds in schedule:
        if phase in REDIS_DOWN_PHASES:
            out.append((t, t + seconds + after))
        t += seconds
    return out


def section(out, title, build):
    out.append(f"\n## {title}\n")
    try:
        rows, *rest = build()
        out.extend(rows)
        return rest[0] if rest else True
    except Exception:  # noqa: BLE001 - the report must not crash; a failed section says so.
        out.append("This section failed to compute:\n\n```\n" + traceback.format_exc() + "```")
        return False


def write(results_dir, command, data):
    stamp = time.strftime("%Y-%m-%d-%H%M", time.gmtime())
    out = [f"# Chaos run {stamp} UTC", "", f"Command: `{command}`; binary: {os.environ.get('CHAOS_BINARY_NOTE', '?')}.", "",
           f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end. "
           f"{data['products']:,} products on MariaDB 10.11 (owned by the run), Redis 7 (owned, no persistence), "
           f"{data['instances']} release instances, a fake partner A; reads at {data['read_rate']:.0f}/s from "
           f"{data['clients']} clients, {len(data['greedy']) - 1} clients at 5/s all along (above the limit of "
           f"{data['limit']}/min) and one at 20/s for the minute from the Redis kill on, signed webhooks retried on "
           f"5xx until acknowledged."]
    ok = True
    totals_holder = {}

    def phases():
        rows, totals = phases_table(data)
        totals_holder["t"] = totals
        return rows, True

    ok &= section(out, "Per phase (requests by the phase they were sent in)", phases)
    ok &= section(out, "Recovery after each restart (seconds after the dependency answered again)",
                  lambda: (recovery_table(data), True))
    webhooks_ok = section(out, "Webhook audit (truth read from MariaDB after the run)", lambda: webhook_audit(data))
    limit_ok = section(out, "Rate-limit audit (clients above the limit)", lambda: rate_limit_audit(data))
    out.append("\n## Service logs (RUST_LOG=warn)\n")
    out.extend(f"- {name}: {counts}" for name, counts in data.get("logs", {}).items())
    panics = sum(c.get("panicked", 0) for c in data.get("logs", {}).values())
    ok &= panics == 0
    out.append("\n## Schedule as run\n")
    out.extend(f"- {at:7.1f} s: {what}" for at, what in data["events"])
    verdict = ok and webhooks_ok and limit_ok
    out.insert(4, f"**Verdict: {'PASS' if verdict else 'FAIL'}**: webhooks {'exact' if webhooks_ok else 'NOT exact'}"
               f", rate limit {'within its allowance' if limit_ok else 'EXCEEDED'}"
               f"{'' if ok else ', a section failed'}.\n")
    text = "\n".join(out) + "\n"
    os.makedirs(results_dir, exist_ok=True)
    for name in (f"chaos-{stamp}.md", "chaos-latest.md"):
        with open(os.path.join(results_dir, name), "w") as f:
            f.write(text)
    print(text)
    return verdict


def reaudit(csv_path, scale, greedy, clients=200, read_rate=120.0):
    """The rate-limit audit again, from a run's requests.csv (bench/chaos.sh keeps the last run's):
    python3 bench/chaos_report.py CSV SCALE"""
    import chaos
    records = []
    with open(csv_path) as f:
        next(f)
        for line in f:
            v = line.rstrip("\n").split(",")
            records.append((float(v[0]), float(v[1]), v[2], v[3], int(v[4]), int(v[5]), v[6]))
    data = {"records": records, "limit": chaos.RATE_LIMIT, "instances": 2, "greedy": greedy, "clients": clients,
            "read_rate": read_rate, "schedule": [(p, s * scale) for p, s, _ in chaos.SCHEDULE]}
    print("\n".join(rate_limit_audit(data)[0]))


if __name__ == "__main__":
    import sys
    reaudit(sys.argv[1], float(sys.argv[2]), [f"10.9.0.{i}" for i in range(1, 5)] + ["10.9.1.1"])
