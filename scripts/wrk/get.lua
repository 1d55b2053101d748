-- Gets by id: GET a random id in 1..NYRO_DOCS, with "?NYRO_QUERY" appended when it is set
-- (e.g. NYRO_QUERY=consistency=local). Without it each request is built exactly as before
-- (no extra concatenation: the load generator shares the cores with the server).
local docs = tonumber(os.getenv("NYRO_DOCS") or "100000")
local path = os.getenv("NYRO_PATH") or "/v1/collections/bench/records/"
local query = os.getenv("NYRO_QUERY")
if query and query ~= "" then
  local suffix = "?" .. query
  request = function()
    return wrk.format("GET", path .. math.random(1, docs) .. suffix)
  end
else
  request = function()
    return wrk.format("GET", path .. math.random(1, docs))
  end
end
