-- Records that users are online on one node, until now + TTL (by the Redis server's clock,
-- so the nodes' clocks never matter).
--
-- KEYS[1..n]  the users' user -> nodes keys (sorted sets: member = node id,
--             score = the entry's expiry in Unix milliseconds)
-- ARGV[1]     node id
-- ARGV[2]     entry TTL in milliseconds
--
-- Each key expires with its latest entry, so a user every node forgot leaves nothing behind.
-- Returns the number of keys written.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expires = string.format('%d', now + ttl)
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, expires, ARGV[1])
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return #KEYS
