-- Finds the live nodes users are online on, and removes the entries that are stale: expired
-- (score in the past, by the Redis server's clock) or pointing at a node without a lease.
--
-- KEYS[1..n]  the users' user -> nodes keys (sorted sets: member = node id,
--             score = the entry's expiry in Unix milliseconds)
-- ARGV[1]     the lease key prefix: a node's lease key is ARGV[1] .. node id; empty on a
--             Redis Cluster, where the leases live in another slot: the caller then checks
--             the nodes against the live ones it read in the same round
--
-- The lease keys are not in KEYS because they are only known once the entries are read; on
-- one Redis they share the user keys' hash tag.
--
-- Reads each key once and writes only to remove a stale entry, which is rare: most lookups
-- find only live entries.
--
-- Returns an array parallel to KEYS: for each user, an array of live node ids.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local alive = {}
local result = {}
for i, key in ipairs(KEYS) do
  local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local nodes = {}
  for j = 1, #entries, 2 do
    local node = entries[j]
    local live = tonumber(entries[j + 1]) > now
    if live and ARGV[1] ~= '' then
      if alive[node] == nil then
        alive[node] = redis.call('EXISTS', ARGV[1] .. node) == 1
      end
      live = alive[node]
    end
    if live then
      table.insert(nodes, node)
    else
      redis.call('ZREM', key, node)
    end
  end
  result[i] = nodes
end
return result
