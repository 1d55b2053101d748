-- Indexed equality queries: POST _query for a random city, 10 documents per page.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local body = string.format('{"where":{"city":"city-%04d"},"limit":10}', math.random(0, 999))
  return wrk.format(nil, nil, nil, body)
end
