-- POST /api/activities signed in: each request carries the Cognito access token of one of the bench users, read
-- from the file BENCH_TOKENS names (one token per line, fetched once by bin/bench), and no user_handle: the token
-- decides who posts. Counts 202s as post.lua does.
local threads = {}
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if line ~= "" then
    tokens[#tokens + 1] = line
  end
end

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
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
  }
  return wrk.format("POST", "/api/activities", headers, '{"message":"a signed-in benchmark post","ttl":"1-day"}')
end

function response(status, headers, body)
  if status == 202 then
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
