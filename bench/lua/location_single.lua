-- POST /api/v1/drivers/location, one point per request, for the drivers whose
-- tokens are in TOKENS (each wrk thread its own share, round robin). recorded_at goes backwards 1 ms per
-- point from LOC_BASE_MS (ms since the epoch, in the past: points more than
-- 5 minutes in the future are rejected), interleaved across wrk threads, so
-- every point is new (no duplicates).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local base = tonumber(os.getenv("LOC_BASE_MS"))
local tokens, n

function init(args)
  tokens = thread_tokens()
  n = 0
end

-- LOC_DELAY_MS: pause between requests on each connection (a background
-- trickle of positions instead of a flood)
local pause = tonumber(os.getenv("LOC_DELAY_MS") or "")
if pause then
  function delay() return pause end
end

function request()
  local seq = n * nthreads + tid
  n = n + 1
  return wrk.format("POST", "/api/v1/drivers/location", {
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }, location_point(seq, base))
end
