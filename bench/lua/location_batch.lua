-- POST /api/v1/drivers/location with {"points":[...500...]} (the app's offline
-- queue), drivers from TOKENS (each wrk thread its own
-- share, round robin); recorded_at goes backwards 1 ms per
-- point from LOC_BASE_MS, so every point is new.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local base = tonumber(os.getenv("LOC_BASE_MS"))
local per = tonumber(os.getenv("LOC_BATCH") or "500")
local tokens, n

function init(args)
  tokens = thread_tokens()
  n = 0
end

function request()
  local seq = n * nthreads + tid
  n = n + 1
  local parts = {}
  for i = 0, per - 1 do
    parts[#parts + 1] = location_point(seq * per + i, base)
  end
  return wrk.format("POST", "/api/v1/drivers/location", {
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }, '{"points":[' .. table.concat(parts, ",") .. ']}')
end
