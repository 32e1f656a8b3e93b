-- Requests for bench/api.py, one endpoint per wrk run:
--   wrk -t2 -c8 -d2s -s bench/wrk.lua http://127.0.0.1:8765 -- <endpoint> <data.lua> <run id>
-- <data.lua> (written by bench/api.py) sets D = {key=, merchant=, users={}, plans={}, plan_users={}, fresh={}}.
-- Every POST carries a fresh Idempotency-Key (run id, thread, counter), so none is a replay.
-- At the end one line "BENCH {json}" gives the counts by status and the latency percentiles.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local counter = 0
local headers, get_headers
local make

local function pick(list)
  return list[math.random(#list)]
end

local function post(path, body)
  counter = counter + 1
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  h["Idempotency-Key"] = run_id .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", path, h, body)
end

local function get(path)
  return wrk.format("GET", path, get_headers)
end

function init(args)
  endpoint, run_id = args[1], args[3]
  dofile(args[2])
  statuses = {}
  math.randomseed(os.time() * 100 + tid)
  get_headers = {["Authorization"] = "Bearer " .. D.key, ["Accept"] = "application/json"}
  headers = {["Authorization"] = "Bearer " .. D.key, ["Accept"] = "application/json",
             ["Content-Type"] = "application/json"}
  local m = D.merchant
  local endpoints = {
    ["floor-a"] = function() return wrk.format("GET", "/") end,
    ["floor-b"] = function() return wrk.format("GET", "/api/v1/bench/floor/") end,
    ["merchant"] = function() return get("/api/v1/merchants/" .. m .. "/") end,
    ["user"] = function() return get("/api/v1/users/" .. pick(D.users) .. "/") end,
    ["users"] = function() return get("/api/v1/users/") end,
    ["plan"] = function() return get("/api/v1/plans/" .. pick(D.plans) .. "/") end,
    ["plans"] = function() return get("/api/v1/plans/?user_id=" .. pick(D.plan_users)) end,
    ["debt"] = function() return get("/api/v1/debt/" .. pick(D.plan_users) .. "/") end,
    ["create-plan"] = function()
      return post("/api/v1/plans/", string.format(
        '{"user_id": "%s", "merchant_id": "%s", "total_amount": "1200.00", "installment_count": 12}',
        pick(D.fresh), m))
    end,
    ["refund"] = function()
      return post("/api/v1/refunds/", string.format(
        '{"plan_id": "%s", "transaction_id": "%s-%d-%d", "amount": "0.01"}', pick(D.plans), run_id, tid, counter + 1))
    end,
    ["repay"] = function()
      return post("/api/v1/debt/" .. pick(D.plan_users) .. "/", '{"amount": "0.01"}')
    end,
  }
  make = endpoints[endpoint]
  if make == nil then error("unknown endpoint " .. tostring(endpoint)) end
end

function request()
  return make()
end

function response(status, _headers, _body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _requests)
  local by_status = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do table.insert(parts, string.format('"%d": %d', status, n)) end
  local pct = {}
  for i = 1, 200 do table.insert(pct, string.format("%d", latency:percentile(i / 2))) end
  io.write(string.format('BENCH {"duration_us": %d, "requests": %d, "socket_errors": %d, "statuses": {%s}, '
    .. '"p50_us": %d, "p99_us": %d, "max_us": %d, "percentiles_us": [%s]}\n',
    summary.duration, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", "), latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(pct, ", ")))
end
