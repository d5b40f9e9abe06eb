-- psc.lua - the token endpoint and userinfo of an OpenID Connect provider (socle or the baseline).
-- BENCH_MODE: code (authorization_code exchanges, one minted code each), refresh (refresh_token
-- grants: each thread keeps a pool of valid tokens, takes one per request and puts back the rotated
-- one of the answer) or userinfo. BENCH_DIR holds codes.txt, refresh.txt, access.txt, verifier.txt;
-- BENCH_SLICE codes / refresh tokens are spent per run (run BENCH_RUN takes the BENCH_RUN-th slice); BENCH_BASIC is the
-- client's Basic credentials; BENCH_THREADS wrk's -t.
local mode = os.getenv("BENCH_MODE")
local dir = os.getenv("BENCH_DIR")
local basic = "Basic " .. os.getenv("BENCH_BASIC")
local slice = tonumber(os.getenv("BENCH_SLICE") or "0")
local offset = (tonumber(os.getenv("BENCH_RUN") or "1") - 1) * slice
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local redirect = os.getenv("BENCH_REDIRECT")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local pool, next_code, verifier, access = {}, 1, nil, nil

local function lines(path)
  local t = {}
  for l in io.lines(path) do if #l > 0 then t[#t + 1] = l end end
  return t
end

function init(args)
  verifier = lines(dir .. "/verifier.txt")[1]
  access = lines(dir .. "/access.txt")[1]
  local file = mode == "code" and "codes.txt" or "refresh.txt"
  if mode ~= "userinfo" then
    local all = lines(dir .. "/" .. file)
    for i = offset + 1, math.min(offset + slice, #all) do
      if (i - 1) % nthreads == id then pool[#pool + 1] = all[i] end
    end
  end
end

local function enc(s)
  return (s:gsub("[^%w%-_.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local form = {["Authorization"] = basic, ["Content-Type"] = "application/x-www-form-urlencoded"}

request = function()
  if mode == "userinfo" then
    return wrk.format("GET", "/oidc/userinfo", {["Authorization"] = "Bearer " .. access})
  end
  local token
  if mode == "code" then
    token = pool[next_code] or "spent"
    next_code = next_code + 1
    return wrk.format("POST", "/oidc/token", form, "grant_type=authorization_code&code=" .. enc(token) ..
      "&redirect_uri=" .. enc(redirect) .. "&code_verifier=" .. verifier)
  end
  token = table.remove(pool) or "spent"
  return wrk.format("POST", "/oidc/token", form, "grant_type=refresh_token&refresh_token=" .. enc(token))
end

response = function(status, headers, body)
  if mode == "refresh" and status == 200 then
    local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if t then pool[#pool + 1] = t end
  end
end
