// Long-polling without sticky sessions: a polling-only official `socket.io-client` talks to
// a two-node cluster through a round-robin proxy, so its requests alternate between the
// nodes. The node that does not hold the session forwards each request to the owner over
// NATS (the Engine.IO session id names the owner). The client must connect, keep one
// session throughout, and exchange messages both ways with a user on the other node.

import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { once } from "node:events";
import { ack, closeAll, confabUnavailableReason, connect, received, register, send } from "../lib/confab.js";
import { startCluster } from "../lib/cluster.js";

const skip = confabUnavailableReason();

/**
 * An HTTP proxy on a free port that sends each request to the next of `targets` in turn
 * (plain round-robin, no affinity), and counts per target the requests that carried a
 * session id.
 */
async function roundRobinProxy(targets) {
  let next = 0;
  const withSid = targets.map(() => 0);
  const server = createServer((req, res) => {
    const index = next++ % targets.length;
    if (new URL(req.url, "http://proxy").searchParams.has("sid")) withSid[index] += 1;
    const target = new URL(targets[index]);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (reply) => {
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${server.address().port}`, withSid, close: () => server.close() };
}

describe("polling through a round-robin load balancer", { skip: skip ?? false }, () => {
  let cluster;
  let proxy;

  before(async () => {
    // A short ping interval makes the client's long-poll GETs return often, so many
    // requests cross the proxy within the test.
    cluster = await startCluster({ nodes: 2, env: { CONFAB_PING_INTERVAL_MS: "1000", CONFAB_PING_TIMEOUT_MS: "2000" } });
    proxy = await roundRobinProxy(cluster.urls);
  });
  after(async () => {
    closeAll();
    proxy?.close();
    await cluster?.stop();
  });

  test("a polling-only client keeps one session while its requests alternate between nodes", async () => {
    const [nodeA, nodeB] = cluster.nodes;
    const [alice, bob] = await Promise.all([register(nodeA, "poller"), register(nodeB, "peer")]);
    const polling = await connect({ url: proxy.url }, alice.token, { transports: ["polling"], upgrade: false });
    let disconnects = 0;
    polling.on("disconnect", () => (disconnects += 1));
    const sessionId = polling.io.engine.id;
    const peer = await connect(nodeB, bob.token);
    // A sync answers once the directory has each of them on their node.
    for (const socket of [polling, peer]) await ack(socket, "sync", { cursors: {}, limit: 1 });

    // Several round trips, each needing POSTs (sends) and GETs (deliveries, acks) that land
    // on both nodes.
    for (let round = 0; round < 4; round++) {
      const out = await send(polling, { user: bob.user.id }, `to bob ${round}`);
      assert.equal(out.ok, true, JSON.stringify(out));
      await received(peer, (m) => m.id === out.message.id, 5000);
      const back = await send(peer, { user: alice.user.id }, `to alice ${round}`);
      assert.equal(back.ok, true, JSON.stringify(back));
      await received(polling, (m) => m.id === back.message.id, 5000);
    }

    assert.equal(polling.io.engine.transport.name, "polling");
    assert.equal(polling.io.engine.id, sessionId, "the Engine.IO session changed");
    assert.equal(disconnects, 0, "the polling client was disconnected");
    assert.ok(
      proxy.withSid.every((count) => count >= 4),
      `requests of the session did not reach both nodes: ${JSON.stringify(proxy.withSid)}`,
    );
  });
});
