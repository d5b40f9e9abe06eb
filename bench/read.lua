-- read.lua - GET /fhir/Patient/{random id} among bench-0000001..N (N from env BENCH_N).
local n = tonumber(os.getenv("BENCH_N") or "1000000")
local token = os.getenv("BENCH_TOKEN")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/fhir/Patient/bench-%07d", math.random(1, n)),
                    {["Authorization"] = "Bearer " .. token})
end
