-- Bulk inserts: POST an array of 1,000 ~100-byte documents per request (the same body
-- each time: ids are assigned by the server, so every request inserts 1,000 new documents).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local docs = {}
for i = 1, 1000 do
  docs[i] = string.format(
    '{"name":"user-%012d-abcdefghijklmnopqrstuvwxyz","city":"city-%04d","score":%d}',
    i, i % 1000, i % 100000)
end
wrk.body = "[" .. table.concat(docs, ",") .. "]"
