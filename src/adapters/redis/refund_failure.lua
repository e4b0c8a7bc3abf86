-- Gives back one reserved failed-login attempt whose password was right:
-- the count goes down by one, never below zero; a lockout stays.
--
-- KEYS[1]  the counter: a hash {count, start, until}
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
if count and count > 0 then
  redis.call('HSET', KEYS[1], 'count', string.format('%d', count - 1))
end
return 0
