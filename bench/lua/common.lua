-- Shared by every wrk script in bench/lua: thread ids, the bearer token and
-- a machine-readable result line ("RESULT req_s p50_ms p99_ms errors") that
-- bench/lib.sh parses. Load it first with
--   dofile(os.getenv("BENCH_LUA") .. "/common.lua")
-- (in each thread's own Lua state, the globals tid and nthreads)
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
  for _, t in ipairs(threads) do t:set("nthreads", #threads) end
end

-- "Authorization: Bearer $TOKEN" when TOKEN is set
if os.getenv("TOKEN") and os.getenv("TOKEN") ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

-- RFC 3339 UTC with milliseconds for a time in ms since the epoch. Pure
-- arithmetic (days to civil date, H. Hinnant's algorithm): os.date uses
-- gmtime(), whose static buffer wrk's threads would share.
local last_sec, last_sec_text = nil, nil
local floor = math.floor
function rfc3339_ms(ms)
  local sec = floor(ms / 1000)
  if sec ~= last_sec then
    local days = floor(sec / 86400)
    local rem = sec - days * 86400
    local z = days + 719468
    local era = floor(z / 146097)
    local doe = z - era * 146097
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
    local mp = floor((5 * doy + 2) / 153)
    local d = doy - floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    last_sec = sec
    last_sec_text = string.format("%04d-%02d-%02dT%02d:%02d:%02d", y, m, d,
      floor(rem / 3600), floor(rem % 3600 / 60), rem % 60)
  end
  return last_sec_text .. "." .. string.format("%03d", ms - sec * 1000) .. "Z"
end

-- TOKENS="t1 t2 ..." -> list
function token_list()
  local list = {}
  for t in string.gmatch(os.getenv("TOKENS") or "", "%S+") do table.insert(list, t) end
  assert(#list > 0, "TOKENS is empty")
  return list
end

-- This wrk thread's share of TOKENS, round robin: with as many drivers as
-- connections a driver rarely has two requests in flight, as on the road.
-- Call it from init() (tid and nthreads are set by then).
function thread_tokens()
  local mine = {}
  for i, t in ipairs(token_list()) do
    if (i - 1) % nthreads == tid then table.insert(mine, t) end
  end
  return mine
end

-- The k-th GPS point (JSON) of a run: recorded_at goes back 1 ms per point
-- from base_ms, so every point is new.
function location_point(k, base_ms)
  return string.format(
    '{"latitude":%.6f,"longitude":%.6f,"accuracy":5.0,"speed":8.5,"heading":120,"recorded_at":"%s"}',
    29.30 + (k % 1000) / 10000, 47.95 + (k % 777) / 10000, rfc3339_ms(base_ms - k))
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT %.1f %.2f %.2f %d\n", summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
  if errors > 0 then
    io.write(string.format("errors: connect %d read %d write %d status %d timeout %d\n",
      e.connect, e.read, e.write, e.status, e.timeout))
  end
end
