-- Single-document inserts: POST one ~100-byte document per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"user-%012d-abcdefghijklmnopqrstuvwxyz","city":"city-%04d","score":%d}',
    counter, counter % 1000, counter % 100000)
  return wrk.format(nil, nil, nil, body)
end
