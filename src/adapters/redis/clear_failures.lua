-- Forgets one failed-login counter.
--
-- KEYS[1]  the counter
-- KEYS[2]  optional: the account's index of per-IP counters
-- ARGV[1]  the IP, the counter's member in KEYS[2]
redis.call('DEL', KEYS[1])
if KEYS[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
