-- Lists the nodes holding a lease, and prunes the index of the ones whose lease lapsed.
--
-- KEYS[1]  the node index (set of node ids that took a lease)
-- ARGV[1]  the lease key prefix: a node's lease key is ARGV[1] .. node id
--
-- The lease keys are not in KEYS because they are only known once the index is read; they
-- share the index's hash tag, so in Redis Cluster they live in the same slot.
--
-- Returns an array of node ids.
local live = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then
    table.insert(live, node)
  else
    redis.call('SREM', KEYS[1], node)
  end
end
return live
