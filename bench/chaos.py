"""The chaos run behind bench/chaos.sh: two instances of the service on a MariaDB, a Redis and a fake partner A that
this script owns, mixed traffic from bench/chaos_load.py, and a schedule of faults; then the audit and the report
(bench/chaos_report.py). Everything it starts listens on loopback ports it picked, lives under its work directory
and is stopped by its pid when the run ends, however it ends.

    python3 bench/chaos.py BIN WORK_DIR RESULTS_DIR COMMAND
"""

import getpass
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos_load  # noqa: E402
import chaos_report  # noqa: E402

SCALE = float(os.environ.get("CHAOS_SCALE", "1"))
PRODUCTS = int(os.environ.get("CHAOS_PRODUCTS", "1000000"))
READ_RATE = float(os.environ.get("CHAOS_READ_RATE", "120"))
CLIENTS = int(os.environ.get("CHAOS_CLIENTS", "200"))
GREEDY = int(os.environ.get("CHAOS_GREEDY_CLIENTS", "4"))
GREEDY_RATE = 5.0
BURST_RATE = 20.0
RATE_LIMIT = 100
DATABASE = "farmlokal_chaos"
WEBHOOK_SECRET = "whsec_" + "Y2hhb3MtcnVuLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3"
CURSOR_SECRET = "farmlokal-chaos-cursor-secret-0123456789"
CLIENT_ID, CLIENT_SECRET = "farmlokal-chaos", "chaos-partner-secret"

