-- Takes or extends a node's lease, and indexes the node so live nodes can be listed.
--
-- KEYS[1]  the node's lease key (string; exists while the node is alive)
-- KEYS[2]  the node index (set of node ids that took a lease)
-- ARGV[1]  node id
-- ARGV[2]  lease TTL in milliseconds
--
-- Returns 1.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
