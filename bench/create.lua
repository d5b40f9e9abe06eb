-- create.lua - POST /fhir/Patient with a small synthetic Patient.
local token = os.getenv("BENCH_TOKEN")
local body = '{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.7.98","value":"NEW"}],'
  .. '"name":[{"family":"BENCH-CREATE","given":["Anne"]}],"gender":"female","birthDate":"1980-04-01"}'
request = function()
  return wrk.format("POST", "/fhir/Patient",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/fhir+json"}, body)
end
