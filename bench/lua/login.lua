-- POST /api/v1/auth/login with LOGIN_USER / LOGIN_PASSWORD (a valid password:
-- every request pays one argon2id verification).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
wrk.method = "POST"
wrk.path = "/api/v1/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}',
  os.getenv("LOGIN_USER"), os.getenv("LOGIN_PASSWORD"))
