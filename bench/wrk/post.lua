-- POST /api/activities with a valid body for one of the bench users (bench1..bench1000), counting 202s
-- (the Api's answer) and 201s (bench/Cruddur.Bench.DirectInsert's) as accepted.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  accepted = 0
  other = 0
  local seed = tonumber(tostring({}):match("0x(%x+)") or "1", 16) or 1
  math.randomseed(os.time() + seed % 1000003)
end

function request()
  local body = '{"user_handle":"bench' .. math.random(1, 1000) .. '","message":"a benchmark post","ttl":"1-day"}'
  return wrk.format("POST", "/api/activities", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 202 or status == 201 then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  io.write(string.format("accepted=%d\nother=%d\n", a, o))
end
