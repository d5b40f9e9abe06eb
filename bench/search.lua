-- search.lua - GET /fhir/Patient?identifier=system|IPP of a random bench patient.
local n = tonumber(os.getenv("BENCH_N") or "1000000")
local token = os.getenv("BENCH_TOKEN")
math.randomseed(os.time() + 1)
request = function()
  return wrk.format("GET", string.format(
    "/fhir/Patient?identifier=urn:oid:1.2.250.1.71.4.2.7.99%%7CIPP%09d", math.random(1, n)),
    {["Authorization"] = "Bearer " .. token})
end
