-- GET /api/v1/orders/{id} with a random id in [ORDER_MIN_ID, ORDER_MAX_ID].
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local lo = tonumber(os.getenv("ORDER_MIN_ID") or "1")
local hi = tonumber(os.getenv("ORDER_MAX_ID") or "1000000")

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  return wrk.format("GET", "/api/v1/orders/" .. math.random(lo, hi))
end