# (phase, seconds, action at its start); a restart at a phase's start is timed from the moment the dependency
# answers again (see Run.back).
SCHEDULE = [
    ("warm-up", 20, None),
    ("baseline", 30, None),
    ("redis killed", 20, "kill_redis"),
    ("redis restarted", 25, "start_redis"),
    ("mariadb killed", 20, "kill_mysql"),
    ("mariadb restarted", 35, "start_mysql"),
    ("redis frozen (SIGSTOP)", 15, "freeze_redis"),
    ("redis thawed (SIGCONT)", 20, "thaw_redis"),
    ("partner slow (1.5 s)", 25, "partner_slow"),
    ("partner failing (500)", 25, "partner_failing"),
    ("partner rate limiting (429)", 25, "partner_rate_limited"),
    ("partner ok", 20, "partner_ok"),
    ("instance 2 SIGKILL", 15, "kill_instance"),
    ("instance 2 restarted", 25, "start_instance"),
    ("final", 30, None),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Run:
    def __init__(self, binary, work):
        self.bin, self.work = binary, work
        self.procs = {}
        self.mysql_port, self.redis_port, self.partner_port = free_port(), free_port(), free_port()
        self.ports = [free_port(), free_port()]
        self.events = []  # (time, what) for the report
        self.clock = None

    def log(self, what):
        at = self.clock.now() if self.clock else 0.0
        self.events.append((at, what))
        print(f"  [{at:7.1f}s] {what}", flush=True)

    def spawn(self, name, argv, env=None):
        out = open(os.path.join(self.work, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        return self.procs[name]

    def signal(self, name, sig):
        proc = self.procs.get(name)
        if proc and proc.poll() is None:
            os.kill(proc.pid, sig)
            if sig == signal.SIGKILL:
                proc.wait()

    def stop_all(self):
        for name, proc in self.procs.items():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.time() + 20
        for proc in self.procs.values():
            while proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

    def wait_for(self, what, check, seconds=120):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if check():
                return True
            time.sleep(0.05)
        raise RuntimeError(f"{what} did not come up within {seconds} s")

    # --- MariaDB -----------------------------------------------------------------------------------------------
    def sql(self, statement):
        out = subprocess.run(["mariadb", f"--socket={self.work}/mysql.sock", "-uroot", "-N", "-B", "-e", statement],
                             check=True, capture_output=True, text=True)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def mysql_answers(self):
        return subprocess.run(["mariadb", "--protocol=TCP", "-h127.0.0.1", f"-P{self.mysql_port}", "-uroot", "-e",
                               "SELECT 1"], capture_output=True).returncode == 0

    def start_mysql(self):
        self.spawn("mariadb", ["mariadbd", "--no-defaults", f"--user={getpass.getuser()}",
                               f"--datadir={self.work}/mysql", "--bind-address=127.0.0.1", f"--port={self.mysql_port}",
                               f"--socket={self.work}/mysql.sock", f"--pid-file={self.work}/mysql.pid",
                               f"--log-error={self.work}/mysql.err", "--skip-log-bin",
                               "--innodb-buffer-pool-size=512M", "--max-connections=500"])
        self.wait_for("mariadbd", self.mysql_answers, 300)

    def kill_mysql(self):
        self.signal("mariadb", signal.SIGKILL)

    # --- Redis -------------------------------------------------------------------------------------------------
    def redis_answers(self):
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), "PING"], capture_output=True,
                              text=True, timeout=5).stdout.strip() == "PONG"

    def start_redis(self):
        self.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                             "--appendonly", "no", "--dir", self.work])
        self.wait_for("redis", self.redis_answers, 30)

    def kill_redis(self):
        self.signal("redis", signal.SIGKILL)

    def freeze_redis(self):
        self.signal("redis", signal.SIGSTOP)

    def thaw_redis(self):
        self.signal("redis", signal.SIGCONT)
        self.wait_for("redis", self.redis_answers, 30)

    # --- partner A ---------------------------------------------------------------------------------------------
    def partner(self, mode):
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.partner_port}/_chaos/mode?mode={mode}", method="POST"), timeout=5).read()

    def partner_slow(self):
        self.partner("slow")

    def partner_failing(self):
        self.partner("failing")

    def partner_rate_limited(self):
        self.partner("rate_limited")

    def partner_ok(self):
        self.partner("ok")

    # --- the service -------------------------------------------------------------------------------------------
    def service_env(self, index):
        env = dict(os.environ)
        env.update({
            "FARMLOKAL_BIND": f"127.0.0.1:{self.ports[index]}",
            "FARMLOKAL_MYSQL_URL": f"mysql://root@127.0.0.1:{self.mysql_port}/{DATABASE}",
            "FARMLOKAL_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "FARMLOKAL_REDIS_PREFIX": "chaos:",
            "FARMLOKAL_CURSOR_SECRET": CURSOR_SECRET,
            "FARMLOKAL_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "FARMLOKAL_OAUTH_TOKEN_URL": f"http://127.0.0.1:{self.partner_port}/oauth/token",
            "FARMLOKAL_OAUTH_CLIENT_ID": CLIENT_ID,
            "FARMLOKAL_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "FARMLOKAL_PARTNER_A_URL": f"http://127.0.0.1:{self.partner_port}",
            "FARMLOKAL_TRUSTED_PROXIES": "127.0.0.1/32",
            "FARMLOKAL_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "FARMLOKAL_SHUTDOWN_DRAIN_SECS": "0",
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            # A backtrace captured for every error a dead dependency causes would cost the instances CPU.
            "RUST_BACKTRACE": "0",
        })
        return env

    def instance_ready(self, index):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.ports[index]}/health/ready", timeout=2).status == 200
        except OSError:
            return False

    def start_instance(self, index=1):
        self.spawn(f"instance{index + 1}", [self.bin, "serve"], self.service_env(index))
        self.wait_for(f"instance {index + 1}", lambda: self.instance_ready(index), 120)

    def kill_instance(self):
        self.signal("instance2", signal.SIGKILL)

    def prepare_template(self, template):
        """A MariaDB data directory with PRODUCTS seeded products, made once and copied for every run (seeding a
        million products costs a minute or more; a run must start from the same data)."""
        if os.path.isdir(template):
            return
        staging = template + ".partial"
        subprocess.run(["rm", "-rf", staging], check=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--user={getpass.getuser()}",
                        f"--datadir={staging}", "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        os.symlink(staging, f"{self.work}/mysql")
        self.start_mysql()
        self.sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
                 "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;")
        env = self.service_env(0)
        for argv in ([self.bin, "migrate"], [self.bin, "seed", "--products", str(PRODUCTS)]):
            print(f"  {' '.join(argv[1:])}", flush=True)
            subprocess.run(argv, env=env, check=True, stderr=subprocess.DEVNULL)
        self.procs["mariadb"].terminate()
        self.procs["mariadb"].wait()
        os.remove(f"{self.work}/mysql")
        os.rename(staging, template)

    # --- the run -----------------------------------------------------------------------------------------------
    def bring_up(self, template):
        if os.path.exists(f"{self.work}/mysql"):
            raise RuntimeError(f"{self.work}/mysql exists: a run needs a fresh work directory")
        subprocess.run(["cp", "-a", "--reflink=auto", template, f"{self.work}/mysql"], check=True)
        self.start_mysql()
        self.sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
                 "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;")
        self.start_redis()
        self.spawn("partner", [sys.executable, os.path.join(os.path.dirname(__file__), "chaos_partner.py"),
                               str(self.partner_port), CLIENT_ID, CLIENT_SECRET])
        self.wait_for("partner", lambda: port_answers(self.partner_port), 30)
        self.start_instance(0)
        self.start_instance(1)

    def webhook_plan(self, seconds):
        """Events fixed in advance on products with room for their deltas, spread over the run, ~20% delivered
        twice (some at once, some later), and the state each touched product must end in."""
        step = max(1, PRODUCTS // 300)
        rows = self.sql(f"SELECT id, stock, price_paise, price_effective_at FROM {DATABASE}.products "
                        f"WHERE id % {step} = 1 AND stock >= 100 ORDER BY id LIMIT 300")
        base = int(time.time()) - 3600
        rnd = random.Random(13)
        deliveries, expected, n = [], {}, 0
        for product_id, stock, price, effective in rows:
            product_id, stock, price = int(product_id), int(stock), int(price)
            newest = int(effective)
            for k in range(rnd.randrange(3, 9)):
                n += 1
                event_id = f"evt_chaos_{n}"
                if rnd.random() < 0.7:
                    delta = rnd.choice([-5, -3, -2, -1, 1, 2, 3, 5, 8])
                    stock += delta
                    data = {"product_id": product_id, "delta": delta}
                    kind = "product.stock_adjusted"
                else:
                    at = base + n  # unique per event: no ties between price updates
                    new_price = rnd.randrange(1000, 90000)
                    if at >= newest:
                        newest, price = at, new_price
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
                    data = {"product_id": product_id, "price_paise": new_price, "effective_at": stamp}
                    kind = "product.price_updated"
                body = json.dumps({"type": kind, "data": data}, separators=(",", ":")).encode()
                due = rnd.uniform(1, seconds)
                deliveries.append((due, event_id, body))
                if rnd.random() < 0.2:
                    deliveries.append((due if rnd.random() < 0.4 else rnd.uniform(due, seconds + 1), event_id, body))
            expected[product_id] = (stock, price)
        return deliveries, expected

    def run_schedule(self, results_dir, command):
        total = sum(seconds for _, seconds, _ in SCHEDULE) * SCALE
        deliveries, expected = self.webhook_plan(total - 10 * SCALE)
        categories = [c for c in ["vegetables", "fruits", "dairy", "grains", "spices", "bakery", "meat", "beverages"]]
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.ports[0]}/categories", timeout=10).read()
            categories = [c["slug"] for c in json.loads(body)["data"]] or categories
        except (OSError, ValueError, KeyError):
            pass
        self.clock = clock = chaos_load.Clock()
        normal = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(CLIENTS)]
        greedy = [f"10.9.0.{i + 1}" for i in range(GREEDY)]
        threads = [chaos_load.Reader(clock, self.ports, normal, READ_RATE / 16, PRODUCTS, categories, seed)
                   for seed in range(16)]
        threads += [chaos_load.Reader(clock, self.ports, [ip], GREEDY_RATE, PRODUCTS, categories, 100 + i)
                    for i, ip in enumerate(greedy)]
        # A client quiet until Redis is killed, then at 20 requests a second for one minute: the fallback's budget
        # (100 per instance) is all it can get, however Redis comes back.
        killed_at = SCALE * sum(s for _, s, _ in SCHEDULE[:[a for _, _, a in SCHEDULE].index("kill_redis")])
        burst = "10.9.1.1"
        greedy.append(burst)
        threads += [chaos_load.Reader(clock, self.ports, [burst], BURST_RATE / 4, PRODUCTS, categories, 200 + i,
                                      active=(killed_at, killed_at + 60)) for i in range(4)]
        hooks = chaos_load.Webhooks(clock, self.ports, WEBHOOK_SECRET, deliveries)
        poller = threading.Thread(target=chaos_load.poll_readiness, args=(clock, self.ports), daemon=True)
        for thread in threads:
            thread.start()
        hooks.start()
        poller.start()
        backs = []
        for phase, seconds, action in SCHEDULE:
            clock.phase = phase
            self.log(f"phase {phase}")
            ends = clock.now() + seconds * SCALE
            if action:
                if not (action.startswith("start_") or action in ("thaw_redis", "partner_ok")):
                    self.log(f"fault: {action}")
                getattr(self, action)()
                if action.startswith("start_") or action == "thaw_redis":
                    backs.append((phase, action, clock.now()))
                    self.log(f"{action}: answering again")
            time.sleep(max(0.0, ends - clock.now()))
        clock.phase = "webhook drain"
        self.log("schedule over; waiting for every webhook to be acknowledged (at most 120 s)")
        deadline = time.time() + 120
        while not hooks.done() and time.time() < deadline:
            time.sleep(0.2)
        clock.stop.set()
        time.sleep(1)
        truth = {}
        rows = self.sql(f"SELECT id, stock, price_paise FROM {DATABASE}.products WHERE id IN "
                        f"({','.join(str(p) for p in expected)})")
        for product_id, stock, price in rows:
            truth[int(product_id)] = (int(stock), int(price))
        processed = int(self.sql(f"SELECT COUNT(*) FROM {DATABASE}.processed_events "
                                 "WHERE event_id LIKE 'evt\\_chaos\\_%'")[0][0])
        with open(os.path.join(self.work, "requests.csv"), "w") as f:
            f.write("sent,received,phase,route,status,instance,client,path\n")
            f.writelines(",".join(str(v) for v in r) + "\n" for r in clock.records)
        logs = {}
        for name in ("instance1", "instance2"):
            with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
                lines = f.read().splitlines()
            logs[name] = {"lines": len(lines), "ERROR": sum("ERROR" in l for l in lines),
                          "WARN": sum("WARN" in l for l in lines), "panicked": sum("panicked" in l for l in lines)}
        return chaos_report.write(results_dir, command, {
            "logs": logs,
            "records": clock.records, "ready_polls": clock.ready_polls, "events": self.events, "backs": backs,
            "schedule": [(p, s * SCALE) for p, s, _ in SCHEDULE], "expected": expected, "truth": truth,
            "answers": hooks.answers, "deliveries": len(deliveries), "distinct": len({d[1] for d in deliveries}),
            "processed_rows": processed, "webhooks_done": hooks.done(), "greedy": greedy, "limit": RATE_LIMIT,
            "instances": len(self.ports), "products": PRODUCTS, "read_rate": READ_RATE, "clients": CLIENTS,
        })


def main():
    binary, work, template, results_dir, command = sys.argv[1:6]
    run = Run(binary, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok = False
    try:
        run.prepare_template(template)
        run.bring_up(template)
        ok = run.run_schedule(results_dir, command)
    finally:
        run.stop_all()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
