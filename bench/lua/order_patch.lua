-- PATCH /api/v1/orders/{id} {"notes": ...} on a random pending order in
-- [ORDER_MIN_ID, ORDER_MAX_ID]: one order change (and, with the outbox,
-- one order.updated event) per request. bench/webhooks.sh part "actions".
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local lo = tonumber(os.getenv("ORDER_MIN_ID") or "1")
local hi = tonumber(os.getenv("ORDER_MAX_ID") or "1000")
local n = 0

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  n = n + 1
  return wrk.format("PATCH", "/api/v1/orders/" .. math.random(lo, hi),
    {["Content-Type"] = "application/json"},
    '{"notes":"bench ' .. (tid or 0) .. "-" .. n .. '"}')
end
