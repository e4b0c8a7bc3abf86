-- Counts one failed login, the arithmetic of `core::limits::FailureCounter::record`.
--
-- KEYS[1]  the counter: a hash {count, start, until} (ms of the server's clock)
-- KEYS[2]  optional: the account's index of per-IP counters, a sorted set of
--          IPs scored by when their counter expires
-- ARGV[1]  max failures (at least 1)
-- ARGV[2]  window in ms
-- ARGV[3]  lockout in ms
-- ARGV[4]  the IP, the counter's member in KEYS[2] ('' without KEYS[2])
--
-- Returns {0, 0, now_ms} when no lockout applies, {1, lockout_ms, now_ms} when
-- this failure started one, {2, left_ms, now_ms} when the key was already
-- locked; now_ms is the server time of the decision.
local max = math.max(tonumber(ARGV[1]), 1)
local window = tonumber(ARGV[2])
local lockout = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function int(n)
  -- Lua's own conversion may write a large whole number in exponent form.
  return string.format('%d', n)
end

local state = redis.call('HMGET', KEYS[1], 'count', 'start', 'until')
local count = tonumber(state[1]) or 0
local start = tonumber(state[2]) or 0
local locked_until = tonumber(state[3]) or 0
if locked_until > now then
  return {2, locked_until - now, now}
end
if count == 0 or now - start >= window then
  count = 0
  start = now
end
count = count + 1
local result = {0, 0, now}
if count >= max then
  count = 0
  locked_until = now + lockout
  result = {1, lockout, now}
end

-- The counter carries information until its lockout ends and, while it
-- counts, until its window closes; after that it is deleted or expires.
local keep = math.max(locked_until - now, 0)
if count > 0 then
  keep = math.max(keep, start + window - now)
end
if keep <= 0 then
  redis.call('DEL', KEYS[1])
  if KEYS[2] then
    redis.call('ZREM', KEYS[2], ARGV[4])
  end
  return result
end
redis.call('HSET', KEYS[1], 'count', int(count), 'start', int(start), 'until', int(locked_until))
redis.call('PEXPIRE', KEYS[1], int(keep))
if KEYS[2] then
  -- The index outlives every counter it names, and forgets expired ones.
  redis.call('ZADD', KEYS[2], int(now + keep), ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[2], int(math.max(tonumber(last[2]) - now, 1)))
end
return result
