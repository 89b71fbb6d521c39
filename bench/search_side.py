"""English vs Hindi/romanised searches on a running service at 127.0.0.1:18931, one at a time: the 24 terms of
bench/tool.py SEARCH_TERMS and HINDI_TERMS in pairs, sorts price, -created_at and name, limit 20, English first.
Synonym groups make a pair share one match set, so the Hindi request of a pair often finds it loaded: read the
two rows together, not as a race. Run from the repository root."""
import sys, time, http.client, urllib.parse
sys.path.insert(0, "bench")
import tool
conn = http.client.HTTPConnection("127.0.0.1", 18931, timeout=60)
def get(path):
    t = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); b = r.read()
    if r.status != 200: return (time.perf_counter() - t) * 1000, -1
    import json; return (time.perf_counter() - t) * 1000, len(json.loads(b)["data"])
res = {"english": [], "hindi": []}; empty = {"english": 0, "hindi": 0}; errors = {}
for sort in ["price", "-created_at", "name"]:
    for en, hi in zip(tool.SEARCH_TERMS, tool.HINDI_TERMS):
        for name, term in (("english", en), ("hindi", hi)):
            ms, n = get("/products?" + urllib.parse.urlencode([("q", term), ("sort", sort), ("limit", 20)]))
            res[name].append(ms); empty[name] += n == 0; errors[name] = errors.get(name, 0) + (n < 0)
for name, v in res.items():
    v.sort(); pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    print(f"{name}: n={len(v)} p50={pick(.5):.1f} ms p95={pick(.95):.1f} ms max={v[-1]:.1f} ms, empty pages {empty[name]}, errors {errors.get(name, 0)}")
