-- How long a failed-login counter stays locked, by the server's clock.
--
-- KEYS[1]  the counter: a hash {count, start, until}
--
-- Returns {ms_left, now_ms}, ms_left -1 when the key is not locked; now_ms
-- is the server time of the answer.
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'until'))
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

if locked_until and locked_until > now then
  return {locked_until - now, now}
end
return {-1, now}
