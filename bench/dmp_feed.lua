-- dmp_feed.lua - ITI-65: POST /fhir with the same provide-document bundle (one 20 KB CDA document,
-- its submission set) again and again; the server gives every document new ids.
local token = os.getenv("BENCH_TOKEN")
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/fhir+json"}
request = function()
  return wrk.format("POST", "/fhir", headers, body)
end
