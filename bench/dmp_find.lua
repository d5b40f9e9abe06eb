-- dmp_find.lua - ITI-67: GET /fhir/DocumentReference?patient=...&type=... for random patients of
-- BENCH_SAMPLE (one Patient id per line) and the five document types the loader wrote.
local token = os.getenv("BENCH_TOKEN")
local ids = {}
for line in io.lines(os.getenv("BENCH_SAMPLE")) do ids[#ids + 1] = line end
local types = {"11490-0", "11502-2", "18748-4", "34133-9", "11488-4"}
math.randomseed(os.time() + 11)
local headers = {["Authorization"] = "Bearer " .. token}
request = function()
  local path = "/fhir/DocumentReference?patient=Patient/" .. ids[math.random(1, #ids)] ..
               "&type=http://loinc.org|" .. types[math.random(1, #types)]
  return wrk.format("GET", path, headers)
end
