-- POST /api/activities signed in: each request carries the Cognito access token of one of the bench users, read
-- from the file BENCH_TOKENS names (one token per line, fetched once by bin/bench), and no user_handle: the token
-- decides who posts. Everything else (counting 202s) is post.lua's; bin/bench runs wrk from the repository's root.
dofile("bench/wrk/post.lua")

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if line ~= "" then
    tokens[#tokens + 1] = line
  end
end

function request()
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
  }
  return wrk.format("POST", "/api/activities", headers, '{"message":"a signed-in benchmark post","ttl":"1-day"}')
end
