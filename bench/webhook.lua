-- wrk script: POST a real Alertmanager 0.25 payload, a new group key and fingerprint each time,
-- so every request is a distinct alert that the receiver must commit (no dedup short-cut).
-- The payload comes from the WEBHOOK_BODY file; "%ID%" in it becomes RUN-THREAD-COUNTER.
local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0
local template

init = function(args)
  local file = assert(io.open(os.getenv("WEBHOOK_BODY"), "r"))
  template = file:read("*a")
  file:close()
end

request = function()
  counter = counter + 1
  local id = string.format("%s-%d-%d", os.getenv("WEBHOOK_RUN") or "run", thread_id, counter)
  local body = template:gsub("%%ID%%", id)
  local headers = {["Content-Type"] = "application/json"}
  local token = os.getenv("WEBHOOK_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", os.getenv("WEBHOOK_PATH") or "/alert/oncall", headers, body)
end
