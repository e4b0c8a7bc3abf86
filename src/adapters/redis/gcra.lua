-- One rate-limit decision by GCRA, the arithmetic of `core::limits::gcra`.
--
-- KEYS[1]  the bucket: a string holding its theoretical arrival time (TAT),
--          in milliseconds of the server's clock
-- ARGV[1]  the emission interval in ms: period / per_period, at least 1
-- ARGV[2]  the capacity in ms: interval * burst
--
-- Returns {allowed (1 or 0), remaining, reset_after_ms, retry_after_ms, now_ms}:
-- the decision, and the server time it was made at.
-- A refused request changes nothing. An allowed one stores the new TAT with
-- an expiry at that TAT: the moment the bucket is full again, when the key
-- carries no information any more.
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - capacity
if now < allow_at then
  return {0, 0, tat - now, allow_at - now, now}
end
-- Numbers go to Redis as integer strings: Lua's own conversion may write a
-- large whole number in exponent form, which PX would reject.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', new_tat - now))
return {1, math.floor((capacity - (new_tat - now)) / interval), new_tat - now, 0, now}
