-- Gives up a node's lease at once and removes the node from the index.
--
-- KEYS[1]  the node's lease key
-- KEYS[2]  the node index (set of node ids that took a lease)
-- ARGV[1]  node id
--
-- Returns 1. The node's user entries are left to expire: lookups ignore them from now on and
-- remove them as they meet them.
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
