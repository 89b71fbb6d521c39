"""The load of bench/chaos.py: mixed reads from many synthetic clients, a few clients above the rate limit, signed
webhooks from a plan fixed in advance (with duplicates, retried on 5xx like a real partner), and readiness polls.

Every request becomes one record: (sent, received, phase, route, status, instance, client, path or webhook id),
times in seconds since
the run's start; status 0 is a connection error or a timeout. The load generator is its own tiny round robin in
front of the instances: a request refused at connect time is recorded, then tried once on the next instance.
"""

import base64
import hashlib
import heapq
import hmac
import http.client
import json
import random
import threading
import time
from urllib.parse import urlencode

SEARCH_TERMS = ["tomato", "milk", "honey", "rice", "paneer", "ghee", "onion", "mango", "atta", "dal", "tamatar",
                "doodh", "jaggery", "spinach", "curd"]
SORTS = ["-created_at", "created_at", "price", "-price", "name", "-name"]
PINCODES = [str(560001 + i) for i in range(30)]
REQUEST_TIMEOUT = 15.0


class Clock:
    """The run's time, the phase in force, and the records every thread appends to."""

    def __init__(self):
        self.start = time.monotonic()
        self.phase = "start"
        self.records = []
        self.ready_polls = []
        self.stop = threading.Event()

    def now(self):
        return time.monotonic() - self.start


class Connections:
    """One keep-alive connection per instance for one thread."""

    def __init__(self, ports):
        self.ports = ports
        self.conns = [None] * len(ports)

    def request(self, index, method, path, headers, body=None):
        """(status, body bytes, headers); status 0 when the connection failed or timed out."""
        for attempt in range(2):
            conn = self.conns[index]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.ports[index], timeout=REQUEST_TIMEOUT)
                self.conns[index] = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.conns[index] = None
                return response.status, data, response
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                self.conns[index] = None
                # A kept-alive connection the server closed meanwhile: one fresh try, as any client library does.
                stale = isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 0 and stale and not isinstance(error, ConnectionRefusedError):
                    continue
                return 0, b"", error
        return 0, b"", None


class Reader(threading.Thread):
    """Reads at `rate` requests per second, each as one of `clients` (X-Forwarded-For), round robin over instances."""

    def __init__(self, clock, ports, clients, rate, products, categories, seed, active=(0.0, float("inf"))):
        super().__init__(daemon=True)
        self.active = active
        self.clock, self.ports, self.clients, self.rate = clock, ports, clients, rate
        self.products, self.categories = products, categories
        self.random = random.Random(seed)
        self.conns = Connections(ports)
        self.next_instance = seed % len(ports)

    def pick(self):
        r, rnd = self.random.random(), self.random
        if r < 0.30:
            category = self.categories[rnd.randrange(min(4, len(self.categories)))]
            return "listing_cached", "/products?" + urlencode({"category": category, "sort": rnd.choice(SORTS[:3])})
        if r < 0.50:
            low = rnd.randrange(0, 60000)
            query = {"category": rnd.choice(self.categories), "min_price": low,
                     "max_price": low + rnd.randrange(500, 40000), "sort": rnd.choice(SORTS)}
            return "listing_uncached", "/products?" + urlencode(query)
        if r < 0.60:
            query = {"q": rnd.choice(SEARCH_TERMS)}
            if rnd.random() < 0.5:
                query["sort"] = rnd.choice(SORTS)
            return "search", "/products?" + urlencode(query)
        if r < 0.90:
            return "product", f"/products/{rnd.randrange(1, self.products + 1)}"
        return "estimate", "/delivery/estimate?pincode=" + rnd.choice(PINCODES)

    def send(self, route, path, client):
        headers = {"X-Forwarded-For": client, "Accept-Encoding": "br, gzip"}
        for tries in range(2):
            index = self.next_instance
            self.next_instance = (self.next_instance + 1) % len(self.ports)
            phase, sent = self.clock.phase, self.clock.now()
            status, _, _ = self.conns.request(index, "GET", path, headers)
            self.clock.records.append((sent, self.clock.now(), phase, route, status, index, client, path))
            if status != 0:
                return

    def run(self):
        interval = 1.0 / self.rate
        if self.clock.stop.wait(max(0.0, self.active[0] - self.clock.now())):
            return
        due = self.clock.now() + self.random.random() * interval
        while not self.clock.stop.is_set() and self.clock.now() < self.active[1]:
            delay = due - self.clock.now()
            if delay > 0:
                time.sleep(delay)
            # Open loop within reason: a late thread does not burst to catch up more than one second.
            due = max(due + interval, self.clock.now() - 1.0)
            route, path = self.pick()
            self.send(route, path, self.random.choice(self.clients))


def sign(secret_key, event_id, timestamp, body):
    mac = hmac.new(secret_key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Webhooks:
    """Delivers a plan of signed events at their due times; a 5xx, 409 or a failed connection is retried with
    backoff until acknowledged (200), as a partner does. Keeps every answer per event id."""

    def __init__(self, clock, ports, secret, deliveries, threads=6):
        self.clock, self.ports = clock, ports
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.queue = [(due, n, event_id, body, 0) for n, (due, event_id, body) in enumerate(deliveries)]
        heapq.heapify(self.queue)
        self.pending = len(self.queue)
        self.cond = threading.Condition()
        self.answers = {}
        self.counter = len(self.queue)
        self.threads = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(threads)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def done(self):
        with self.cond:
            return self.pending == 0

    def work(self, n):
        conns = Connections(self.ports)
        instance = n % len(self.ports)
        while not self.clock.stop.is_set():
            with self.cond:
                if not self.queue:
                    self.cond.wait(0.2)
                    continue
                due, _, event_id, body, attempt = self.queue[0]
                wait = due - self.clock.now()
                if wait > 0:
                    self.cond.wait(min(wait, 0.2))
                    continue
                heapq.heappop(self.queue)
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", "webhook-id": event_id,
                       "webhook-timestamp": str(timestamp), "webhook-signature": sign(self.key, event_id, timestamp, body)}
            instance = (instance + 1) % len(self.ports)
            phase, sent = self.clock.phase, self.clock.now()
            status, data, _ = conns.request(instance, "POST", "/webhooks/partner-b", headers, body)
            self.clock.records.append((sent, self.clock.now(), phase, "webhook", status, instance, "partner-b",
                                       event_id))
            outcome = None
            if status == 200:
                try:
                    outcome = json.loads(data).get("status")
                except ValueError:
                    outcome = "unreadable"
            with self.cond:
                self.answers.setdefault(event_id, []).append((status, outcome))
                if status == 0 or status == 409 or status >= 500:
                    backoff = min(5.0, 0.25 * 2 ** attempt) * (0.5 + random.random() / 2)
                    self.counter += 1
                    heapq.heappush(self.queue, (self.clock.now() + backoff, self.counter, event_id, body, attempt + 1))
                else:
                    self.pending -= 1
                self.cond.notify_all()


def poll_readiness(clock, ports, interval=0.25):
    """Polls /health/ready on every instance: (sent, instance, status, degraded) into clock.ready_polls."""
    conns = Connections(ports)
    while not clock.stop.is_set():
        for index in range(len(ports)):
            sent = clock.now()
            status, data, _ = conns.request(index, "GET", "/health/ready", {})
            clock.ready_polls.append((sent, index, status, b'"status":"degraded"' in data))
        time.sleep(interval)
