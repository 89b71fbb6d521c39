-- wrk script shared by every scenario of bench/run.sh. Behaviour comes from the environment:
--   BENCH_URLS      file of request paths, one per line; thread i of BENCH_THREADS sends lines i, i+T, i+2T, ...
--                   round-robin (so no two threads send the same path). Unset: the URL given to wrk, always.
--   BENCH_THREADS   number of wrk threads (must equal -t) when BENCH_URLS is set.
--   BENCH_TRACK=1   count statuses, the X-Cache header and coded answers (Content-Encoding) in a response()
--                   hook (costs wrk some CPU, so the hot scenarios leave it off and rely on wrk's own
--                   non-2xx/3xx counter).
--   BENCH_DELAY_MS  pause of each connection between a response and its next request (pacing).
-- done() prints one line `BENCH_JSON {...}` that bench/run.sh parses.

local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    table.insert(threads, thread)
end

local requests = nil -- each path's request, formatted once in init(): formatting per request costs wrk CPU
local next_request = 1
local track = os.getenv("BENCH_TRACK") == "1"
local urls_file = os.getenv("BENCH_URLS")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")

ok_count, bad_count, hit_count, miss_count, stale_count, coded_count = 0, 0, 0, 0, 0, 0

function init(args)
    if urls_file == nil or urls_file == "" then
        return
    end
    local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
    local index = thread_index or 0
    requests = {}
    local n = 0
    for line in io.lines(urls_file) do
        if line ~= "" then
            if n % stride == index then
                table.insert(requests, wrk.format("GET", line))
            end
            n = n + 1
        end
    end
    assert(#requests > 0, "no paths for thread " .. index .. " in " .. urls_file)
end

if urls_file ~= nil and urls_file ~= "" then
    function request()
        local formatted = requests[next_request]
        next_request = next_request % #requests + 1
        return formatted
    end
end

if track then
    function response(status, headers, body)
        if status >= 200 and status < 400 then
            ok_count = ok_count + 1
        else
            bad_count = bad_count + 1
        end
        local cache = headers["x-cache"] or headers["X-Cache"]
        if cache == "HIT" then
            hit_count = hit_count + 1
        elseif cache == "MISS" then
            miss_count = miss_count + 1
        elseif cache == "STALE" then
            stale_count = stale_count + 1
        end
        if headers["content-encoding"] or headers["Content-Encoding"] then
            coded_count = coded_count + 1
        end
    end
end

if delay_ms ~= nil then
    function delay()
        return delay_ms
    end
end

function done(summary, latency, requests)
    local ok, bad, hit, miss, stale, coded = 0, 0, 0, 0, 0, 0
    for _, thread in ipairs(threads) do
        ok = ok + (thread:get("ok_count") or 0)
        bad = bad + (thread:get("bad_count") or 0)
        hit = hit + (thread:get("hit_count") or 0)
        miss = miss + (thread:get("miss_count") or 0)
        stale = stale + (thread:get("stale_count") or 0)
        coded = coded + (thread:get("coded_count") or 0)
    end
    local e = summary.errors
    local seconds = summary.duration / 1e6
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,' ..
        '"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
        '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"non_2xx_3xx":%d,' ..
        '"tracked":%s,"ok":%d,"bad":%d,"hit":%d,"miss":%d,"stale":%d,"coded":%d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000,
        e.connect, e.read, e.write, e.timeout, e.status,
        tostring(track), ok, bad, hit, miss, stale, coded))
end
