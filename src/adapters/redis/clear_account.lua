-- Forgets every failed-login counter of one account: each per-IP counter
-- its index names, the account-wide counter, and the index itself.
--
-- KEYS[1]  the account's index of per-IP counters (a sorted set of IPs)
-- KEYS[2]  the account-wide counter
-- ARGV[1]  the name of a per-IP counter without its IP
--
-- The per-IP counters share the hash tag of KEYS[1], so they live in its
-- cluster slot; no SCAN or KEYS is needed.
--
-- Returns how many per-IP counters the index named.
local ips = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, ip in ipairs(ips) do
  redis.call('DEL', ARGV[1] .. ip)
end
redis.call('DEL', KEYS[1], KEYS[2])
return #ips
