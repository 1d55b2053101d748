-- Gets by id: GET a random id in 1..NYRO_DOCS.
local docs = tonumber(os.getenv("NYRO_DOCS") or "100000")
local path = os.getenv("NYRO_PATH") or "/v1/collections/bench/records/"
request = function()
  return wrk.format("GET", path .. math.random(1, docs))
end
