-- wrk script for bench/: the request comes from the environment (so a bearer token never shows
-- in `ps`), and done() prints one JSON line with the counts and a latency quantile grid that
-- bench/lib/stats.mjs merges across rounds.
--
--   BENCH_METHOD (GET|POST), BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_AUTHORIZATION, BENCH_IF_NONE_MATCH

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then wrk.body = body end
local contentType = os.getenv("BENCH_CONTENT_TYPE")
if contentType ~= nil and contentType ~= "" then wrk.headers["Content-Type"] = contentType end
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then wrk.headers["Authorization"] = authorization end
local etag = os.getenv("BENCH_IF_NONE_MATCH")
if etag ~= nil and etag ~= "" then wrk.headers["If-None-Match"] = etag end

-- Quantiles every 0.25 % plus a finer tail: enough to merge rounds into p50/p90/p99/p99.9
-- without shipping every sample (latency(i) is O(range) per call in wrk).
local function grid()
  local ps = {}
  for i = 1, 399 do ps[#ps + 1] = i * 0.25 end
  for _, p in ipairs({ 99.8, 99.85, 99.9, 99.95, 99.99 }) do ps[#ps + 1] = p end
  table.sort(ps)
  return ps
end

function done(summary, latency, requests)
  local ps = grid()
  local q = {}
  for i, p in ipairs(ps) do q[i] = string.format("[%g,%d]", p, latency:percentile(p)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"min_us":%d,"max_us":%d,"quantiles_us":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, table.concat(q, ",")))
end
