-- insi.lua - POST /insi/v1/rechercher with the traits of random identities of the reference base.
-- BENCH_SAMPLE names a file of JSON bodies, one per line (written by bench/ins.sh from the CSV).
local token = os.getenv("BENCH_TOKEN")
local bodies = {}
for line in io.lines(os.getenv("BENCH_SAMPLE")) do bodies[#bodies + 1] = line end
math.randomseed(os.time() + 7)
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
request = function()
  return wrk.format("POST", "/insi/v1/rechercher", headers, bodies[math.random(1, #bodies)])
end
