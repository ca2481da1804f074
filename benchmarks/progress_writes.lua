-- wrk script for benchmarks/bench_streaming.py: progress writes from many listeners.
-- Arguments (after --): <credentials file> <book id> <base event time ms> <base seq>
-- The credentials file has one "<session cookie> <CSRF token>" line per listener. Each request is
-- the next listener's next report (newer event time, higher seq), so every write is a real,
-- accepted write rather than a duplicate the server can refuse cheaply; a later run on the same
-- database must pass a later base time and a higher base seq. Answers that say the report was
-- not taken ("accepted":false) are counted and reported as "refused".
local creds, book, base, seq0 = {}, 0, 0, 0
local count = 0
refused = 0  -- global: done() reads each thread's count with thread:get("refused")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local cookie, csrf = line:match("^(%S+)%s+(%S+)$")
    if cookie then creds[#creds + 1] = { cookie, csrf } end
  end
  book, base, seq0 = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
end

function response(status, headers, body)
  if status == 200 and not body:find('"accepted":true', 1, true) then
    refused = refused + 1
  end
end

function request()
  local idx = count % #creds
  local round = math.floor(count / #creds) + 1
  count = count + 1
  local cred = creds[idx + 1]
  local body = string.format(
    '{"position_s": %.1f, "event_time_ms": %d, "device_id": "web%d", "seq": %d, "listened_s": 10}',
    (round * 7.0) % 60, base + round * 10000, idx, seq0 + round)
  return wrk.format("PUT", "/api/books/" .. book .. "/progress",
    { ["Content-Type"] = "application/json", ["User-Agent"] = "sachnoi-bench", ["X-CSRFToken"] = cred[2], ["Cookie"] = "session=" .. cred[1] },
    body)
end

function done(summary, latency, requests)
  local not_taken = 0
  for _, thread in ipairs(threads) do
    not_taken = not_taken + thread:get("refused")
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"non_2xx": %d, "socket_errors": %d, "refused": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, not_taken))
end
