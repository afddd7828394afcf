-- PATCH /api/v1/orders/{id} {"notes": ...} on a random order among the ids
-- listed in the file ORDER_IDS_FILE (one a line: pending orders, which
-- PATCH may edit): one order change (and, with the outbox, one
-- order.updated event) per request. bench/webhooks.sh part "actions".
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids = {}
for line in io.lines(os.getenv("ORDER_IDS_FILE")) do
  if line ~= "" then table.insert(ids, line) end
end
local n = 0
-- (wrk.format's headers argument would replace wrk.headers, and with them
-- the bearer token common.lua set)
wrk.headers["Content-Type"] = "application/json"

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  n = n + 1
  return wrk.format("PATCH", "/api/v1/orders/" .. ids[math.random(1, #ids)], nil,
    '{"notes":"bench ' .. (tid or 0) .. "-" .. n .. '"}')
end
