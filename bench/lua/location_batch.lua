-- POST /api/v1/drivers/location with {"points":[...500...]} (the app's offline
-- queue), drivers from TOKENS (each wrk thread its own
-- share, round robin); recorded_at goes backwards 1 ms per
-- point from LOC_BASE_MS, so every point is new.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local base = tonumber(os.getenv("LOC_BASE_MS"))
local per = tonumber(os.getenv("LOC_BATCH") or "500")
local tokens, n

function init(args)
  -- this thread's own drivers, round robin: with as many drivers as
  -- connections a driver rarely has two requests in flight, as on the road
  tokens = {}
  for i, t in ipairs(token_list()) do
    if (i - 1) % nthreads == tid then table.insert(tokens, t) end
  end
  n = 0
end

function request()
  local seq = n * nthreads + tid
  n = n + 1
  local parts = {}
  for i = 0, per - 1 do
    local k = seq * per + i
    parts[#parts + 1] = string.format(
      '{"latitude":%.6f,"longitude":%.6f,"accuracy":5.0,"speed":8.5,"heading":120,"recorded_at":"%s"}',
      29.30 + (k % 1000) / 10000, 47.95 + (k % 777) / 10000, rfc3339_ms(base - k))
  end
  return wrk.format("POST", "/api/v1/drivers/location", {
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }, '{"points":[' .. table.concat(parts, ",") .. ']}')
end
