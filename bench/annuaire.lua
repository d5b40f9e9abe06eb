-- annuaire.lua - directory searches with names of practice and cities of the extract.
-- BENCH_SAMPLE: lines "FAMILY<TAB>CITY" (bench/annuaire.sh); BENCH_KIND: practitioner-name,
-- role-name-city (PractitionerRole?family=&organization.address-city=) or organization-city.
local token = os.getenv("BENCH_TOKEN")
local kind = os.getenv("BENCH_KIND")
local pairs_ = {}
local function enc(s)
  return (s:gsub("[^%w%-_.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
for line in io.lines(os.getenv("BENCH_SAMPLE")) do
  local family, city = line:match("^([^\t]+)\t(.+)$")
  if family then pairs_[#pairs_ + 1] = {enc(family), enc(city)} end
end
math.randomseed(os.time() + 11)
local headers = {["Authorization"] = "Bearer " .. token}
request = function()
  local p = pairs_[math.random(1, #pairs_)]
  local path
  if kind == "practitioner-name" then
    path = "/fhir/Practitioner?name=" .. p[1] .. "&_count=10"
  elseif kind == "role-name-city" then
    path = "/fhir/PractitionerRole?family=" .. p[1] .. "&organization.address-city=" .. p[2] .. "&_count=10"
  else
    path = "/fhir/Organization?address-city=" .. p[2] .. "&_count=10"
  end
  return wrk.format("GET", path, headers)
end
