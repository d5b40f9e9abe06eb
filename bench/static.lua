-- static.lua - the ceiling: /_bench/static?size=BENCH_SIZE (HTTP layer alone, no auth, no store).
local size = os.getenv("BENCH_SIZE") or "1024"
request = function()
  return wrk.format("GET", "/_bench/static?size=" .. size)
end
