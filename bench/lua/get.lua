-- GET the URL given to wrk (with the bearer TOKEN when set).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
