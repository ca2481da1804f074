-- wrk script for benchmarks/bench_segments.py: HLS segment requests, cycling through a list of paths.
-- Argument (after --): a file with one request path per line (e.g. /books/1/hls/aac-64k/seg_003.m4s?t=...).
-- Requests are formatted once in init(); each thread starts at its own place in the list, so the
-- connections do not all ask for the same file at the same moment.
local requests = {}
local count = 0
local thread_no = 0

function setup(thread)
  thread:set("thread_no", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then requests[#requests + 1] = wrk.format("GET", line) end
  end
  count = (thread_no or 0) * 3
end

function request()
  count = count + 1
  return requests[count % #requests + 1]
end

function done(summary, latency, _requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "bytes": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.bytes, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
